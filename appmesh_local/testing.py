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
import os
import shutil
import tempfile
import time
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Mapping

from appmesh_local.server import AppMeshServer, ServerConfig
from appmesh_local.service.context import DEFAULT_ACCOUNT, DEFAULT_REGION
from appmesh_local.store.records import VIRTUAL_GATEWAY, VIRTUAL_NODE

if TYPE_CHECKING:
    # Type names only: boto3's client is typed when the optional `types-boto3-appmesh` stubs are installed.
    from types_boto3_appmesh import AppMeshClient

    from appmesh_local.bridge.runtime import XdsRuntime
    from appmesh_local.proxy.process import EnvoyProcess
    from appmesh_local.xds.node_id import ProxyRef
    from appmesh_local.xds.snapshot import Snapshot

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
        return self.server.api_port

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
        return self.server.config.listener_bind_address

    @property
    def xds(self) -> XdsRuntime:
        """The running xDS runtime (snapshot cache, reconciler, status); ValueError without xDS."""
        if self.server.xds is None or self.server.xds.reconciler is None:
            raise ValueError("this appmesh-local server runs without xDS")
        return self.server.xds

    def client(self, region: str = DEFAULT_REGION, access_key: str = TEST_ACCESS_KEY, **config: Any) -> AppMeshClient:
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

    def status(self, access_key: str = TEST_ACCESS_KEY, secret_key: str = TEST_SECRET_KEY) -> dict[str, Any]:
        """The xDS status document (connected proxies, ACK/NACK, problems) as JSON data.

        Signed with the given key, as `serve --require-sigv4` asks (and then scoped to its account).
        """
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest
        from botocore.credentials import Credentials

        url = f"{self.endpoint}/_appmesh-local/status"
        signed = AWSRequest(method="GET", url=url)
        SigV4Auth(Credentials(access_key, secret_key), "appmesh", "us-east-1").add_auth(signed)
        request = urllib.request.Request(url, headers=dict(signed.headers.items()))
        with urllib.request.urlopen(request, timeout=5) as response:
            status: dict[str, Any] = json.loads(response.read())
            return status

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


class AddressInUse(RuntimeError):
    """A listener of the proxy needs an address:port that something else on this machine holds."""


class MeshEnvoy:
    """A real Envoy configured over xDS by an in-process server, as one virtual node or gateway.

    Everything `EnvoyProcess` offers (pid, admin_url, workdir, config_dump(), stats(), log_text())
    is available on this object too; `with start_envoy(...) as envoy:` stops it at the end.
    It cannot outlive this process: if the process ends without stopping it, its supervisor does.
    In host mode (`placement` set) it holds its loopback addresses until `stop()`.
    """

    def __init__(self, server: InProcessServer, process: EnvoyProcess, proxy: ProxyRef, lease: Any = None) -> None:
        self.server = server
        self.process = process
        self.proxy = proxy
        self.lease = lease  # proxy.host.Lease in host mode
        self._stopped = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self.process, name)

    def __enter__(self) -> MeshEnvoy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def node_id(self) -> str:
        return self.proxy.short_id()

    @property
    def placement(self) -> Any:
        """The proxy's `HostPlacement` in host mode, else None."""
        return self.lease.placement if self.lease is not None else None

    @property
    def address(self) -> str | None:
        """Host mode: the task address (ingress on the node's or gateway's listener ports)."""
        return self.placement.address if self.placement is not None else None

    def stop(self) -> int | None:
        """Stop Envoy and give its addresses back (idempotent); Envoy's exit status."""
        code = self.process.stop()
        if not self._stopped:
            self._stopped = True
            xds = self.server.server.xds
            if self.proxy.placement and xds is not None:
                xds.cache.unwant(self.proxy)
            if self.lease is not None:
                self.lease.release()
        return code

    def wait_synced(self, timeout: float = 15.0) -> dict[str, str]:
        """Wait until Envoy has ACKed the server's current config for this proxy; return its versions.

        Call again after changing the mesh. Raises ProxyNotConfigured when the server
        has nothing for this proxy, RuntimeError on a NACK (a listener that cannot bind
        included), TimeoutError otherwise.
        """
        xds = self.server.xds
        deadline = time.monotonic() + timeout
        assert xds.reconciler is not None
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

    def _acked(self) -> tuple[dict[str, str | None], str | None]:
        """ACKed versions of this proxy's live stream, and a NACK of the current versions if any."""
        for stream in reversed(self.server.xds.status.snapshot()["proxies"]):
            if (stream.get("mesh"), stream.get("kind"), stream.get("name"), stream.get("placement") or "") != (
                self.proxy.mesh,
                self.proxy.kind,
                self.proxy.name,
                self.proxy.placement,
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


def _versions_to_ack(snapshot: Snapshot) -> dict[str, str]:
    """Types Envoy will hold: listeners and clusters always, the others when they have resources."""
    from appmesh_local.xds.snapshot import SHORT_TYPE_NAMES, WILDCARD_TYPES

    return {
        SHORT_TYPE_NAMES[type_url]: ts.version
        for type_url, ts in snapshot.types.items()
        if type_url in WILDCARD_TYPES or ts.resources
    }


def _check_listener_ports(server: InProcessServer, proxy: ProxyRef, timeout: float = 3.0) -> None:
    """Refuse to start when a listener's address stays taken for `timeout` seconds, with a message
    naming the listener and the address, rather than let Envoy come up with some listeners and not
    others (its NACK would be a vaguer failure)."""
    from envoy.config.listener.v3 import listener_pb2

    from appmesh_local.xds.proxy_config import LISTENER

    xds = server.xds
    assert xds.reconciler is not None
    xds.reconciler.flush(timeout)
    snapshot = xds.cache.get(proxy)
    if snapshot is None or LISTENER not in snapshot.types:
        return  # nothing configured yet: wait_synced reports it
    deadline = time.monotonic() + timeout
    for resource in snapshot.types[LISTENER].resources.values():
        listener = resource.message
        assert isinstance(listener, listener_pb2.Listener)
        if listener.HasField("internal_listener"):
            continue  # binds nothing
        for address in [listener.address, *(a.address for a in listener.additional_addresses)]:
            where = address.socket_address
            while (error := _bind_error(where.address, where.port_value)) is not None:
                if time.monotonic() > deadline:
                    hint = (
                        "something else on this machine listens there; give another address= or leave it out "
                        "to get a free one"
                        if proxy.placement
                        else "App Mesh's placement gives every such proxy the same ports (a virtual node's "
                        "15000/15001): start it in host mode (host=True), or stop the other first"
                    )
                    raise AddressInUse(
                        f"{proxy.short_id()}: listener {resource.name} cannot bind "
                        f"{where.address}:{where.port_value}: it is in use ({error}); {hint}"
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
    account: str = DEFAULT_ACCOUNT,
    region: str = DEFAULT_REGION,
    wait: bool = True,
    timeout: float = 30.0,
    log_level: str = "warning",
    host: bool | None = None,
    address: str | None = None,
    environment: Mapping[str, str] | None = None,
) -> MeshEnvoy:
    """Start Envoy for one virtual node or gateway of `mesh`, bootstrapped to `server`'s xDS port.

    `host`: run it in host mode, on loopback addresses of its own (docs/host-mode.md), so any
    number of proxies share this machine and carry traffic without iptables. The default is host
    mode for a virtual node (App Mesh's placement needs interception and the same 15000/15001 for
    every node) and App Mesh's placement for a gateway (its listeners on the server's listener
    address, e.g. 127.0.0.1:<port>). `address` (implies host mode) chooses the task address;
    otherwise a free block is taken.
    `environment` is the App Mesh Envoy image's variables, as in a task definition's environment
    block (ENABLE_ENVOY_STATS_TAGS, ENABLE_ENVOY_XRAY_TRACING, ENVOY_ADMIN_ACCESS_PORT, ...;
    docs/envoy-image-variables.md); the process's own environment is not read. The admin interface
    takes a free loopback port unless ENVOY_ADMIN_ACCESS_PORT names one.
    With `wait`, return only once Envoy has applied the proxy's current configuration.
    A listener address that something else holds raises AddressInUse within a few seconds.
    The caller must `stop()` it.
    """
    from appmesh_local.proxy.bootstrap import render_bootstrap
    from appmesh_local.proxy.host import lease as host_lease
    from appmesh_local.proxy.image_env import ImageEnv, proxy_identity
    from appmesh_local.proxy.process import EnvoyProcess
    from appmesh_local.xds.node_id import ProxyRef

    if (virtual_node is None) == (virtual_gateway is None):
        raise ValueError("give exactly one of virtual_node= or virtual_gateway=")
    if server.xds_port is None:
        raise ValueError("this appmesh-local server runs without xDS")
    kind, name = (VIRTUAL_NODE, virtual_node) if virtual_node else (VIRTUAL_GATEWAY, virtual_gateway)
    assert name is not None
    image = ImageEnv.from_environ(environment or {})
    if image.admin_uds:
        raise ValueError("ENVOY_ADMIN_MODE=uds: appmesh-local reaches Envoy's admin over TCP")
    identity = proxy_identity(image, mesh, kind, name)
    account = identity.account or account
    if host is None:
        host = address is not None or kind == "virtualNode"
    elif address is not None and not host:
        raise ValueError("address= places the proxy in host mode; it cannot go with host=False")
    lease = host_lease(address) if host else None
    placement = lease.placement if lease is not None else None
    proxy = ProxyRef(account, region, mesh, kind, name, placement.key() if placement is not None else "")
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
        host=placement,
        image=image,
        admin_access_log=None,  # EnvoyProcess keeps it in its own directory
    )
    process = EnvoyProcess(bootstrap, log_level=image.log_level or log_level, concurrency=image.concurrency or 1)
    envoy = MeshEnvoy(server, process, proxy, lease)
    # A placed proxy's snapshot is built now (the address check reads it) and stays wanted, as a
    # host-mode instance of its node, until stop(): a reconnecting Envoy keeps its place meanwhile.
    server.xds.cache.want(proxy)
    try:
        _check_listener_ports(server, proxy)
        envoy.process.start(wait_live=False, timeout=timeout)
        if wait:
            envoy.wait_synced(timeout)
            envoy.process.wait_live(timeout)
    except BaseException:
        envoy.stop()
        raise
    return envoy


# ---- apps with their sidecars ------------------------------------------------------------------
class MeshApp:
    """An app process and its Envoy sidecar in host mode: what `appmesh-local run` starts, in-process.

    `address` is where others reach the node (its Envoy's ingress on the listener ports),
    `app_address` where the app listens, `egress_address` the app's way to its backends;
    `env` is the environment the app got (README "Host mode"). `stop()` ends both.
    """

    def __init__(self, envoy: MeshEnvoy, process: Any, env: dict[str, str], ports: list[int], workdir: Path) -> None:
        self.envoy = envoy
        self.process = process
        self.env = env
        self.ports = ports
        self.workdir = workdir

    @property
    def placement(self) -> Any:
        return self.envoy.placement

    @property
    def address(self) -> str:
        return str(self.envoy.placement.address)

    @property
    def app_address(self) -> str:
        return str(self.envoy.placement.app_address)

    @property
    def egress_address(self) -> str:
        return str(self.envoy.placement.egress_address)

    @property
    def log_path(self) -> Path:
        return self.workdir / "app.log"

    def url(self, path: str = "/", port: int | None = None) -> str:
        """http://<address>:<port><path>: the node as its clients reach it, through its Envoy."""
        return f"http://{self.address}:{port or self.ports[0]}{path}"

    def alive(self) -> bool:
        return self.process.poll() is None and self.envoy.alive()

    def __enter__(self) -> MeshApp:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def log_text(self) -> str:
        """What the app wrote to stdout and stderr so far."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self) -> int | None:
        """Stop the app (its whole process group), then its Envoy; the app's exit status."""
        from appmesh_local.proxy.app import stop_app

        try:
            code = stop_app(self.process)
        finally:
            self.envoy.stop()
            shutil.rmtree(self.workdir, ignore_errors=True)
        return code


def start_app(
    server: InProcessServer,
    mesh: str,
    virtual_node: str,
    command: list[str],
    *,
    env: dict[str, str] | None = None,
    cwd: str | Path | None = None,
    address: str | None = None,
    account: str = "123456789012",
    region: str = "us-east-1",
    timeout: float = 30.0,
    log_level: str = "warning",
) -> MeshApp:
    """Start virtual node `virtual_node`'s Envoy in host mode, then `command` as its app.

    The app gets this process's environment, `env`, and host mode's variables (where to listen:
    APPMESH_LOCAL_APP_HOST and the listener ports, PORT when there is one; HTTP_PROXY and
    APPMESH_LOCAL_EGRESS_HOST to reach its backends). Returns once the app accepts connections
    on every listener port at its app address; raises (and stops both) when it exits or does not
    within `timeout`.
    """
    from appmesh_local.proxy.app import app_environment, stop_app, wait_listening
    from appmesh_local.proxy.app import start_app as start_process
    from appmesh_local.proxy.listeners import ingress_ports, listeners_dump

    envoy = start_envoy(
        server,
        mesh,
        virtual_node=virtual_node,
        account=account,
        region=region,
        timeout=timeout,
        log_level=log_level,
        host=True,
        address=address,
    )
    workdir = Path(tempfile.mkdtemp(prefix="appmesh-app-"))
    try:
        ports = ingress_ports(listeners_dump(envoy.admin_get))
        app_env = app_environment(envoy.placement, ports, envoy.admin_url, base={**os.environ, **(env or {})})
        with open(workdir / "app.log", "wb") as log:
            process = start_process(command, app_env, cwd=cwd, log=log, remove=[workdir])
        app = MeshApp(envoy, process, app_env, ports, workdir)
        closed = wait_listening(app.app_address, ports, timeout, alive=lambda: process.poll() is None)
        if process.poll() is not None or closed:
            status = process.poll()
            stop_app(process)
            what = (
                f"exited with status {status}"
                if status is not None
                else f"did not listen on {closed} within {timeout}s"
            )
            raise RuntimeError(
                f"the app of {envoy.node_id} ({' '.join(command)}) {what} (it must listen on "
                f"$APPMESH_LOCAL_APP_HOST={app.app_address}, ports {ports}); its output:\n{app.log_text()[-3000:]}"
            )
    except BaseException:
        envoy.stop()
        shutil.rmtree(workdir, ignore_errors=True)
        raise
    return app
