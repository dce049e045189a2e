"""AWS-shaped errors for answers given before (or instead of) a service: the HTTP layer, Host and SigV4 checks.

One port speaks two protocols: App Mesh's rest-json (error code in the `x-amzn-ErrorType`
header) and the awsJson 1.1 of Cloud Map, ACM and ACM PCA (code in the body's `__type`).
These answers carry both, so botocore reads the same code whichever client asks
(botocore.parsers: RestJSONParser reads the header first, BaseJSONParser the body).
"""

from __future__ import annotations

import json
from typing import Any, Mapping

from werkzeug.http import HTTP_STATUS_CODES

JSON_11 = "application/x-amz-json-1.1"

Headers = list[tuple[str, str]]


def is_aws_json(environ: Mapping[str, Any]) -> bool:
    """awsJson requests name their operation in X-Amz-Target; rest-json ones in the URI."""
    return "HTTP_X_AMZ_TARGET" in environ


def error_parts(status: int, code: str, message: str, aws_json: bool = False) -> tuple[str, Headers, bytes]:
    """(status line, headers, body) of an AWS error answer."""
    body = json.dumps({"__type": code, "message": message}).encode()
    headers = [
        ("Content-Type", JSON_11 if aws_json else "application/json"),
        ("x-amzn-ErrorType", code),
        ("Content-Length", str(len(body))),
    ]
    return f"{status} {HTTP_STATUS_CODES.get(status, 'Unknown')}", headers, body


def wsgi_error(start_response: Any, environ: dict[str, Any], status: int, code: str, message: str) -> list[bytes]:
    """Answer a WSGI request with an AWS error in the protocol the request used."""
    line, headers, body = error_parts(status, code, message, is_aws_json(environ))
    start_response(line, headers)
    return [] if environ.get("REQUEST_METHOD") == "HEAD" else [body]
