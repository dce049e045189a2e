"""appmesh-local inside the caller's process: for test suites and notebooks.

    from appmesh_local import serve_in_thread

    with serve_in_thread() as mesh_server:
        appmesh = mesh_server.client()
        appmesh.create_mesh(meshName="demo")

The API and the xDS server listen on free loopback ports, state lives in memory,
and leaving the block closes both ports and ends every thread the server started.
"""

from __future__ import annotations

import json
import time
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Mapping

from appmesh_local.server import AppMeshServer, ServerConfig

LOOPBACK = "127.0.0.1"
TEST_ACCESS_KEY = "testing"
TEST_SECRET_KEY = "testing"


@dataclass
class InProcessServer:
    """A running in-process appmesh-local: where to reach it, and how to stop it."""

    server: AppMeshServer

    @property
    def host(self) -> str:
        return self.server.config.host

    @property
    def api_port(self) -> int:
        return int(self.server.api_port)  # waitress reports the bound port as a string

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.api_port}"

    @property
    def xds_host(self) -> str:
        return self.server.config.xds_host

    @property
    def xds_port(self) -> int | None:
        """The port the ADS server bound (None when started without xDS)."""
        return self.server.xds.port if self.server.xds is not None else None

    @property
    def listener_bind_address(self) -> str:
        """Where the Envoys this server configures bind their listeners."""
        reconciler = getattr(self.server.xds, "reconciler", None)
        return getattr(reconciler, "bind_address", LOOPBACK)

    def client(self, region: str = "us-east-1", access_key: str = TEST_ACCESS_KEY, **config: Any) -> Any:
        """A boto3 App Mesh client bound to this server (any credentials work).

        A 12-digit `access_key` selects that account, as the server derives the
        account from the access key id. Extra keyword arguments go to botocore's Config.
        """
        import boto3
        from botocore.config import Config

        config.setdefault("retries", {"max_attempts": 1})
        return boto3.client(
            "appmesh",
            endpoint_url=self.endpoint,
            region_name=region,
            aws_access_key_id=access_key,
            aws_secret_access_key=TEST_SECRET_KEY,
            config=Config(**config),
        )

    def status(self) -> dict[str, Any]:
        """The xDS status document (connected proxies, ACK/NACK, problems) as JSON data."""
        with urllib.request.urlopen(f"{self.endpoint}/_appmesh-local/status", timeout=5) as response:
            return json.loads(response.read())

    def stop(self) -> None:
        """Close both ports and end every server thread (HTTP loop, workers, xDS, reconciler)."""
        self.server.stop()


def start_in_thread(
    *,
    xds: bool = True,
    state_dir: Path | None = None,
    host: str = LOOPBACK,
    listener_bind_address: str = LOOPBACK,
    api_port: int = 0,
    xds_port: int = 0,
) -> InProcessServer:
    """Start a server on daemon threads; the caller must `stop()` it. Port 0 = a free port.

    `listener_bind_address` is where the configured Envoys' listeners bind: loopback by
    default so a test's Envoy never listens on the machine's other interfaces.
    """
    config = ServerConfig(
        host=host,
        port=api_port,
        xds_host=host,
        xds_port=xds_port if xds else None,
        state_dir=state_dir,
        listener_bind_address=listener_bind_address,
    )
    server = AppMeshServer(config)
    try:
        server.start_background()
    except BaseException:
        server.stop()
        raise
    return InProcessServer(server)


@contextmanager
def serve_in_thread(
    *, xds: bool = True, state_dir: Path | None = None, host: str = LOOPBACK, listener_bind_address: str = LOOPBACK
) -> Iterator[InProcessServer]:
    """Run appmesh-local (API + xDS) in this process for the duration of the block.

    State is in memory unless `state_dir` is given; ports are chosen free on `host`.
    """
    running = start_in_thread(xds=xds, state_dir=state_dir, host=host, listener_bind_address=listener_bind_address)
    try:
        yield running
    finally:
        running.stop()


# ---- meshes ----------------------------------------------------------------------------------
def delete_mesh_tree(client: Any, mesh: str, **owner: str) -> None:
    """Delete `mesh` and everything in it, in the order App Mesh's in-use rules allow.

    Gateway routes before the services they target, routes before the nodes they
    target, services before their providers, the mesh last. `owner` may carry `meshOwner`.
    """

    def pages(operation: str, key: str, **params: Any) -> list[dict[str, Any]]:
        return [
            item
            for page in client.get_paginator(operation).paginate(meshName=mesh, **owner, **params)
            for item in page[key]
        ]

    for gateway in pages("list_virtual_gateways", "virtualGateways"):
        name = gateway["virtualGatewayName"]
        for route in pages("list_gateway_routes", "gatewayRoutes", virtualGatewayName=name):
            client.delete_gateway_route(
                meshName=mesh, virtualGatewayName=name, gatewayRouteName=route["gatewayRouteName"], **owner
            )
        client.delete_virtual_gateway(meshName=mesh, virtualGatewayName=name, **owner)
    for router in pages("list_virtual_routers", "virtualRouters"):
        name = router["virtualRouterName"]
        for route in pages("list_routes", "routes", virtualRouterName=name):
            client.delete_route(meshName=mesh, virtualRouterName=name, routeName=route["routeName"], **owner)
    for service in pages("list_virtual_services", "virtualServices"):
        client.delete_virtual_service(meshName=mesh, virtualServiceName=service["virtualServiceName"], **owner)
    for router in pages("list_virtual_routers", "virtualRouters"):
        client.delete_virtual_router(meshName=mesh, virtualRouterName=router["virtualRouterName"], **owner)
    for node in pages("list_virtual_nodes", "virtualNodes"):
        client.delete_virtual_node(meshName=mesh, virtualNodeName=node["virtualNodeName"], **owner)
    client.delete_mesh(meshName=mesh)


# ---- Envoy -----------------------------------------------------------------------------------
class ProxyNotConfigured(RuntimeError):
    """The server has no configuration for the proxy (no such node/gateway, or translation failed)."""


class MeshEnvoy:
    """A real Envoy configured over xDS by an in-process server, as one virtual node or gateway.

    Everything `EnvoyProcess` offers (pid, admin_url, workdir, config_dump(), stats(), log_text(),
    stop()) is available on this object too; `with start_envoy(...) as envoy:` stops it at the end.
    It cannot outlive this process: if the process ends without stopping it, its supervisor does.
    """

    def __init__(self, server: InProcessServer, process: Any, proxy: Any) -> None:
        self.server = server
        self.process = process
        self.proxy = proxy  # xds.node_id.ProxyRef

    def __getattr__(self, name: str) -> Any:
        return getattr(self.process, name)

    def __enter__(self) -> MeshEnvoy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.process.stop()

    @property
    def node_id(self) -> str:
        return self.proxy.short_id()

    def wait_synced(self, timeout: float = 15.0) -> dict[str, str]:
        """Wait until Envoy has ACKed the server's current config for this proxy; return its versions.

        Call again after changing the mesh. Raises ProxyNotConfigured when the server
        has nothing for this proxy, RuntimeError on a NACK, TimeoutError otherwise.
        """
        xds = self.server.server.xds
        deadline = time.monotonic() + timeout
        xds.reconciler.flush(timeout)
        snapshot = xds.cache.get(self.proxy)
        if snapshot is None:
            problems = [m for m in self.server.status().get("meshes", []) if m.get("mesh") == self.proxy.mesh]
            raise ProxyNotConfigured(
                f"appmesh-local has no configuration for {self.node_id}: {problems or 'no such mesh'}"
            )
        wanted = _versions_to_ack(snapshot)
        while True:
            self.process._check_running()
            acked, nack = self._acked()
            if nack:
                raise RuntimeError(f"Envoy rejected the config of {self.node_id}: {nack}")
            if all(acked.get(short) == version for short, version in wanted.items()):
                return wanted
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"Envoy for {self.node_id} did not apply {wanted} within {timeout}s "
                    f"(acked {acked})\n{self.process.log_text()[-3000:]}"
                )
            time.sleep(0.02)

    def _acked(self) -> tuple[dict[str, str | None], Any]:
        """ACKed versions of this proxy's live stream, and a NACK of the current versions if any."""
        for stream in reversed(self.server.server.xds.status.snapshot()["proxies"]):
            if (stream.get("mesh"), stream.get("kind"), stream.get("name")) != (
                self.proxy.mesh,
                self.proxy.kind,
                self.proxy.name,
            ):
                continue
            types = stream.get("types", {})
            acked = {short: info.get("acked_version") for short, info in types.items()}
            nacks = [
                info["last_nack"]
                for info in types.values()
                if info.get("last_nack") and info.get("sent_version") != info.get("acked_version")
            ]
            return acked, (nacks[0] if nacks else None)
        return {}, None


def _versions_to_ack(snapshot: Any) -> dict[str, str]:
    """Types Envoy will hold: listeners and clusters always, the others when they have resources."""
    from appmesh_local.xds.snapshot import SHORT_TYPE_NAMES, WILDCARD_TYPES

    return {
        SHORT_TYPE_NAMES[type_url]: ts.version
        for type_url, ts in snapshot.types.items()
        if type_url in WILDCARD_TYPES or ts.resources
    }


def _check_listener_ports(server: InProcessServer, proxy: Any, timeout: float = 5.0) -> None:
    """Refuse to start when a listener's address stays taken for `timeout` seconds, with a message
    naming it: a second proxy on App Mesh's fixed ports (15000/15001) cannot share them (listeners
    set enable_reuse_port false), so Envoy would only NACK its listener update, a vaguer failure."""
    from appmesh_local.xds.proxy_config import LISTENER

    xds = server.server.xds
    xds.reconciler.flush(timeout)
    snapshot = xds.cache.get(proxy)
    if snapshot is None or LISTENER not in snapshot.types:
        return  # nothing configured yet: wait_synced reports it
    deadline = time.monotonic() + timeout
    for resource in snapshot.types[LISTENER].resources.values():
        address = resource.message.address.socket_address
        while (error := _bind_error(address.address, address.port_value)) is not None:
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"{proxy.short_id()}: listener {resource.name} needs "
                    f"{address.address}:{address.port_value}, which is in use ({error}); "
                    f"App Mesh's ports allow one such proxy per machine: stop the other first"
                )
            time.sleep(0.1)


def _bind_error(host: str, port: int) -> str | None:
    """Why nobody else could listen on host:port now (None: free; TIME_WAIT leftovers do not count)."""
    import socket

    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            return exc.strerror or str(exc)
    return None


def envoy_available() -> str | None:
    """None when a real Envoy can be started here, else the reason it cannot."""
    try:
        from appmesh_local.proxy.process import envoy_binary

        binary = envoy_binary()
    except (ImportError, FileNotFoundError) as exc:
        return f"no Envoy binary ({exc})"
    if not binary.is_file():
        return f"no Envoy binary at {binary}"
    return None


def start_envoy(
    server: InProcessServer,
    mesh: str,
    *,
    virtual_node: str | None = None,
    virtual_gateway: str | None = None,
    account: str = "123456789012",
    region: str = "us-east-1",
    wait: bool = True,
    timeout: float = 30.0,
    log_level: str = "warning",
    environment: Mapping[str, str] | None = None,
) -> MeshEnvoy:
    """Start Envoy for one virtual node or gateway of `mesh`, bootstrapped to `server`'s xDS port.

    `environment` is the App Mesh Envoy image's variables, as in a task definition's environment
    block (ENABLE_ENVOY_STATS_TAGS, ENABLE_ENVOY_XRAY_TRACING, ENVOY_ADMIN_ACCESS_PORT, ...;
    docs/envoy-image-variables.md); the process's own environment is not read. The admin interface
    takes a free loopback port unless ENVOY_ADMIN_ACCESS_PORT names one. With `wait`, return only
    once Envoy has applied the proxy's current configuration. The caller must `stop()` it.
    """
    from appmesh_local.proxy.bootstrap import render_bootstrap
    from appmesh_local.proxy.image_env import ImageEnv, proxy_identity
    from appmesh_local.proxy.process import EnvoyProcess
    from appmesh_local.xds.node_id import ProxyRef

    if (virtual_node is None) == (virtual_gateway is None):
        raise ValueError("give exactly one of virtual_node= or virtual_gateway=")
    if server.xds_port is None:
        raise ValueError("this appmesh-local server runs without xDS")
    kind, name = ("virtualNode", virtual_node) if virtual_node else ("virtualGateway", virtual_gateway)
    assert name is not None
    image = ImageEnv.from_environ(environment or {})
    if image.admin_uds:
        raise ValueError("ENVOY_ADMIN_MODE=uds: appmesh-local reaches Envoy's admin over TCP")
    identity = proxy_identity(image, mesh, kind, name)
    account = identity.account or account
    proxy = ProxyRef(account, region, mesh, kind, name)
    bootstrap = render_bootstrap(
        mesh,
        kind,
        name,
        server.xds_host,
        server.xds_port,
        admin_port=image.admin_port if image.admin_port is not None else 0,
        account=account,
        region=region,
        node_id=identity.node_id,
        xds_token=server.server.xds_token(proxy),  # when the server authenticates its proxies
        image=image,
        admin_access_log=None,  # EnvoyProcess keeps it in its own directory
    )
    _check_listener_ports(server, proxy)
    process = EnvoyProcess(bootstrap, log_level=image.log_level or log_level, concurrency=image.concurrency or 1)
    envoy = MeshEnvoy(server, process, proxy)
    process.start(wait_live=False, timeout=timeout)
    try:
        if wait:
            envoy.wait_synced(timeout)
            process.wait_live(timeout)
    except BaseException:
        process.stop()
        raise
    return envoy
