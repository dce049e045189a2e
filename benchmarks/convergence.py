"""Convergence benchmark: from an API write acknowledged to every affected real Envoy having applied it.

    python -m benchmarks.convergence --sizes 10,100,1000 --envoys 1,3 --repeat 20

The colour app: virtual nodes `blue` and `green` (two loopback HTTP servers that
answer with their colour) behind router `colour` (one route, weights 100/0),
virtual service `colour.bench.local`, and E virtual gateways routing `/colour`
to it, each with a real Envoy. The rest of the mesh is filler, written into the
store in one transaction: the `benchmarks/meshgen.py` shape (N-2 virtual nodes
with 5 backends each, N/2 routers with 10 routes each), so a 10,000-node mesh
has 50,000 routes. Each update flips the route's weights with boto3
(UpdateRoute). Timed from the moment the call returns:
- ACK: the server's status records each ACK on the ADS stream as it arrives;
  the update counts once every gateway's stream has ACKed its new route
  configuration (no polling of Envoy's admin /stats);
- split: "control plane" = until the server sent the new version, "Envoy" = from
  that send to the ACK (Envoy's own apply time, loopback included);
- probe: a request through each gateway, repeated until it answers with the new colour.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import threading
import time
import urllib.request
from contextlib import ExitStack, contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Iterator

from .harness import BENCH_QUOTAS, free_port
from .meshgen import MeshShape, record, specs
from .report import table, write_json

ACCOUNT, REGION, MESH = "123456789012", "us-east-1", "colour"
SERVICE = "colour.bench.local"


class _Colour(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # header and body are two writes: no Nagle + delayed-ACK stall (~40 ms)

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        body = self.server.colour.encode()  # type: ignore[attr-defined]
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@contextmanager
def colour_server(colour: str) -> Iterator[int]:
    """An HTTP server on a free loopback port answering `colour`; shut down on exit."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Colour)
    httpd.colour = colour  # type: ignore[attr-defined]
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield httpd.server_address[1]
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


@contextmanager
def in_process_server() -> Iterator[Any]:
    """appmesh-local (API + xDS) on free loopback ports, Envoy listeners bound to 127.0.0.1."""
    from appmesh_local.cli import SERVE_SWITCH_INTERVAL_S
    from appmesh_local.server import AppMeshServer, ServerConfig
    from appmesh_local.service import Quotas

    quotas = Quotas.parse([f"{k}={v}" for k, v in BENCH_QUOTAS.items()])
    server = AppMeshServer(
        ServerConfig(
            host="127.0.0.1",
            port=0,
            xds_host="127.0.0.1",
            xds_port=0,
            state_dir=None,
            quotas=quotas,
            gc_freeze=True,  # as `appmesh-local serve` runs (this benchmark process is the server's)
        )
    )
    server.xds.reconciler.bind_address = "127.0.0.1"
    switch_interval = sys.getswitchinterval()
    sys.setswitchinterval(SERVE_SWITCH_INTERVAL_S)  # as `serve` runs: this process is the server's
    server.start_background()
    try:
        yield server
    finally:
        server.stop()
        sys.setswitchinterval(switch_interval)


def _route(blue: int) -> dict[str, Any]:
    return {
        "httpRoute": {
            "match": {"prefix": "/"},
            "action": {
                "weightedTargets": [
                    {"virtualNode": "blue", "weight": blue},
                    {"virtualNode": "green", "weight": 100 - blue},
                ]
            },
        }
    }


def write_filler(store: Any, nodes: int) -> None:
    """The rest of the mesh, written into the server's store in one transaction (as a restored state
    would be): the `benchmarks/meshgen.py` shape, so 10,000 nodes come with 50,000 routes. Through
    boto3 it would take minutes at 10,000 nodes and time nothing this benchmark measures."""
    filler = max(0, nodes - 2)
    if not filler:
        return
    shape = MeshShape(nodes=filler, mesh=MESH)
    with store.write() as tx:
        for kind, parent, name, spec in specs(shape)[1:]:  # the mesh itself exists already
            tx.put(record(shape, kind, parent, name, spec), "create")


def build_mesh(client: Any, nodes: int, colour_ports: dict[str, int], gateway_ports: list[int]) -> None:
    client.create_mesh(meshName=MESH)
    for colour, port in colour_ports.items():
        client.create_virtual_node(
            meshName=MESH,
            virtualNodeName=colour,
            spec={
                "listeners": [{"portMapping": {"port": port, "protocol": "http"}}],
                "serviceDiscovery": {"dns": {"hostname": "127.0.0.1"}},
            },
        )
    client.create_virtual_router(
        meshName=MESH,
        virtualRouterName="colour",
        spec={"listeners": [{"portMapping": {"port": 8080, "protocol": "http"}}]},
    )
    client.create_route(meshName=MESH, virtualRouterName="colour", routeName="colour", spec=_route(100))
    client.create_virtual_service(
        meshName=MESH, virtualServiceName=SERVICE, spec={"provider": {"virtualRouter": {"virtualRouterName": "colour"}}}
    )
    for j, port in enumerate(gateway_ports):
        client.create_virtual_gateway(
            meshName=MESH,
            virtualGatewayName=f"gw-{j}",
            spec={"listeners": [{"portMapping": {"port": port, "protocol": "http"}}]},
        )
        client.create_gateway_route(
            meshName=MESH,
            virtualGatewayName=f"gw-{j}",
            gatewayRouteName="colour",
            spec={
                "httpRoute": {
                    "match": {"prefix": "/colour"},
                    "action": {"target": {"virtualService": {"virtualServiceName": SERVICE}}},
                }
            },
        )


def probe(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/colour", timeout=2) as response:
        return response.read().decode()


def wait_probe(port: int, colour: str, timeout: float) -> float:
    """time.time() at which a request through the gateway first answered `colour`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if probe(port) == colour:
                return time.time()
        except OSError:
            pass
        time.sleep(0.001)
    raise TimeoutError(f"gateway on {port} never answered {colour}")


def _gateway_streams(status: Any) -> dict[str, Any]:
    return {s.proxy.name: s for s in status.streams() if s.proxy is not None and s.proxy.kind == "virtualGateway"}


def one_case(nodes: int, envoys: int, repeat: int, gc_freeze: bool = False) -> dict[str, Any]:
    from appmesh_local.proxy.bootstrap import render_bootstrap
    from appmesh_local.proxy.process import EnvoyProcess
    from appmesh_local.xds.node_id import ProxyRef

    from .api import client_for

    with ExitStack() as stack:
        ports = {c: stack.enter_context(colour_server(c)) for c in ("blue", "green")}
        server = stack.enter_context(in_process_server())
        client = client_for(server.endpoint)
        gateway_ports = [free_port() for _ in range(envoys)]
        build_mesh(client, nodes, ports, gateway_ports)
        write_filler(server.store, nodes)
        xds = server.xds
        if not xds.reconciler.flush(600):
            raise TimeoutError("the mesh was not built within 600 s")
        if gc_freeze:
            gc.collect()
            gc.freeze()  # experiment: long-lived objects out of the collector's reach (see docs/performance.md)
        proxies = [ProxyRef(ACCOUNT, REGION, MESH, "virtualGateway", f"gw-{j}") for j in range(envoys)]
        for j in range(envoys):
            bootstrap = render_bootstrap(
                MESH, "virtualGateway", f"gw-{j}", "127.0.0.1", xds.port, admin_port=0, account=ACCOUNT, region=REGION
            )
            envoy = EnvoyProcess(bootstrap, log_level="error")
            stack.callback(envoy.stop)
            envoy.start(wait_live=False)
        for port in gateway_ports:
            wait_probe(port, "blue", 60)
        runs = []
        for i in range(repeat):
            blue = 0 if i % 2 == 0 else 100
            colour = "blue" if blue else "green"
            before = {p: xds.cache.get(p).types[_RDS].version for p in proxies}
            client.update_route(meshName=MESH, virtualRouterName="colour", routeName="colour", spec=_route(blue))
            t0 = time.time()

            def applied(status: Any, before: dict[ProxyRef, Any] = before) -> bool:
                streams = _gateway_streams(status)
                for proxy in proxies:
                    snap = xds.cache.get(proxy)
                    version = snap.types[_RDS].version if snap else None
                    rds = streams[proxy.name].types.get("rds") if proxy.name in streams else None
                    if version == before[proxy] or rds is None or rds.acked_version != version:
                        return False
                return True

            if not xds.status.wait_for(applied, 30):
                raise TimeoutError(f"update {i} was not ACKed by every gateway")
            streams = _gateway_streams(xds.status)
            acks = [streams[p.name].types["rds"] for p in proxies]
            probes = [wait_probe(port, colour, 10) for port in gateway_ports]
            last_ack = max(a.acked_at for a in acks)
            runs.append(
                {
                    "ack_ms": (last_ack - t0) * 1e3,
                    "control_plane_ms": (max(a.last_push for a in acks) - t0) * 1e3,
                    "envoy_ms": max(a.acked_at - a.last_push for a in acks) * 1e3,
                    "probe_ms": (max(probes) - t0) * 1e3,
                }
            )
            time.sleep(0.05)
        proxies_in_mesh = len([p for p in xds.cache.proxies() if p.mesh == MESH])
    if gc_freeze:
        gc.unfreeze()
    return {
        "nodes": nodes,
        "envoys": envoys,
        "gc_freeze": gc_freeze,
        "proxies_in_mesh": proxies_in_mesh,
        "runs": runs,
        **{
            f"{stat}_{k}": fn(r[k] for r in runs)
            for k in ("ack_ms", "control_plane_ms", "envoy_ms", "probe_ms")
            for stat, fn in (("median", statistics.median), ("max", max))
        },
    }


_RDS = "type.googleapis.com/envoy.config.route.v3.RouteConfiguration"


def render(document: dict[str, Any]) -> str:
    rows = [
        [
            c["nodes"],
            c["envoys"],
            c["median_ack_ms"],
            c["max_ack_ms"],
            c["median_control_plane_ms"],
            c["median_envoy_ms"],
            c["median_ack_ms"] / c["median_envoy_ms"] if c["median_envoy_ms"] else None,
            c["median_probe_ms"],
            c["max_probe_ms"],
        ]
        for c in document["cases"]
    ]
    return table(
        [
            "virtual nodes",
            "Envoys",
            "ACK median ms",
            "ACK worst ms",
            "control plane median ms",
            "Envoy apply median ms",
            "total / Envoy",
            "probe median ms",
            "probe worst ms",
        ],
        rows,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="xDS convergence: API write to Envoy applied, with real Envoys")
    parser.add_argument("--sizes", default="10,100,1000", help="virtual nodes in the mesh, comma-separated")
    parser.add_argument("--envoys", default="1,3", help="real Envoys (virtual gateways), comma-separated")
    parser.add_argument("--repeat", type=int, default=20, help="updates per case")
    parser.add_argument(
        "--gc-freeze",
        action="store_true",
        help="an extra gc.freeze() once the mesh is built (the reconciler already freezes after builds >= 20 ms)",
    )
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    cases = [
        one_case(int(n), int(e), args.repeat, args.gc_freeze)
        for n in args.sizes.split(",")
        for e in args.envoys.split(",")
    ]
    document = {"repeat": args.repeat, "cases": cases}
    print(render(document))
    print(f"\nJSON: {write_json('convergence', document, args.out)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
