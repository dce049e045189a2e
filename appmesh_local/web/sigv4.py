"""`serve --require-sigv4`: every request must carry a valid AWS Signature Version 4 from a configured key.

The signature itself is checked by the project's one verifier (`service.sigv4`, on botocore's
signer); this module reads the request from WSGI, picks the signing name from the protocol
(App Mesh's rest-json, or the awsJson target of Cloud Map, ACM, ACM PCA) and answers failures
as AWS does (docs/security.md lists the sources): rest-json with HTTP 403, awsJson with HTTP
400, InvalidSignatureException for a wrong or expired signature in JSON protocols
(SignatureDoesNotMatch in query and XML ones), UnrecognizedClientException for an unknown
access key, MissingAuthenticationTokenException when there is no signature,
IncompleteSignatureException when the Authorization header lacks a part.
"""

from __future__ import annotations

import hashlib
import io
import logging
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping
from urllib.parse import quote

from ..service.credentials import CredentialStore
from ..service.identity import VERIFIED_ACCOUNT
from ..service.sigv4 import SignatureError
from ..service.sigv4 import SigV4Verifier as SignatureVerifier
from .errors import is_aws_json, wsgi_error

log = logging.getLogger(__name__)

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def signature_error_code(protocol: str) -> str:
    """The error code of a wrong signature: JSON protocols say InvalidSignatureException, query and XML SignatureDoesNotMatch."""
    return "SignatureDoesNotMatch" if protocol in ("query", "ec2", "rest-xml") else "InvalidSignatureException"


def failure_status(protocol: str) -> int:
    """awsJson services answer authentication failures with 400; rest-json, query and XML ones with 403."""
    return 400 if protocol == "json" else 403


def _headers(environ: Mapping[str, Any]) -> dict[str, str]:
    """The request's headers by lower-case name, as a client signed them."""
    headers = {
        key[5:].lower().replace("_", "-"): str(value) for key, value in environ.items() if key.startswith("HTTP_")
    }
    for key, name in (("CONTENT_TYPE", "content-type"), ("CONTENT_LENGTH", "content-length")):
        if environ.get(key) is not None:
            headers[name] = str(environ[key])
    return headers


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
        self._verifier = SignatureVerifier(credentials, (rest_service, *self.json_services.values()))

    def verify(self, environ: Mapping[str, Any], body: bytes) -> Verified:
        """Who signed the request, or SignatureError (its status is the caller's to choose by protocol)."""
        mismatch = signature_error_code("json" if is_aws_json(environ) else "rest-json")
        headers = _headers(environ)
        if "authorization" not in headers and "X-Amz-Signature=" in environ.get("QUERY_STRING", ""):
            raise SignatureError("IncompleteSignatureException", "Presigned (query-string) requests are not supported.")
        path, _, query = _raw_target(environ).partition("?")
        principal = self._verifier.verify(
            environ.get("REQUEST_METHOD", "GET"),
            path,
            {**headers, "host": headers.get("host", "")},
            query=query,
            payload_hash=hashlib.sha256(body).hexdigest(),
            now=self.clock(),
            service=self._service(environ),
            mismatch=mismatch,
            must_sign=("host",),
        )
        return Verified(principal.access_key, principal.account)

    def _service(self, environ: Mapping[str, Any]) -> str:
        target = environ.get("HTTP_X_AMZ_TARGET")
        if target is None:
            return self.rest_service
        return self.json_services.get(target.partition(".")[0], self.rest_service)


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
        except SignatureError as failure:
            protocol = "json" if is_aws_json(environ) else "rest-json"
            log.info("refused %s %s: %s", environ.get("REQUEST_METHOD"), environ.get("RAW_URI"), failure.code)
            return wsgi_error(start_response, environ, failure_status(protocol), failure.code, failure.message)
        environ[VERIFIED_ACCOUNT] = verified.account
        return self.app(environ, start_response)
