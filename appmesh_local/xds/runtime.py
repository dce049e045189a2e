"""Run the xDS bridge (gRPC aio server + reconciler) beside the synchronous API server.

The gRPC server gets its own thread and event loop, so `appmesh-local serve`
stays a plain blocking program:

    runtime = XdsRuntime(store, host, port).start()
    ...                      # serve the API
    runtime.stop()
"""
from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any, Sequence

import grpc

from appmesh_local.xds.ads import add_to_server
from appmesh_local.xds.cache import SnapshotCache
from appmesh_local.xds.reconciler import BuildFn, MeshSource, Reconciler
from appmesh_local.xds.status import Status

log = logging.getLogger(__name__)
DEFAULT_XDS_PORT = 4601
GRPC_OPTIONS = (
    ("grpc.so_reuseport", 0),                          # a taken port is an error, not a silent share
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.min_ping_interval_without_data_ms", 5000),
    ("grpc.max_receive_message_length", 64 * 1024 * 1024),
    ("grpc.max_send_message_length", 256 * 1024 * 1024),
)


class XdsRuntime:
    """The ADS server on `host:port` (+ `extra_hosts`), fed by a reconciler when a store is given.

    Without a store, feed `runtime.cache` directly (tests, the offline tools).
    """

    def __init__(self, store: MeshSource | None = None, host: str = "127.0.0.1", port: int = DEFAULT_XDS_PORT,
                 *, extra_hosts: Sequence[str] = (), cache: SnapshotCache | None = None,
                 status: Status | None = None, build: BuildFn | None = None,
                 quiet_s: float = 0.002, max_delay_s: float = 0.02, bind_address: str = "0.0.0.0") -> None:
        self.host = host
        self.requested_port = port
        self.extra_hosts = tuple(extra_hosts)
        self.cache = cache or SnapshotCache()
        self.status = status or Status()
        self.reconciler = (Reconciler(store, self.cache, self.status, build=build, quiet_s=quiet_s,
                                      max_delay_s=max_delay_s, bind_address=bind_address)
                           if store is not None else None)
        self.port: int | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: grpc.aio.Server | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    def start(self, timeout: float = 15.0) -> "XdsRuntime":
        self._thread = threading.Thread(target=self._run, name="appmesh-xds-grpc", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise TimeoutError("the xDS server did not start")
        if self._error is not None:
            self._thread.join(5)
            raise RuntimeError(f"xDS server failed to start on {self.host}:{self.requested_port}: "
                               f"{self._error}") from self._error
        if self.reconciler is not None:
            self.reconciler.start()
        log.info("xDS (ADS, SotW + delta) listening on %s:%s", self.host, self.port)
        return self

    def stop(self, grace: float = 1.0) -> None:
        """Stop the reconciler, then the server (streams get `grace` seconds), then the loop."""
        if self.reconciler is not None:
            self.reconciler.stop()
        loop, server = self._loop, self._server
        if loop is not None and server is not None and loop.is_running():
            try:
                asyncio.run_coroutine_threadsafe(server.stop(grace), loop).result(grace + 5)
            except Exception:  # already stopping: nothing more to do than end the loop
                log.debug("xDS server stop failed", exc_info=True)
            loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(grace + 10)
        self._server = None

    def status_snapshot(self) -> dict[str, Any]:
        """JSON-able status (connected proxies, unknown nodes, translation problems)."""
        data = self.status.snapshot()
        data["server"] = {"host": self.host, "port": self.port, "boot_id": self.cache.boot_id,
                          "proxies_in_cache": len(self.cache.proxies())}
        return data

    def __enter__(self) -> "XdsRuntime":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop(grace=0.2)

    # ---- the loop thread ---------------------------------------------------------------------
    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        self._loop = loop
        try:
            loop.run_until_complete(self._start_server())
        except BaseException as exc:  # bind failure: report to start()
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

    async def _start_server(self) -> None:
        server = grpc.aio.server(options=GRPC_OPTIONS)
        add_to_server(server, self.cache, self.status)
        port = server.add_insecure_port(f"{_host(self.host)}:{self.requested_port}")
        if not port:
            raise OSError(f"cannot bind {self.host}:{self.requested_port}")
        for extra in self.extra_hosts:
            if not server.add_insecure_port(f"{_host(extra)}:{port}"):
                raise OSError(f"cannot bind {extra}:{port}")
        await server.start()
        self._server, self.port = server, port


def _host(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host
