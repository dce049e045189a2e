"""WSGI fast path: App Mesh calls skip Flask's per-request machinery; everything else goes to Flask.

Flask's request context, signals and URL adapter cost more per call than the
App Mesh handler itself (measured: docs/performance.md). An App Mesh call has one
view, so this middleware reads exactly what that view reads, the way werkzeug
reads it (same path decoding, same query parsing, same body stream), and writes
the response werkzeug would (status phrase, Content-Length, no body for HEAD).
Requests Flask treats specially go to Flask unchanged: the admin prefix, OPTIONS
(Flask answers it with the allowed methods), and paths with empty segments (Flask
redirects them). Any other method (TRACE, PROPFIND, ...) names no App Mesh
operation and gets the handler's UnknownOperationException, as a wrong path does.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable
from urllib.parse import parse_qsl

from werkzeug.datastructures import ImmutableMultiDict
from werkzeug.http import HTTP_STATUS_CODES
from werkzeug.wsgi import get_input_stream

from ..service import AppMeshService
from ..service.identity import VERIFIED_ACCOUNT
from .handler import handle_api

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
API_METHODS = frozenset({"GET", "PUT", "POST", "DELETE", "PATCH", "HEAD"})
_NO_QUERY: ImmutableMultiDict = ImmutableMultiDict()


class _Headers:
    """The one request header the handler reads (Authorization), looked up in the environ."""

    __slots__ = ("_environ",)

    def __init__(self, environ: dict[str, Any]) -> None:
        self._environ = environ

    def get(self, name: str, default: str | None = None) -> str | None:
        key = name.upper().replace("-", "_")
        if key not in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            key = "HTTP_" + key
        return self._environ.get(key, default)


class ApiFastPath:
    """Wrap a Flask app's `wsgi_app`; App Mesh calls are answered here, the rest by `app`."""

    def __init__(self, app: WsgiApp, service: AppMeshService, admin_prefix: str) -> None:
        self.app = app
        self.service = service
        self.admin_prefix = admin_prefix

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "GET").upper()
        path = "/" + (environ.get("PATH_INFO") or "").encode("latin1").decode(errors="replace").lstrip("/")
        if method == "OPTIONS" or path.startswith(self.admin_prefix) or "//" in path or environ.get("SCRIPT_NAME"):
            return self.app(environ, start_response)
        raw_query = environ.get("QUERY_STRING", "")
        query = (
            ImmutableMultiDict(
                parse_qsl(raw_query.encode("latin1").decode(), keep_blank_values=True, errors="werkzeug.url_quote")
            )
            if raw_query
            else _NO_QUERY
        )
        body = get_input_stream(environ).read()
        status, headers, payload = handle_api(
            self.service, method, path, query, _Headers(environ), body, environ.get(VERIFIED_ACCOUNT)
        )
        header_list = list(headers.items())
        header_list.append(("Content-Length", str(len(payload))))
        start_response(f"{status} {HTTP_STATUS_CODES.get(status, 'UNKNOWN').upper()}", header_list)
        return [] if method == "HEAD" else [payload]
