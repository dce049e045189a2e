"""Run the xDS bridge (gRPC aio server + reconciler) beside the synchronous API server.

The gRPC server gets its own thread and event loop, so `appmesh-local serve`
stays a plain blocking program:

    runtime = XdsRuntime(store, host, port).start()
    ...                      # serve the API
    runtime.stop()
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any, Sequence

import grpc

from appmesh_local import unix_socket
from appmesh_local.bridge.reconciler import MeshBuild, Reconciler
from appmesh_local.grpc_thread import GrpcThread
from appmesh_local.ir.names import DEFAULT_BIND_ADDRESS
from appmesh_local.settings import DEFAULT_XDS_PORT
from appmesh_local.store.protocols import MeshSource
from appmesh_local.xds.ads import FlowLimits, add_to_server
from appmesh_local.xds.auth import ENVOY_AUTHORITY, XdsAuth
from appmesh_local.xds.cache import SnapshotCache
from appmesh_local.xds.status import Status

log = logging.getLogger(__name__)
GRPC_OPTIONS = (
    ("grpc.so_reuseport", 0),  # a taken port is an error, not a silent share
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.min_ping_interval_without_data_ms", 5000),
    # Envoy's requests are small (names, versions, a NACK's message): gRPC's default 4 MiB cap
    # bounds what one request may cost, with room for the largest meshes' EDS name lists.
    ("grpc.max_receive_message_length", 4 * 1024 * 1024),
    ("grpc.max_send_message_length", 256 * 1024 * 1024),
    # Our own pings find peers that vanished or stopped reading their socket (no ACK in 20 s).
    ("grpc.keepalive_time_ms", 60_000),
    ("grpc.keepalive_timeout_ms", 20_000),
    # App Mesh's management service reset every connection about every 40 minutes (the agent's
    # GRPC_MAX_CONNECTION_AGE_MS says so); so do we, which also bounds any connection the
    # stall guard could not cut (a unix-socket peer). Envoy reconnects and is resent its config.
    ("grpc.max_connection_age_ms", 40 * 60_000),
    ("grpc.max_connection_age_grace_ms", 5_000),
    # A TCP connection that never completes the HTTP/2 handshake is dropped after 20 s.
    ("grpc.server_handshake_timeout_ms", 20_000),
)


class XdsRuntime:
    """The ADS server on `host:port` (+ `extra_hosts`, + `unix:unix_socket`), fed by a reconciler when a store is given.

    The unix socket lets Envoys in network namespaces reach xDS without a bridge address: it
    sits in a traversable directory, mode 0600, or 0660 with `unix_socket_group` (gid 1337
    for `task`'s Envoys).

    Without a store, feed `runtime.cache` directly (tests, the offline tools).
    """

    def __init__(
        self,
        store: MeshSource | None = None,
        host: str = "127.0.0.1",
        port: int = DEFAULT_XDS_PORT,
        *,
        extra_hosts: Sequence[str] = (),
        cache: SnapshotCache | None = None,
        status: Status | None = None,
        build: MeshBuild | None = None,
        quiet_s: float = 0.002,
        max_delay_s: float = 0.02,
        bind_address: str = DEFAULT_BIND_ADDRESS,
        unix_socket: str | os.PathLike[str] | None = None,
        gc_freeze: bool = False,
        flow_limits: FlowLimits | None = None,
        auth: XdsAuth | None = None,
        unix_socket_group: int | None = None,
    ) -> None:
        """`flow_limits`: when a peer that does not read its responses is cut off (xds.ads.FlowLimits).
        `auth`: authenticate every stream (xds.auth); None serves any client that names a proxy.
        `unix_socket_group`: the socket is mode 0660 with this group, else 0600 (its owner only)."""
        self.host = host
        self.flow_limits = flow_limits or FlowLimits()
        self.auth = auth
        self.unix_socket_group = unix_socket_group
        self.unix_socket = Path(unix_socket) if unix_socket else None
        self.requested_port = port
        self.extra_hosts = tuple(extra_hosts)
        self.cache = cache or SnapshotCache()
        self.status = status or Status()
        self.reconciler = (
            Reconciler(
                store,
                self.cache,
                self.status,
                build=build,
                quiet_s=quiet_s,
                max_delay_s=max_delay_s,
                bind_address=bind_address,
                gc_freeze=gc_freeze,
            )
            if store is not None
            else None
        )
        self.port: int | None = None
        self._grpc = GrpcThread("appmesh-xds-grpc", self._start_server)

    def start(self, timeout: float = 15.0) -> XdsRuntime:
        try:
            self._grpc.start(timeout)
        except TimeoutError:
            raise TimeoutError("the xDS server did not start") from None
        except BaseException as error:
            raise RuntimeError(f"xDS server failed to start on {self.host}:{self.requested_port}: {error}") from error
        if self.reconciler is not None:
            self.reconciler.start()
        log.info("xDS (ADS, SotW + delta) listening on %s:%s", self.host, self.port)
        return self

    def stop(self, grace: float = 1.0) -> None:
        """Stop the reconciler, then the server (streams get `grace` seconds), then the loop."""
        if self.reconciler is not None:
            self.reconciler.stop()
        self._grpc.stop(grace)
        if self.unix_socket is not None and self.unix_socket.is_socket():
            self.unix_socket.unlink(missing_ok=True)

    def status_snapshot(self) -> dict[str, Any]:
        """JSON-able status (connected proxies, unknown nodes, translation problems)."""
        data = self.status.snapshot()
        data["server"] = {
            "host": self.host,
            "port": self.port,
            "boot_id": self.cache.boot_id,
            "unix_socket": str(self.unix_socket) if self.unix_socket else None,
            "proxies_in_cache": len(self.cache.proxies()),
        }
        return data

    def __enter__(self) -> XdsRuntime:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop(grace=0.2)

    # ---- on the loop thread -----------------------------------------------------------------
    async def _start_server(self) -> grpc.aio.Server:
        server = grpc.aio.server(options=GRPC_OPTIONS)
        add_to_server(server, self.cache, self.status, self.flow_limits, self.auth)
        port = server.add_insecure_port(f"{_host(self.host)}:{self.requested_port}")
        if not port:
            raise OSError(f"cannot bind {self.host}:{self.requested_port}")
        for extra in self.extra_hosts:
            if not server.add_insecure_port(f"{_host(extra)}:{port}"):
                raise OSError(f"cannot bind {extra}:{port}")
        if self.unix_socket is not None:
            unix_socket.prepare(self.unix_socket)
            if not server.add_insecure_port(f"unix:{self.unix_socket}"):
                raise OSError(f"cannot bind unix:{self.unix_socket}")
        await server.start()
        if self.unix_socket is not None:
            unix_socket.restrict(self.unix_socket, self.unix_socket_group)
        self.port = port
        if self.auth is not None:  # the :authority a signature may cover: Envoy's cluster name, or an address
            hosts = [self.host, *self.extra_hosts]
            self.auth.authorities = (ENVOY_AUTHORITY, *(f"{_host(h)}:{port}" for h in hosts), f"localhost:{port}")
        return server


def _host(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host
