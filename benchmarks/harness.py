"""Servers under test as child processes on loopback, with their CPU time and memory read by psutil."""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any

import psutil

from .meshgen import ACCOUNT, REGION, MeshShape, node_name

RDS = "type.googleapis.com/envoy.config.route.v3.RouteConfiguration"
EDS = "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment"

# Quotas high enough for any benchmark size (every quota name `serve --quota` accepts).
BENCH_QUOTAS = {
    "meshesPerAccount": 1000,
    "virtualNodesPerMesh": 100000,
    "virtualRoutersPerMesh": 100000,
    "virtualServicesPerMesh": 100000,
    "virtualGatewaysPerMesh": 100000,
    "routesPerVirtualRouter": 100000,
    "gatewayRoutesPerVirtualGateway": 100000,
    "backendsPerVirtualNode": 1000,
}


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class ServerUnderTest:
    """One HTTP server process: `argv` with `{port}` filled in, ready once `ready_path` answers."""

    name: str
    argv: list[str]
    ready_path: str
    port: int = field(default_factory=free_port)
    cwd: str | None = None  # where `python -m` resolves the package (a baseline checkout)
    proc: subprocess.Popen | None = None
    _ps: psutil.Process | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> ServerUnderTest:
        argv = [arg.replace("{port}", str(self.port)) for arg in self.argv]
        env = dict(os.environ, PYTHONPATH=self.cwd) if self.cwd else None
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=self.cwd, env=env)
        self._ps = psutil.Process(self.proc.pid)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}: {' '.join(argv)}")
            try:
                urllib.request.urlopen(self.endpoint + self.ready_path, timeout=1).close()
                return self
            except urllib.error.HTTPError:
                return self  # any HTTP answer means it is serving
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise TimeoutError(f"{self.name} did not start within {timeout} s")

    def cpu_seconds(self) -> float:
        """User + system CPU time of the server process, all threads included."""
        times = self._ps.cpu_times()
        return times.user + times.system

    def rss_bytes(self) -> int:
        return self._ps.memory_info().rss

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)


def appmesh_local(quotas: dict[str, int] | None = None, checkout: str | None = None) -> ServerUnderTest:
    """`appmesh-local serve --ephemeral --no-xds` with benchmark-sized quotas.

    `checkout`: a directory holding another version's `appmesh_local` package (e.g. a
    `git worktree` of an older commit), run instead of the installed one.
    """
    argv = [sys.executable, "-m", "appmesh_local", "serve", "--ephemeral", "--no-xds", "--port", "{port}"]
    for name, value in (quotas or BENCH_QUOTAS).items():
        argv += ["--quota", f"{name}={value}"]
    name = f"appmesh-local@{os.path.basename(checkout.rstrip('/'))}" if checkout else "appmesh-local"
    return ServerUnderTest(name, argv, "/_appmesh-local/health", cwd=checkout)


def moto() -> ServerUnderTest:
    """moto's standalone server (moto 5), which implements part of App Mesh."""
    return ServerUnderTest(
        "moto", [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", "{port}"], "/moto-api/"
    )


def null_server() -> ServerUnderTest:
    """The do-nothing server that gives boto3's own ceiling."""
    return ServerUnderTest("null", [sys.executable, "-m", "benchmarks.null_server", "--port", "{port}"], "/")


def start_gateway_envoys(mesh: str, xds_port: int, count: int) -> list[Any]:
    """`count` real Envoys for gateways gw-0, gw-1, ... of `mesh` (the gateways `meshgen` makes),
    each on the server's xDS port with an ephemeral admin port; all stopped if one fails to start."""
    from appmesh_local.proxy.bootstrap import render_bootstrap
    from appmesh_local.proxy.process import EnvoyProcess

    started: list[Any] = []
    try:
        for j in range(count):
            bootstrap = render_bootstrap(
                mesh,
                "virtualGateway",
                f"gw-{j}",
                "127.0.0.1",
                xds_port,
                admin_port=0,
                account=ACCOUNT,
                region=REGION,
            )
            started.append(EnvoyProcess(bootstrap, log_level="error").start(wait_live=False))
    except BaseException:
        for envoy in started:
            envoy.stop()
        raise
    return started


def add_shape_options(parser: argparse.ArgumentParser, nodes: int) -> None:
    """The `meshgen` shape's options (`--nodes`, `--routes-per-router`, `--backends`); see `shape_of`."""
    parser.add_argument("--nodes", type=int, default=nodes)
    parser.add_argument("--routes-per-router", type=int, default=10, help="routes per router (nodes/2 routers)")
    parser.add_argument("--backends", type=int, default=5, help="backends per virtual node")


def shape_of(args: argparse.Namespace) -> MeshShape:
    """The mesh shape `add_shape_options` asked for."""
    return MeshShape(nodes=args.nodes, routes_per_router=args.routes_per_router, backends=args.backends)


def stop_processes(procs: list[Any]) -> None:
    """Stop what a benchmark started: Envoys (`EnvoyProcess.stop`) and plain subprocesses (killed)."""
    for proc in procs:
        stop = getattr(proc, "stop", None)
        if stop is not None:
            stop()
        elif proc.poll() is None:
            proc.kill()
            proc.wait(10)


def client_node_names(shape: MeshShape, count: int) -> list[str]:
    """The virtual nodes the benchmarks' ADS clients stand in for: v1 and v2 of the first services."""
    return [node_name(i // 2 % shape.services, "v1" if i % 2 == 0 else "v2") for i in range(count)]


def client_spec(cache: Any, mesh: str, name: str) -> dict[str, Any]:
    """What an ADS client for virtual node `name` subscribes to, as Envoy would: RDS and EDS by the
    names in its proxy's snapshot in `cache` (a SnapshotCache), CDS and LDS wildcard."""
    from appmesh_local.xds.node_id import ProxyRef

    snap = cache.get(ProxyRef(ACCOUNT, REGION, mesh, "virtualNode", name))
    return {
        "node_id": f"mesh/{mesh}/virtualNode/{name}",
        "rds": sorted(snap.types[RDS].resources) if RDS in snap.types else [],
        "eds": sorted(snap.types[EDS].resources) if EDS in snap.types else [],
    }
