"""One HTTP/1.1 connection on the event loop: parse (httptools), bound, time out, dispatch, answer.

A request is parsed as its bytes arrive and handed to the server when complete; the
server runs it inline or on a worker thread and calls `respond`. Requests pipelined
behind it wait in order (at most `max_pipelined`, then reading pauses). Every phase has a
deadline: headers (`head_timeout`, however slowly they trickle), body, idleness, and a
client that stops reading its answers (`write_timeout`). Oversized or malformed input is
answered with an AWS-shaped 4xx and the connection is closed.

All methods run on the event loop thread.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections import deque
from enum import Enum
from typing import TYPE_CHECKING

import httptools

from .errors import error_parts
from .wsgi import Peer, Request, Response, encode_response

if TYPE_CHECKING:
    from .serving import HttpServer

log = logging.getLogger(__name__)


_METHOD_TOKEN = re.compile(rb"[A-Za-z][A-Za-z0-9!#$%&'*+.^_`|~-]* ")  # RFC 9110 token, then a space


class Phase(Enum):
    IDLE = "idle"  # no request bytes pending
    HEAD = "head"  # inside a request line or headers
    BODY = "body"  # headers done, body arriving


class _Refused(Exception):
    """Raised inside a parser callback to stop parsing; the answer is already chosen."""


class HttpConnection(asyncio.Protocol):
    def __init__(self, server: HttpServer) -> None:
        self.server = server
        self.limits = server.limits
        self.loop = server.loop
        self.transport: asyncio.Transport | None = None
        self.peer: Peer | None = None
        self.parser = httptools.HttpRequestParser(self)
        self.phase = Phase.IDLE
        self.serving = False  # a request is with the app (inline or on a worker)
        self.write_paused = False
        self.read_paused = False
        self.closed = False
        self.pending: deque[Request] = deque()
        self.head_bytes = 0  # raw bytes received since the request began, while its head is incomplete
        self.message_bytes = 0  # the current message's bytes held so far
        self.held = 0  # this connection's share of the server's buffered bytes
        self.body_bytes = 0
        self._url = b""
        self._headers: list[tuple[bytes, bytes]] = []
        self._body: list[bytes] = []
        self._refusal: tuple[int, str, str] | None = None
        self._start = b""  # the current request's first bytes, to tell an unknown method from non-HTTP
        self.deadline: float | None = None
        self.deadline_phase = ""
        self._timer: asyncio.TimerHandle | None = None

    # ---- asyncio.Protocol ---------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        local = transport.get_extra_info("sockname") or ("", 0)
        remote = transport.get_extra_info("peername") or ("", 0)
        self.peer = Peer(str(local[0]), str(local[1]), str(remote[0]), str(remote[1]))
        self.server.connection_opened(self)
        self._arm(self.limits.idle_timeout, "idle")

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._release(self.held)
        self.deadline = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self.pending.clear()
        self.server.connection_closed(self)

    def data_received(self, data: bytes) -> None:
        if self.closed:
            return
        if self.phase is Phase.IDLE:
            self.phase = Phase.HEAD
            self.head_bytes = 0
            self._start = data[:24]
            self._arm(self.limits.head_timeout, "head")
        if self.phase is Phase.HEAD:
            self.head_bytes += len(data)  # an overestimate once the body starts: refuses early, never late
        try:
            self.parser.feed_data(data)
        except _Refused:
            pass
        except httptools.HttpParserCallbackError as error:
            if not isinstance(error.__context__, _Refused):
                log.exception("HTTP parser callback failed")
                self._refusal = self._refusal or (500, "InternalServerErrorException", "An internal error occurred")
        except httptools.HttpParserUpgrade:
            # An Upgrade header (h2c, websocket) is ignored as RFC 9110 allows: the request is
            # answered in HTTP/1.1, then the connection closes (the parser reads no further).
            if self.pending:
                self.pending[-1].keep_alive = False
                self._pause_reading()
            else:
                self._refusal = (400, "BadRequestException", "Protocol upgrades are not supported")
        except httptools.HttpParserInvalidMethodError:
            if _METHOD_TOKEN.match(self._start):
                self._refusal = (405, "UnknownOperationException", "The request method is not supported")
            else:  # not HTTP at all (a TLS handshake, binary noise)
                self._refusal = (400, "BadRequestException", "Malformed HTTP request: not an HTTP request line")
        except httptools.HttpParserError as error:
            self._refusal = self._refusal or (400, "BadRequestException", f"Malformed HTTP request: {error}")
        if self._refusal is None and self.phase is Phase.HEAD and self.head_bytes > self.limits.max_head_bytes:
            self._refusal = (
                431,
                "RequestHeaderFieldsTooLargeException",
                f"The request line and headers exceed {self.limits.max_head_bytes} bytes",
            )
        if self._refusal is not None:
            self._refuse(*self._refusal)
        elif self.pending and not self.serving and not self.write_paused:
            self._next()  # after parsing, never inside a parser callback

    def pause_writing(self) -> None:
        """The client is not reading: stop taking requests from it, and give it `write_timeout`."""
        self.write_paused = True
        self._pause_reading()
        self._arm(self.limits.write_timeout, "write")

    def resume_writing(self) -> None:
        self.write_paused = False
        self._after_response()

    # ---- httptools callbacks ------------------------------------------------------------
    def on_message_begin(self) -> None:
        self.phase = Phase.HEAD
        self.message_bytes = 0
        self._url = b""
        self._headers = []
        self._body = []
        self.body_bytes = 0

    def on_url(self, url: bytes) -> None:
        self._url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name, value))

    def _count_head(self) -> None:
        """The parsed head's size, once its end is reached: a head that arrived whole in one read
        (at most one transport read, 256 KiB) is bounded here; a longer one is refused by the
        raw count in data_received before it completes."""
        size = len(self._url) + sum(len(name) + len(value) + 4 for name, value in self._headers)
        self._hold(size)
        if size > self.limits.max_head_bytes:
            self._stop(
                431,
                "RequestHeaderFieldsTooLargeException",
                f"The request line and headers exceed {self.limits.max_head_bytes} bytes",
            )

    def on_headers_complete(self) -> None:
        self.phase = Phase.BODY
        self._count_head()
        if self.parser.get_method() == b"CONNECT":
            self._stop(405, "UnknownOperationException", "CONNECT is not supported: this is not a proxy")
        self._arm(self.limits.body_timeout, "body")
        declared = expect = None
        for name, value in self._headers:
            lowered = name.lower()
            if lowered == b"content-length":
                declared = value
            elif lowered == b"expect":
                expect = value
        if declared is not None and declared.strip().isdigit() and int(declared) > self.limits.max_body_bytes:
            self._stop(413, "RequestEntityTooLargeException", self._too_large())
        if expect is not None and expect.lower() == b"100-continue" and self.transport is not None:
            self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")

    def on_body(self, body: bytes) -> None:
        self.body_bytes += len(body)
        self._hold(len(body))
        if self.body_bytes > self.limits.max_body_bytes:
            self._stop(413, "RequestEntityTooLargeException", self._too_large())
        self._body.append(body)

    def on_message_complete(self) -> None:
        try:
            url = httptools.parse_url(self._url)
        except httptools.HttpParserInvalidURLError:
            self._stop(400, "BadRequestException", "The request target is not a valid URI")
        request = Request(
            method=self.parser.get_method().decode("latin-1"),
            target=self._url,
            path=url.path or b"/",
            query=url.query or b"",
            headers=self._headers,
            body=b"".join(self._body),
            http_version=self.parser.get_http_version(),
            keep_alive=self.parser.should_keep_alive(),
            size=self.message_bytes,
        )
        self.message_bytes = 0
        self.phase = Phase.IDLE
        self._body = []
        self.pending.append(request)
        if len(self.pending) >= self.limits.max_pipelined:
            self._pause_reading()

    # ---- serving ------------------------------------------------------------------------
    def _next(self) -> None:
        """Hand the oldest waiting request to the server, or go idle."""
        if not self.pending or self.closed:
            if self.phase is Phase.IDLE and not self.closed:
                self.server.mark_idle(self)
                self._arm(self.limits.idle_timeout, "idle")
            return
        request = self.pending.popleft()
        self._release(request.size)
        self.serving = True
        self.server.mark_busy(self)
        if self.phase is Phase.IDLE:
            self.deadline = None  # no client deadline while the app works
        if self.read_paused and not self.write_paused and len(self.pending) < self.limits.max_pipelined:
            self._resume_reading()
        self.server.dispatch(self, request)

    def respond(self, request: Request, response: Response) -> None:
        """The app's answer to `request` (the one in service); called on the loop thread."""
        self.serving = False
        if self.closed or self.transport is None:
            return
        keep_alive = request.keep_alive and not self.server.closing
        self.transport.write(encode_response(response, request.method == "HEAD", keep_alive, request.http_version))
        if not keep_alive:
            self._close()
            return
        if not self.write_paused:
            self._after_response()

    def _after_response(self) -> None:
        if self.read_paused and len(self.pending) < self.limits.max_pipelined:
            self._resume_reading()
        if not self.serving:
            self._next()

    # ---- memory held for requests not yet served ------------------------------------------
    def _hold(self, size: int) -> None:
        self.message_bytes += size
        self.held += size
        self.server.buffered += size
        if self.server.buffered > self.limits.max_buffered_bytes:
            self._stop(
                503,
                "ServiceUnavailableException",
                "The server holds too many unfinished requests; retry later",
            )

    def _release(self, size: int) -> None:
        size = min(size, self.held)
        self.held -= size
        self.server.buffered -= size

    # ---- refusing -----------------------------------------------------------------------
    def _stop(self, status: int, code: str, message: str) -> None:
        self._refusal = (status, code, message)
        raise _Refused

    def _refuse(self, status: int, code: str, message: str) -> None:
        """Answer with an AWS error and close; requests already read ahead are dropped."""
        if self.closed or self.transport is None:
            return
        aws_json = self._header(b"x-amz-target") is not None
        line, headers, body = error_parts(status, code, message, aws_json)
        self.pending.clear()
        self.transport.write(encode_response(Response(line, headers, body), False, False, "1.1"))
        self._close()

    def _too_large(self) -> str:
        return f"The request body exceeds {self.limits.max_body_bytes} bytes"

    def _header(self, name: bytes) -> bytes | None:
        for header, value in self._headers:
            if header.lower() == name:
                return value
        return None

    # ---- deadlines ----------------------------------------------------------------------
    def _arm(self, seconds: float, phase: str) -> None:
        """Set this connection's one deadline; the timer is moved only when it must fire sooner."""
        self.deadline = self.loop.time() + seconds
        self.deadline_phase = phase
        if self._timer is None:
            self._timer = self.loop.call_at(self.deadline, self._on_timer)
        elif self._timer.when() > self.deadline:
            self._timer.cancel()
            self._timer = self.loop.call_at(self.deadline, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        if self.closed or self.deadline is None:
            return
        if self.loop.time() < self.deadline:
            self._timer = self.loop.call_at(self.deadline, self._on_timer)
            return
        phase, self.deadline = self.deadline_phase, None
        if phase in ("head", "body") and not self.serving:
            log.info("closing %s: request %s not complete in time", self.peer, phase)
            self._refuse(408, "RequestTimeoutException", f"The request {phase} did not arrive in time")
        elif phase == "write":
            log.info("closing %s: it stopped reading its responses", self.peer)
            if self.transport is not None:
                self.transport.abort()
        elif phase == "idle" and not self.serving:
            self._close()

    # ---- flow control -------------------------------------------------------------------
    def _pause_reading(self) -> None:
        if not self.read_paused and self.transport is not None and not self.closed:
            self.read_paused = True
            self.transport.pause_reading()

    def _resume_reading(self) -> None:
        if self.read_paused and self.transport is not None and not self.closed:
            self.read_paused = False
            self.transport.resume_reading()

    def _close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()  # buffered output is still sent

    def close_now(self) -> None:
        """Evicted or shutting down: close without waiting for anything."""
        self._close()


__all__ = ["HttpConnection", "Phase"]
