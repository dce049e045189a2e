"""A grpc.aio server on its own thread and event loop, so synchronous programs can host one.

Both gRPC servers of appmesh-local (ADS on TCP, SDS on a unix socket) live beside the
blocking WSGI server; this is the one place that knows how to start and stop such a loop.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Awaitable, Callable

import grpc

log = logging.getLogger(__name__)


class GrpcThread:
    """Run `build()` (a coroutine that returns a started grpc.aio server) on a private loop."""

    def __init__(self, name: str, build: Callable[[], Awaitable[grpc.aio.Server]]) -> None:
        self.name = name
        self._build = build
        self.loop: asyncio.AbstractEventLoop | None = None
        self.server: grpc.aio.Server | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    def start(self, timeout: float) -> grpc.aio.Server:
        """Start the loop thread; raise what `build()` raised (a port that cannot be bound, say)."""
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise TimeoutError(f"{self.name} did not start within {timeout} s")
        if self._error is not None:
            self._thread.join(5)
            raise self._error
        assert self.server is not None
        return self.server

    def stop(self, grace: float) -> None:
        """Stop the server (streams get `grace` seconds), then the loop, then join the thread."""
        loop, server = self.loop, self.server
        if loop is not None and server is not None and loop.is_running():
            try:
                asyncio.run_coroutine_threadsafe(server.stop(grace), loop).result(grace + 5)
            except Exception:  # already stopping: nothing more to do than end the loop
                log.debug("%s: server stop failed", self.name, exc_info=True)
            loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(grace + 10)
        self.server = None

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        self.loop = loop
        try:
            self.server = loop.run_until_complete(self._build())
        except BaseException as exc:  # reported to start()
            self._error = exc
            self._ready.set()
            loop.close()
            return
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
            for task in pending:
                task.cancel()
            if pending:
                loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.close()
