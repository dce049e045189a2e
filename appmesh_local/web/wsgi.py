"""One parsed HTTP request → a PEP 3333 environ → the WSGI app → one response in bytes.

Kept apart from the connection code so the same call runs on the event loop (small
requests) or on a worker thread (large ones) without either knowing which.
"""

from __future__ import annotations

import io
import logging
import sys
import time
from dataclasses import dataclass
from email.utils import formatdate
from typing import Any, Callable, Iterable
from urllib.parse import unquote_to_bytes

from .errors import error_parts

log = logging.getLogger(__name__)

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


@dataclass
class Request:
    """What the parser read: method, target, headers as sent, the whole body."""

    method: str
    target: bytes
    path: bytes
    query: bytes
    headers: list[tuple[bytes, bytes]]
    body: bytes
    http_version: str
    keep_alive: bool
    size: int = 0  # bytes of head and body held in memory until the request is handed over


@dataclass(frozen=True)
class Peer:
    """The two ends of a connection, as the environ reports them."""

    server_name: str
    server_port: str
    remote_addr: str
    remote_port: str


@dataclass
class Response:
    status: str
    headers: list[tuple[str, str]]
    body: bytes


def build_environ(request: Request, peer: Peer) -> dict[str, Any]:
    """The PEP 3333 environ. Header names with `_` are dropped: `X_Forwarded` must not pose as `X-Forwarded`."""
    environ: dict[str, Any] = {
        "REQUEST_METHOD": request.method,
        "SCRIPT_NAME": "",
        "PATH_INFO": unquote_to_bytes(request.path).decode("latin-1"),
        "QUERY_STRING": request.query.decode("latin-1"),
        "RAW_URI": request.target.decode("latin-1"),
        "SERVER_NAME": peer.server_name,
        "SERVER_PORT": peer.server_port,
        "SERVER_PROTOCOL": f"HTTP/{request.http_version}",
        "REMOTE_ADDR": peer.remote_addr,
        "REMOTE_PORT": peer.remote_port,
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(request.body),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
        "wsgi.input_terminated": True,
        "CONTENT_LENGTH": str(len(request.body)),
    }
    for raw_name, raw_value in request.headers:
        name = raw_name.decode("latin-1").upper()
        if "_" in name:
            continue
        value = raw_value.decode("latin-1")
        if name == "CONTENT-TYPE":
            environ["CONTENT_TYPE"] = value
            continue
        if name == "CONTENT-LENGTH" or name == "TRANSFER-ENCODING":
            continue  # the body is whole: CONTENT_LENGTH above is its true length
        key = "HTTP_" + name.replace("-", "_")
        environ[key] = f"{environ[key]},{value}" if key in environ else value
    return environ


def call_app(app: WsgiApp, environ: dict[str, Any]) -> Response:
    """Run the app to completion; an exception becomes AWS's 500 and a logged traceback."""
    started: list[Any] = []
    written: list[bytes] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[[bytes], None]:
        if exc_info is not None and started:
            raise exc_info[1].with_traceback(exc_info[2])
        started[:] = [status, headers]
        return written.append

    try:
        result = app(environ, start_response)
        try:
            for chunk in result:
                if chunk:
                    written.append(chunk)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
        if not started:
            raise RuntimeError("the WSGI app returned without calling start_response")
    except Exception:  # noqa: BLE001 - the caller gets AWS's 500, the log gets the traceback
        log.exception("internal error on %s %s", environ.get("REQUEST_METHOD"), environ.get("RAW_URI"))
        status, headers, body = error_parts(500, "InternalServerErrorException", "An internal error occurred")
        return Response(status, headers, body)
    return Response(started[0], list(started[1]), b"".join(written))


_date_cache: list[Any] = [0, b""]


def http_date() -> bytes:
    """The Date header's value, formatted at most once a second."""
    now = int(time.time())
    if _date_cache[0] != now:
        _date_cache[:] = [now, formatdate(now, usegmt=True).encode()]
    return _date_cache[1]


def encode_response(response: Response, head_only: bool, keep_alive: bool, http_version: str) -> bytes:
    """Status line, headers and body in one buffer: the client wakes once per response."""
    lines = [b"HTTP/1.1 " + response.status.encode("latin-1", "replace")]
    has_length = False
    for name, value in response.headers:
        lowered = name.lower()
        if lowered == "content-length":
            has_length = True
        elif lowered in ("connection", "transfer-encoding", "keep-alive"):
            continue  # hop-by-hop: this layer decides them
        lines.append(f"{name}: {value}".encode("latin-1", "replace"))
    if not has_length:
        lines.append(b"Content-Length: " + str(len(response.body)).encode())
    lines.append(b"Date: " + http_date())
    if not keep_alive:
        lines.append(b"Connection: close")
    elif http_version == "1.0":
        lines.append(b"Connection: keep-alive")
    head = b"\r\n".join(lines) + b"\r\n\r\n"
    return head if head_only else head + response.body
