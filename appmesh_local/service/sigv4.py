"""Verify AWS Signature Version 4 (header form) against known credentials, with AWS's error codes.

The canonical request, string to sign and key derivation follow AWS's published algorithm
(https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html): the verifier
rebuilds what the client signed from the headers it named in `SignedHeaders` and compares
signatures in constant time. Time skew is AWS's five minutes, and the messages for an expired
or early signature are the ones AWS services answer (`Signature expired: ... (... - 5 min.)`).

Used for the xDS streams Envoy signs (its `aws_request_signing` filter, as App Mesh's Envoy image
signed them with its `aws_iam` gRPC credentials) and usable for any other signed request.
Some signed headers never reach a gRPC application (`host` is HTTP/2's `:authority`,
`content-type` and `te` are consumed by gRPC): the caller supplies their values, several
candidates for `host` if it cannot know which one the client used.
"""

from __future__ import annotations

import calendar
import hashlib
import hmac
import re
import time
import urllib.parse
from dataclasses import dataclass
from typing import Mapping, Sequence

from .credentials import CredentialStore

ALGORITHM = "AWS4-HMAC-SHA256"
MAX_SKEW_S = 5 * 60
_AUTHORIZATION = re.compile(
    r"^AWS4-HMAC-SHA256\s+Credential=(?P<credential>[^,\s]+)\s*,\s*SignedHeaders=(?P<signed>[^,\s]+)\s*,"
    r"\s*Signature=(?P<signature>[0-9a-fA-F]{64})\s*$"
)
_SPACES = re.compile(r"\s+")


class SignatureError(Exception):
    """A request whose signature does not hold: AWS's error `code`, HTTP `status` and message."""

    def __init__(self, code: str, message: str, status: int = 403) -> None:
        super().__init__(message)
        self.code = code
        self.status = status

    def __str__(self) -> str:
        return f"{self.code}: {self.args[0]}"


@dataclass(frozen=True)
class Principal:
    """Who signed: the access key, the account it belongs to, and the credential scope."""

    access_key: str
    account: str
    region: str
    service: str


class SigV4Verifier:
    """Checks signatures made with any credential of `credentials` for one of `services`."""

    def __init__(self, credentials: CredentialStore, services: Sequence[str], max_skew_s: float = MAX_SKEW_S) -> None:
        self.credentials = credentials
        self.services = tuple(services)
        self.max_skew_s = max_skew_s

    def verify(
        self,
        method: str,
        path: str,
        headers: Mapping[str, str],
        *,
        query: str = "",
        hosts: Sequence[str] = (),
        payload_hash: str | None = None,
        now: float | None = None,
    ) -> Principal:
        """The signer of this request, or SignatureError. `headers`: lower-case names; `hosts`: the
        values `host` may have had when the request was signed (used when `headers` has none)."""
        authorization = headers.get("authorization", "")
        if not authorization:
            raise SignatureError("MissingAuthenticationTokenException", "Missing Authentication Token")
        match = _AUTHORIZATION.match(authorization)
        if match is None:
            raise SignatureError(
                "IncompleteSignatureException",
                f"Authorization header requires 'Credential', 'SignedHeaders' and 'Signature' ({ALGORITHM}).",
                400,
            )
        access_key, date, region, service, terminator = (match["credential"].split("/") + [""] * 5)[:5]
        if terminator != "aws4_request" or not access_key or not re.fullmatch(r"\d{8}", date):
            raise SignatureError("IncompleteSignatureException", f"Credential is malformed: {match['credential']}", 400)
        if service not in self.services:
            raise SignatureError(
                "InvalidSignatureException",
                f"Credential should be scoped to correct service: '{' or '.join(self.services)}'.",
            )
        amz_date = headers.get("x-amz-date", "")
        signed_at = _parse_amz_date(amz_date)
        if signed_at is None or not amz_date.startswith(date):
            raise SignatureError("IncompleteSignatureException", "X-Amz-Date must be set to the signing date", 400)
        _check_skew(amz_date, signed_at, time.time() if now is None else now, self.max_skew_s)
        secret = self.credentials.secret_for(access_key)
        if secret is None:
            raise SignatureError(
                "UnrecognizedClientException", "The security token included in the request is invalid."
            )
        signed = match["signed"].split(";")
        payload = payload_hash or headers.get("x-amz-content-sha256") or hashlib.sha256(b"").hexdigest()
        scope = f"{date}/{region}/{service}/aws4_request"
        key = signing_key(secret, date, region, service)
        for host in [headers["host"]] if "host" in headers else list(hosts) or [""]:
            values = {**headers, "host": host}
            if any(name not in values for name in signed):
                missing = ", ".join(name for name in signed if name not in values)
                raise SignatureError("IncompleteSignatureException", f"Signed headers are missing: {missing}", 400)
            canonical = canonical_request(method, path, query, [(name, values[name]) for name in signed], payload)
            expected = hmac.new(key, string_to_sign(amz_date, scope, canonical).encode(), hashlib.sha256).hexdigest()
            if hmac.compare_digest(expected, match["signature"].lower()):
                return Principal(access_key, self.credentials.account_for(access_key), region, service)
        raise SignatureError(
            "InvalidSignatureException",
            "The request signature we calculated does not match the signature you provided. "
            "Check your AWS Secret Access Key and signing method. Consult the service documentation for details.",
        )


def canonical_request(method: str, path: str, query: str, headers: Sequence[tuple[str, str]], payload: str) -> str:
    """AWS's canonical request. `path` is as sent (already URI-encoded once); services other than S3
    sign it encoded once more, as botocore and Envoy's signer do."""
    encoded_path = "/".join(urllib.parse.quote(segment, safe="-_.~") for segment in path.split("/"))
    pairs = sorted(
        (_encode(urllib.parse.unquote(key)), _encode(urllib.parse.unquote(value)))
        for key, _, value in (part.partition("=") for part in query.split("&") if part)
    )  # each name and value encoded as the spec says, then sorted by the encoded forms
    canonical_query = "&".join(f"{key}={value}" for key, value in pairs)
    canonical_headers = "".join(f"{name}:{_SPACES.sub(' ', value.strip())}\n" for name, value in headers)
    signed = ";".join(name for name, _ in headers)
    return f"{method}\n{encoded_path or '/'}\n{canonical_query}\n{canonical_headers}\n{signed}\n{payload}"


def _encode(text: str) -> str:
    return urllib.parse.quote(text, safe="-_.~")


def string_to_sign(amz_date: str, scope: str, canonical: str) -> str:
    return f"{ALGORITHM}\n{amz_date}\n{scope}\n{hashlib.sha256(canonical.encode()).hexdigest()}"


def signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    key = f"AWS4{secret}".encode()
    for part in (date, region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


def _parse_amz_date(text: str) -> float | None:
    try:
        return float(calendar.timegm(time.strptime(text, "%Y%m%dT%H%M%SZ")))
    except ValueError:
        return None


def _check_skew(amz_date: str, signed_at: float, now: float, max_skew_s: float) -> None:
    minutes = int(max_skew_s // 60)
    if signed_at < now - max_skew_s:
        raise SignatureError(
            "InvalidSignatureException",
            f"Signature expired: {amz_date} is now earlier than {_stamp(now - max_skew_s)} ({_stamp(now)} - {minutes} min.)",
        )
    if signed_at > now + max_skew_s:
        raise SignatureError(
            "InvalidSignatureException",
            f"Signature not yet current: {amz_date} is still later than {_stamp(now + max_skew_s)} "
            f"({_stamp(now)} + {minutes} min.)",
        )


def _stamp(at: float) -> str:
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(at))
