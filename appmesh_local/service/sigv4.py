"""Verify AWS Signature Version 4 (header form) against known credentials, with AWS's error codes.

The one verifier of the project: the API's `serve --require-sigv4` (`web.sigv4`, over WSGI) and
the xDS streams Envoy signs (`bridge.xds_auth`: its `aws_request_signing` filter, as App Mesh's
Envoy image signed them with its `aws_iam` gRPC credentials) both come here.

The expected signature is computed by botocore's own signer (`botocore.auth.SigV4Auth`), fed
the request as it arrived: the raw path and query, the headers the client says it signed, the
hash of the body, the client's timestamp and credential scope. So a request verifies exactly
when it would against the signature botocore (and every AWS SDK, which sign alike) computed
for it; signatures are compared in constant time.

Failures carry the code and wording AWS services answer (docs/security.md lists the sources):
MissingAuthenticationTokenException without a signature, IncompleteSignatureException when the
Authorization header or the date lacks a part, UnrecognizedClientException for an unknown key,
and for a wrong, mis-scoped or expired signature the caller's `mismatch` code
(InvalidSignatureException in JSON protocols, SignatureDoesNotMatch in query and XML ones).
Time skew is AWS's five minutes (`Signature expired: ... (... - 5 min.)`).

Some signed headers never reach a gRPC application (`host` is HTTP/2's `:authority`,
`content-type` and `te` are consumed by gRPC): the caller supplies their values, several
candidates for `host` if it cannot know which one the client used.
"""

from __future__ import annotations

import calendar
import hashlib
import hmac
import time
from dataclasses import dataclass
from typing import Mapping, Sequence

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest, HTTPHeaders
from botocore.credentials import Credentials

from .credentials import CredentialStore

ALGORITHM = "AWS4-HMAC-SHA256"
AMZ_DATE = "%Y%m%dT%H%M%SZ"
MAX_SKEW_S = 5 * 60
INVALID_SIGNATURE = "InvalidSignatureException"
MISMATCH = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
)


class SignatureError(Exception):
    """A request whose signature does not hold: AWS's error `code`, HTTP `status` and message."""

    def __init__(self, code: str, message: str, status: int = 403) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


@dataclass(frozen=True)
class Principal:
    """Who signed: the access key, the account it belongs to, and the credential scope."""

    access_key: str
    account: str
    region: str
    service: str


@dataclass(frozen=True)
class Authorization:
    """The parts of an `Authorization: AWS4-HMAC-SHA256 ...` header."""

    access_key: str
    date: str
    region: str
    service: str
    signed_headers: tuple[str, ...]
    signature: str


def parse_authorization(header: str, mismatch: str = INVALID_SIGNATURE) -> Authorization:
    """The header's parts, or SignatureError with AWS's wording for what is missing."""
    scheme, _, rest = header.strip().partition(" ")
    if scheme != ALGORITHM:
        raise SignatureError(
            "IncompleteSignatureException", f"Unsupported Authorization scheme; only {ALGORITHM} is accepted.", 400
        )
    parts: dict[str, str] = {}
    for item in rest.split(","):
        name, _, value = item.strip().partition("=")
        if name:
            parts[name] = value.strip()
    missing = [name for name in ("Credential", "SignedHeaders", "Signature") if not parts.get(name)]
    if missing:
        raise SignatureError(
            "IncompleteSignatureException",
            " ".join(f"Authorization header requires '{name}' parameter." for name in missing),
            400,
        )
    scope = parts["Credential"].split("/")
    if len(scope) != 5 or scope[4] != "aws4_request" or not all(scope):
        raise SignatureError(
            mismatch,
            f"Credential should be scoped to a valid <key>/<date>/<region>/<service>/aws4_request, not {parts['Credential']!r}.",
        )
    return Authorization(
        access_key=scope[0],
        date=scope[1],
        region=scope[2],
        service=scope[3],
        signed_headers=tuple(h for h in parts["SignedHeaders"].lower().split(";") if h),
        signature=parts["Signature"].lower(),
    )


class _ExpectedSigner(SigV4Auth):
    """botocore's SigV4 signer, told which headers the client signed and what the body hashed to."""

    def __init__(
        self, credentials: Credentials, service: str, region: str, signed: HTTPHeaders, payload_hash: str
    ) -> None:
        super().__init__(credentials, service, region)
        self._signed = signed
        self._payload_hash = payload_hash

    def headers_to_sign(self, request: AWSRequest) -> HTTPHeaders:
        return self._signed

    def payload(self, request: AWSRequest) -> str:
        return self._payload_hash


class SigV4Verifier:
    """Checks signatures made with any credential of `credentials`."""

    def __init__(self, credentials: CredentialStore, services: Sequence[str], max_skew_s: float = MAX_SKEW_S) -> None:
        """`services`: the signing names a credential scope may name (the caller may narrow it per request)."""
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
        service: str | None = None,
        mismatch: str = INVALID_SIGNATURE,
        must_sign: Sequence[str] = (),
    ) -> Principal:
        """The signer of this request, or SignatureError.

        `path` and `query` as sent (still percent-encoded); `headers`: lower-case names; `hosts`: the
        values `host` may have had when the request was signed (used when `headers` has none);
        `service`: the one signing name this request must be scoped to (default: any of `services`);
        `mismatch`: the protocol's code for a wrong signature; `must_sign`: headers the signature must cover."""
        header = headers.get("authorization", "")
        if not header:
            raise SignatureError("MissingAuthenticationTokenException", "Missing Authentication Token")
        auth = parse_authorization(header, mismatch)
        secret = self.credentials.secret_for(auth.access_key)
        if secret is None:
            raise SignatureError(
                "UnrecognizedClientException", "The security token included in the request is invalid."
            )
        allowed = (service,) if service is not None else self.services
        if auth.service not in allowed:
            raise SignatureError(mismatch, f"Credential should be scoped to correct service: '{' or '.join(allowed)}'.")
        amz_date = headers.get("x-amz-date", "")
        signed_at = _signed_at(amz_date)
        if auth.date != amz_date[:8]:
            raise SignatureError(
                mismatch,
                f"Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: "
                f"'{auth.date}' != '{amz_date[:8]}', from '{amz_date}'.",
            )
        self._check_clock(amz_date, signed_at, time.time() if now is None else now, mismatch)
        for name in must_sign:
            if name not in auth.signed_headers:
                raise SignatureError(mismatch, f"'{name.title()}' must be a signed header.")
        declared = headers.get("x-amz-content-sha256")
        if payload_hash is not None and declared is not None and declared != payload_hash:
            raise SignatureError(
                mismatch, "The provided 'x-amz-content-sha256' header does not match what was computed."
            )
        payload = payload_hash or declared or hashlib.sha256(b"").hexdigest()
        credentials = Credentials(auth.access_key, secret)
        canonical = string_to_sign = ""
        for host in [headers["host"]] if "host" in headers else list(hosts) or [""]:
            values = {**headers, "host": host}
            signed = HTTPHeaders()
            for name in auth.signed_headers:
                if name not in values:
                    raise SignatureError(mismatch, f"The signed header '{name}' is not in the request. {MISMATCH}")
                signed[name] = values[name]
            request = AWSRequest(method=method, url=f"http://{host}{path}" + (f"?{query}" if query else ""))
            request.context["timestamp"] = amz_date
            signer = _ExpectedSigner(credentials, auth.service, auth.region, signed, payload)
            canonical = signer.canonical_request(request)
            string_to_sign = signer.string_to_sign(request, canonical)
            if hmac.compare_digest(signer.signature(string_to_sign, request), auth.signature):
                return Principal(
                    auth.access_key, self.credentials.account_for(auth.access_key), auth.region, auth.service
                )
        raise SignatureError(
            mismatch,
            f"{MISMATCH}\n\nThe Canonical String for this request should have been\n'{canonical}'\n\n"
            f"The String-to-Sign should have been\n'{string_to_sign}'\n",
        )

    def _check_clock(self, amz_date: str, signed_at: float, now: float, code: str) -> None:
        skew, minutes = self.max_skew_s, int(self.max_skew_s // 60)
        if signed_at < now - skew:
            raise SignatureError(
                code,
                f"Signature expired: {amz_date} is now earlier than {_stamp(now - skew)} ({_stamp(now)} - {minutes} min.)",
            )
        if signed_at > now + skew:
            raise SignatureError(
                code,
                f"Signature not yet current: {amz_date} is still later than {_stamp(now + skew)} "
                f"({_stamp(now)} + {minutes} min.)",
            )


def _signed_at(amz_date: str) -> float:
    if not amz_date:
        raise SignatureError(
            "IncompleteSignatureException",
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.",
            400,
        )
    try:
        return float(calendar.timegm(time.strptime(amz_date, AMZ_DATE)))
    except ValueError:
        raise SignatureError(
            "IncompleteSignatureException", f"Date must be in ISO-8601 'basic format'. Got '{amz_date}'.", 400
        ) from None


def _stamp(at: float) -> str:
    return time.strftime(AMZ_DATE, time.gmtime(at))
