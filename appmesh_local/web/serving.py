"""The API's HTTP server: one asyncio event loop (epoll) for every connection, the app run inline.

Why this design (measured in docs/performance.md; threats in docs/security.md):
- An event loop holds any number of idle or slow connections at the cost of a few kilobytes
  each, and epoll has no descriptor ceiling. waitress's select() loop failed above 1,023
  descriptors (the process exited) and its worker threads were held by half-open clients.
- Small requests (nearly every API call) run on the loop thread itself: no hand-off to a
  worker and back, which was half of waitress's CPU per call. Requests with large bodies,
  and whatever the `inline` policy declines (Cloud Map / ACM calls into moto), run on worker
  threads so the loop keeps answering everyone else meanwhile.
- Each connection is bounded in size and time (limits.py); at the connection limit the
  oldest connection with no request in service makes room for the new one.

The WSGI app (Flask with its fast path, wrapped by the neighbours' middleware) stays the
definition of the API; this module only moves bytes.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import socket
import threading
from collections import OrderedDict
from typing import Any, Callable

from .. import collector
from .connection import HttpConnection
from .limits import Limits
from .wsgi import Request, Response, WsgiApp, build_environ, call_app

log = logging.getLogger(__name__)

InlinePolicy = Callable[[dict[str, Any]], bool]


def _always(environ: dict[str, Any]) -> bool:
    return True


def _bind(host: str, port: int, backlog: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.create_server((host.strip("[]"), port), family=family, backlog=backlog, reuse_port=False)
    sock.setblocking(False)
    return sock


class HttpServer:
    """Bind now (so the port is known), serve from `run()` or `start()`, end with `stop()`."""

    def __init__(
        self,
        app: WsgiApp,
        host: str,
        port: int,
        threads: int = 8,
        limits: Limits | None = None,
        inline: InlinePolicy | None = None,
    ) -> None:
        self.app = app
        self.limits = limits or Limits()
        self.max_connections = self.limits.connection_limit()
        self.inline = inline or _always
        self.sock = _bind(host, port, self.limits.backlog)
        self._port = int(self.sock.getsockname()[1])  # still known after stop() closed the socket
        self.loop = asyncio.new_event_loop()
        self.pool = concurrent.futures.ThreadPoolExecutor(max_workers=threads, thread_name_prefix="appmesh-local-http")
        self.connections: set[HttpConnection] = set()
        self.idle: OrderedDict[HttpConnection, None] = OrderedDict()  # not in service, oldest first
        self.closing = False
        self.evicted = 0
        self.large_in_service = 0  # requests above `inline_body_bytes` now on a worker
        self.buffered = 0  # request bytes all connections hold before handing them over (limits.max_buffered_bytes)
        self._server: asyncio.base_events.Server | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._done = threading.Event()

    @property
    def effective_port(self) -> int:
        return self._port

    # ---- lifecycle (any thread) ---------------------------------------------------------
    def run(self) -> None:
        """Serve in the calling thread until `stop()`."""
        asyncio.set_event_loop(self.loop)
        try:
            self._server = self.loop.run_until_complete(
                self.loop.create_server(lambda: HttpConnection(self), sock=self.sock, backlog=self.limits.backlog)
            )
            self._ready.set()
            self.loop.run_forever()
            self.loop.run_until_complete(self._server.wait_closed())
            for _ in range(3):  # let closed transports deliver connection_lost and release their sockets
                self.loop.run_until_complete(asyncio.sleep(0))
        finally:
            self._ready.set()
            self.sock.close()
            self.loop.close()
            self._done.set()

    def start(self) -> HttpServer:
        """Serve from a daemon thread; returns once the port accepts connections."""
        self._thread = threading.Thread(target=self.run, name="appmesh-local-http", daemon=True)
        self._thread.start()
        self._ready.wait(10)
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop accepting, let requests in service finish (up to `timeout`), close every connection."""
        if self._ready.is_set() and not self._done.is_set():
            try:
                self.loop.call_soon_threadsafe(self._begin_shutdown, self.loop.time() + timeout)
            except RuntimeError:  # the loop has already closed
                pass
            self._done.wait(timeout + 2)
        elif not self._ready.is_set():
            self.sock.close()
        if self._thread is not None:
            self._thread.join(timeout)
        self.pool.shutdown(wait=True, cancel_futures=True)

    # ---- on the loop thread -------------------------------------------------------------
    def _begin_shutdown(self, deadline: float) -> None:
        self.closing = True
        if self._server is not None:
            self._server.close()
        self._close_when_quiet(deadline)

    def _close_when_quiet(self, deadline: float) -> None:
        busy = [conn for conn in self.connections if conn.serving]
        for conn in list(self.connections):
            if not conn.serving:
                conn.close_now()
        if busy and self.loop.time() < deadline:
            self.loop.call_later(0.01, self._close_when_quiet, deadline)
            return
        for conn in busy:
            if conn.transport is not None:
                conn.transport.abort()
        self.loop.stop()

    def connection_opened(self, conn: HttpConnection) -> None:
        self.connections.add(conn)
        self.idle[conn] = None
        if self.closing:
            conn.close_now()
            return
        while len(self.connections) > self.max_connections:
            oldest = next(iter(self.idle), None)
            if oldest is None or oldest is conn:
                conn.close_now()  # every other connection has a request in service
                return
            self.idle.pop(oldest)
            self.evicted += 1
            oldest.close_now()
            self.connections.discard(oldest)  # its connection_lost follows; count it gone now

    def connection_closed(self, conn: HttpConnection) -> None:
        self.connections.discard(conn)
        self.idle.pop(conn, None)

    def mark_idle(self, conn: HttpConnection) -> None:
        self.idle[conn] = None
        self.idle.move_to_end(conn)

    def mark_busy(self, conn: HttpConnection) -> None:
        self.idle.pop(conn, None)

    def dispatch(self, conn: HttpConnection, request: Request) -> None:
        """Run the app for `request`: inline when small and the policy agrees, else on a worker.

        While a large request is in service on a worker, every request goes to the workers:
        a large write may hold the store's lock for a while, and an inline call waiting
        for that lock would stall the loop and with it every other connection.
        """
        environ = build_environ(request, conn.peer)  # type: ignore[arg-type]
        large = len(request.body) > self.limits.inline_body_bytes
        if not large and not self.large_in_service and self.inline(environ):
            conn.respond(request, call_app(self.app, environ))
            return
        if large:
            self.large_in_service += 1
        future = self.pool.submit(_call_large if large else call_app, self.app, environ)
        future.add_done_callback(lambda done: self._from_worker(conn, request, done, large))

    def _from_worker(
        self, conn: HttpConnection, request: Request, done: concurrent.futures.Future[Response], large: bool
    ) -> None:
        """On the worker thread: hand the answer to the loop."""
        if done.cancelled():
            return
        try:
            self.loop.call_soon_threadsafe(self._answered, conn, request, done.result(), large)
        except RuntimeError:  # the loop closed while the worker ran (shutdown timeout)
            pass

    def _answered(self, conn: HttpConnection, request: Request, response: Response, large: bool) -> None:
        if large:
            self.large_in_service -= 1
        conn.respond(request, response)


def _call_large(app: WsgiApp, environ: dict[str, Any]) -> Response:
    """`call_app` with the cyclic garbage collector paused for the request's duration.

    Parsing and validating a multi-megabyte body allocates hundreds of thousands of
    objects, and the collections they trigger walk the whole heap while holding the GIL:
    50-130 ms measured per generation-2 pass, an equal stall of the event loop and every
    client on it. The request's objects are acyclic JSON data, freed by reference counting;
    collection resumes when the last pause (`collector`) ends.
    """
    with collector.paused():
        return call_app(app, environ)


def create_http_server(
    app: WsgiApp,
    host: str,
    port: int,
    threads: int = 8,
    limits: Limits | None = None,
    inline: InlinePolicy | None = None,
) -> HttpServer:
    return HttpServer(app, host, port, threads=threads, limits=limits, inline=inline)


def shutdown_http_server(http: HttpServer, timeout: float = 5.0) -> None:
    http.stop(timeout)
