"""`serve --require-sigv4`: every request must carry a valid AWS Signature Version 4 from a configured key.

The expected signature is computed by botocore's own signer (`botocore.auth.SigV4Auth`),
fed the request exactly as it arrived: the raw request target, the headers the client
says it signed, the hash of the body, the client's timestamp and credential scope. So a
request verifies here exactly when it would verify against the signature botocore (and
every AWS SDK, which sign alike) computed for it.

Failures are answered as AWS does (docs/security.md lists the sources): rest-json
(App Mesh) with HTTP 403, awsJson (Cloud Map, ACM, ACM PCA) with HTTP 400, code
InvalidSignatureException for a wrong or expired signature in JSON protocols
(SignatureDoesNotMatch in query and XML ones), UnrecognizedClientException for an
unknown access key, MissingAuthenticationTokenException when there is no signature,
IncompleteSignatureException when the Authorization header lacks a part.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Callable, Iterable, Mapping
from urllib.parse import quote

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest, HTTPHeaders
from botocore.credentials import Credentials

from ..service.credentials import CredentialStore
from ..service.identity import VERIFIED_ACCOUNT
from .errors import is_aws_json, wsgi_error

log = logging.getLogger(__name__)

ALGORITHM = "AWS4-HMAC-SHA256"
AMZ_DATE = "%Y%m%dT%H%M%SZ"
# AWS's JSON services refuse a request more than 5 minutes from their clock
# ("Signature expired: ... (... - 5 min.)"), as their error messages say.
MAX_SKEW_SECONDS = 300
MISMATCH = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
)
WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class AuthFailure(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def signature_error_code(protocol: str) -> str:
    """The error code of a wrong signature: JSON protocols say InvalidSignatureException, query and XML SignatureDoesNotMatch."""
    return "SignatureDoesNotMatch" if protocol in ("query", "ec2", "rest-xml") else "InvalidSignatureException"


def failure_status(protocol: str) -> int:
    """awsJson services answer authentication failures with 400; rest-json, query and XML ones with 403."""
    return 400 if protocol == "json" else 403


@dataclass(frozen=True)
class _Authorization:
    access_key: str
    date: str
    region: str
    service: str
    signed_headers: tuple[str, ...]
    signature: str


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


def _parse_authorization(header: str, protocol: str) -> _Authorization:
    scheme, _, rest = header.strip().partition(" ")
    if scheme != ALGORITHM:
        raise AuthFailure(
            "IncompleteSignatureException", f"Unsupported Authorization scheme; only {ALGORITHM} is accepted."
        )
    parts: dict[str, str] = {}
    for item in rest.split(","):
        name, _, value = item.strip().partition("=")
        if name:
            parts[name] = value.strip()
    missing = [name for name in ("Credential", "SignedHeaders", "Signature") if not parts.get(name)]
    if missing:
        raise AuthFailure(
            "IncompleteSignatureException",
            " ".join(f"Authorization header requires '{name}' parameter." for name in missing),
        )
    scope = parts["Credential"].split("/")
    if len(scope) != 5 or scope[4] != "aws4_request" or not all(scope):
        raise AuthFailure(
            signature_error_code(protocol),
            f"Credential should be scoped to a valid <key>/<date>/<region>/<service>/aws4_request, not {parts['Credential']!r}.",
        )
    return _Authorization(
        access_key=scope[0],
        date=scope[1],
        region=scope[2],
        service=scope[3],
        signed_headers=tuple(h for h in parts["SignedHeaders"].lower().split(";") if h),
        signature=parts["Signature"].lower(),
    )


def _header(environ: Mapping[str, Any], name: str) -> str | None:
    if name == "content-type":
        return environ.get("CONTENT_TYPE")
    if name == "content-length":
        return environ.get("CONTENT_LENGTH")
    return environ.get("HTTP_" + name.upper().replace("-", "_"))


def _raw_target(environ: Mapping[str, Any]) -> str:
    """The request target as sent (our server keeps it as RAW_URI), else rebuilt from the decoded path."""
    raw = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    if raw:
        return str(raw)
    path = quote(environ.get("PATH_INFO", "").encode("latin-1"), safe="/~!$&'()*+,;=:@")
    query = environ.get("QUERY_STRING")
    return path + (f"?{query}" if query else "")


@dataclass(frozen=True)
class Verified:
    access_key: str
    account: str


class SigV4Verifier:
    """Checks one request's signature against the configured keys; returns who signed it."""

    def __init__(
        self,
        credentials: CredentialStore,
        json_services: Mapping[str, str],
        rest_service: str = "appmesh",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.credentials = credentials
        self.json_services = dict(json_services)  # X-Amz-Target prefix → signing name
        self.rest_service = rest_service
        self.clock = clock

    def verify(self, environ: Mapping[str, Any], body: bytes) -> Verified:
        protocol = "json" if is_aws_json(environ) else "rest-json"
        mismatch = signature_error_code(protocol)
        header = environ.get("HTTP_AUTHORIZATION")
        if not header:
            query = environ.get("QUERY_STRING", "")
            if "X-Amz-Signature=" in query:
                raise AuthFailure(
                    "IncompleteSignatureException", "Presigned (query-string) requests are not supported."
                )
            raise AuthFailure("MissingAuthenticationTokenException", "Missing Authentication Token")
        auth = _parse_authorization(header, protocol)
        secret = self.credentials.secret_for(auth.access_key)
        if secret is None:
            raise AuthFailure("UnrecognizedClientException", "The security token included in the request is invalid.")
        expected_service = self._service(environ)
        if auth.service != expected_service:
            raise AuthFailure(mismatch, f"Credential should be scoped to correct service: '{expected_service}'.")
        amz_date = environ.get("HTTP_X_AMZ_DATE", "")
        when = self._timestamp(amz_date)
        if auth.date != amz_date[:8]:
            raise AuthFailure(
                mismatch,
                f"Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: "
                f"'{auth.date}' != '{amz_date[:8]}', from '{amz_date}'.",
            )
        self._check_clock(amz_date, when, mismatch)
        if "host" not in auth.signed_headers:
            raise AuthFailure(mismatch, "'Host' must be a signed header.")
        payload_hash = hashlib.sha256(body).hexdigest()
        declared = environ.get("HTTP_X_AMZ_CONTENT_SHA256")
        if declared is not None and declared != payload_hash:
            raise AuthFailure(mismatch, "The provided 'x-amz-content-sha256' header does not match what was computed.")
        signed = HTTPHeaders()
        for name in auth.signed_headers:
            value = _header(environ, name)
            if value is None:
                raise AuthFailure(mismatch, f"The signed header '{name}' is not in the request. {MISMATCH}")
            signed[name] = value
        request = AWSRequest(
            method=environ.get("REQUEST_METHOD", "GET"),
            url=f"http://{environ.get('HTTP_HOST', '')}{_raw_target(environ)}",
            data=body,
        )
        request.context["timestamp"] = amz_date
        signer = _ExpectedSigner(Credentials(auth.access_key, secret), auth.service, auth.region, signed, payload_hash)
        canonical = signer.canonical_request(request)
        string_to_sign = signer.string_to_sign(request, canonical)
        expected = signer.signature(string_to_sign, request)
        if not hmac.compare_digest(expected, auth.signature):
            raise AuthFailure(
                mismatch,
                f"{MISMATCH}\n\nThe Canonical String for this request should have been\n'{canonical}'\n\n"
                f"The String-to-Sign should have been\n'{string_to_sign}'\n",
            )
        return Verified(auth.access_key, self.credentials.account_for(auth.access_key))

    def _service(self, environ: Mapping[str, Any]) -> str:
        target = environ.get("HTTP_X_AMZ_TARGET")
        if target is None:
            return self.rest_service
        return self.json_services.get(target.partition(".")[0], self.rest_service)

    @staticmethod
    def _timestamp(amz_date: str) -> float:
        if not amz_date:
            raise AuthFailure(
                "IncompleteSignatureException",
                "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.",
            )
        try:
            return datetime.strptime(amz_date, AMZ_DATE).replace(tzinfo=UTC).timestamp()
        except ValueError:
            raise AuthFailure(
                "IncompleteSignatureException", f"Date must be in ISO-8601 'basic format'. Got '{amz_date}'."
            ) from None

    def _check_clock(self, amz_date: str, when: float, code: str) -> None:
        now = self.clock()
        minutes = MAX_SKEW_SECONDS // 60
        if when < now - MAX_SKEW_SECONDS:
            raise AuthFailure(
                code,
                f"Signature expired: {amz_date} is now earlier than {_format(now - MAX_SKEW_SECONDS)} "
                f"({_format(now)} - {minutes} min.)",
            )
        if when > now + MAX_SKEW_SECONDS:
            raise AuthFailure(
                code,
                f"Signature not yet current: {amz_date} is still later than {_format(now + MAX_SKEW_SECONDS)} "
                f"({_format(now)} + {minutes} min.)",
            )


def _format(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime(AMZ_DATE)


class RequireSigV4:
    """WSGI middleware: verify, then pass the request on with the verified account in the environ.

    `open_paths` (the health check) answer without a signature, so probes and readiness
    checks need no key; they reveal nothing about any account.
    """

    def __init__(self, app: WsgiApp, verifier: SigV4Verifier, open_paths: frozenset[str] = frozenset()) -> None:
        self.app = app
        self.verifier = verifier
        self.open_paths = open_paths

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO") in self.open_paths and environ.get("REQUEST_METHOD") in ("GET", "HEAD"):
            return self.app(environ, start_response)
        body = environ["wsgi.input"].read()
        environ["wsgi.input"] = io.BytesIO(body)
        environ.pop(VERIFIED_ACCOUNT, None)
        try:
            verified = self.verifier.verify(environ, body)
        except AuthFailure as failure:
            protocol = "json" if is_aws_json(environ) else "rest-json"
            log.info("refused %s %s: %s", environ.get("REQUEST_METHOD"), environ.get("RAW_URI"), failure.code)
            return wsgi_error(start_response, environ, failure_status(protocol), failure.code, failure.message)
        environ[VERIFIED_ACCOUNT] = verified.account
        return self.app(environ, start_response)
