"""Host mode benchmark: many meshes' proxies side by side on one machine, without root.

    python -m benchmarks.hostmode --meshes 2 --requests 500

Starts M copies of the colour app (tests/hostmode: gateway, front, blue, red, greeter, echo; every
node an app with its Envoy on a loopback block of its own) in one in-process appmesh-local, then:
- start: per proxy, from the call to its Envoy ACKing its configuration and (nodes) its app listening;
  and the reconciler's build of a mesh once all its placements are in;
- latency, one keep-alive client, R requests per path, interleaved:
  `gateway → front → colour (HTTP_PROXY)`: the front app reaches color.local through its Envoy's HTTP proxy
  (two hops in the front Envoy); `... (egress port)`: the front app connects to its egress address's
  port 8080 instead (one hop); `front only`: the client calls the front app through its Envoy's ingress;
- the gateway's way back into itself: the same gateway built twice as a static Envoy, its egress an
  internal listener (as generated) and a loopback TCP socket (App Mesh's 127.0.0.1:15001), both
  in front of one loopback app, requests alternated;
- memory: each Envoy's resident set.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
import uuid
from contextlib import ExitStack
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable

import psutil
import requests

from .harness import free_port
from .report import percentile, table, write_json

ROOT = Path(__file__).resolve().parents[1]
APPS = ROOT / "tests" / "hostmode" / "apps" / "mesh_apps.py"
MODES = {"blue": "colour", "red": "colour", "greeter": "greeter", "echo": "echo", "front": "front"}


def _summary(samples_ms: list[float]) -> dict[str, float]:
    ordered = sorted(samples_ms)
    return {
        "n": len(ordered),
        "p50_ms": round(statistics.median(ordered), 3),
        "p90_ms": round(percentile(ordered, 0.9), 3),
        "p99_ms": round(percentile(ordered, 0.99), 3),
    }


def _timed(session: requests.Session, url: str, check: Callable[[requests.Response], bool]) -> float:
    started = time.perf_counter()
    reply = session.get(url, timeout=10)
    elapsed = (time.perf_counter() - started) * 1000
    if not check(reply):
        raise RuntimeError(f"{url}: {reply.status_code} {reply.text[:200]}")
    return elapsed


def start_meshes(server: Any, count: int, stack: ExitStack, logs: Path) -> tuple[list[dict[str, Any]], list[dict]]:
    """Create and start `count` colour meshes; per mesh name → MeshApp/MeshEnvoy, and each start's timing."""
    from appmesh_local.testing import start_app, start_envoy
    from tests.hostmode import colourmesh

    client, run = server.client(), uuid.uuid4().hex[:6]
    meshes, starts = [], []
    for index in range(count):
        mesh = f"bench-{run}-{index}"
        colourmesh.create(client, mesh)
        proxies: dict[str, Any] = {"mesh": mesh}
        for node in colourmesh.NODES:
            argv = [sys.executable, str(APPS), MODES[node], *([] if node == "front" else [node])]
            started = time.perf_counter()
            app = start_app(server, mesh, node, argv, env={"APP_LOG": str(logs / f"{mesh}-{node}.log")})
            starts.append({"mesh": mesh, "proxy": node, "ms": (time.perf_counter() - started) * 1000})
            stack.callback(app.stop)
            proxies[node] = app
        started = time.perf_counter()
        gateway = start_envoy(server, mesh, virtual_gateway="gw", host=True)
        starts.append({"mesh": mesh, "proxy": "gw", "ms": (time.perf_counter() - started) * 1000})
        stack.callback(gateway.stop)
        proxies["gw"] = gateway
        meshes.append(proxies)
    for proxies in meshes:
        for name, proxy in proxies.items():
            if name != "mesh":
                getattr(proxy, "envoy", proxy).wait_synced()
    return meshes, starts


def latencies(meshes: list[dict[str, Any]], requests_per_path: int) -> dict[str, dict[str, float]]:
    from tests.hostmode.colourmesh import GATEWAY_PORT

    session = requests.Session()
    session.trust_env = False
    colour = lambda r: r.status_code == 200 and r.json().get("status") == 200  # noqa: E731
    paths = {
        "gateway → front → colour (HTTP_PROXY)": lambda m: f"http://{m['gw'].address}:{GATEWAY_PORT}/colour",
        "gateway → front → colour (egress port)": lambda m: f"http://{m['gw'].address}:{GATEWAY_PORT}/colour-direct",
        "front only (its Envoy's ingress)": lambda m: f"{m['front'].url('/none')}",
    }
    samples: dict[str, list[float]] = {name: [] for name in paths}
    for name, url in paths.items():  # warm-up: connections and DNS caches
        for mesh in meshes:
            for _ in range(5):
                _timed(session, url(mesh), colour if "colour" in name else lambda r: r.status_code == 200)
    for _ in range(requests_per_path):
        for name, url in paths.items():
            for mesh in meshes:
                samples[name].append(
                    _timed(session, url(mesh), colour if "colour" in name else lambda r: r.status_code == 200)
                )
    return {name: _summary(values) for name, values in samples.items()}


class _Answer(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def do_GET(self) -> None:  # noqa: N802
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: object) -> None:
        pass


def self_redirect(requests_per_way: int, workdir: Path) -> dict[str, dict[str, float]]:
    """The generated gateway (egress: an internal listener) against the same gateway whose egress is a
    loopback TCP socket, as App Mesh's 127.0.0.1:15001 was; both static, in front of one app.
    Latency per request, and each gateway Envoy's own CPU per request (steadier on a busy machine)."""
    from appmesh_local.bridge.build import build_mesh_config
    from appmesh_local.export.static import static_bootstrap
    from appmesh_local.proxy.process import EnvoyProcess
    from appmesh_local.translate.loader import snapshot_from_document

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Answer)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    app_port = httpd.server_address[1]
    document = {
        "mesh": {"meshName": "redirect", "spec": {}},
        "virtualNodes": [
            {
                "virtualNodeName": "app",
                "spec": {
                    "listeners": [{"portMapping": {"port": app_port, "protocol": "http"}}],
                    "serviceDiscovery": {"dns": {"hostname": "127.0.0.1"}},
                },
            }
        ],
        "virtualServices": [
            {"virtualServiceName": "app.local", "spec": {"provider": {"virtualNode": {"virtualNodeName": "app"}}}}
        ],
        "virtualGateways": [
            {"virtualGatewayName": "gw", "spec": {"listeners": [{"portMapping": {"port": 1, "protocol": "http"}}]}}
        ],
        "gatewayRoutes": [
            {
                "gatewayRouteName": "all",
                "virtualGatewayName": "gw",
                "spec": {
                    "httpRoute": {
                        "match": {"prefix": "/"},
                        "action": {"target": {"virtualService": {"virtualServiceName": "app.local"}}},
                    }
                },
            }
        ],
    }
    ways: dict[str, int] = {}
    processes: dict[str, psutil.Process] = {}
    with ExitStack() as stack:
        stack.callback(httpd.shutdown)
        for way in ("internal listener", "TCP 127.0.0.1"):
            port = free_port()
            document["virtualGateways"][0]["spec"]["listeners"][0]["portMapping"]["port"] = port
            config = build_mesh_config(snapshot_from_document(document), bind_address="127.0.0.1")
            bootstrap = static_bootstrap(config.proxies[("virtualGateway", "gw")], "redirect", "1", "r", admin_port=0)
            if way.startswith("TCP"):
                _egress_on_tcp(bootstrap, free_port())
            envoy = EnvoyProcess(bootstrap, log_level="error", workdir=workdir / way.replace(" ", "-"))
            stack.enter_context(envoy)
            assert envoy.proc is not None
            ways[way], processes[way] = port, psutil.Process(envoy.proc.pid)
        session = requests.Session()
        session.trust_env = False
        samples: dict[str, list[float]] = {way: [] for way in ways}
        ok = lambda r: r.status_code == 200  # noqa: E731
        for port in ways.values():
            for _ in range(20):
                _timed(session, f"http://127.0.0.1:{port}/", ok)
        cpu = {way: _cpu(process) for way, process in processes.items()}
        for _ in range(requests_per_way):
            for way, port in ways.items():
                samples[way].append(_timed(session, f"http://127.0.0.1:{port}/", ok))
        cpu = {way: (_cpu(processes[way]) - before) * 1000 / requests_per_way for way, before in cpu.items()}
    return {
        way: {**_summary(values), "envoy_cpu_ms_per_request": round(cpu[way], 4)} for way, values in samples.items()
    }


def _cpu(process: psutil.Process) -> float:
    times = process.cpu_times()
    return times.user + times.system


def _egress_on_tcp(bootstrap: dict[str, Any], port: int) -> None:
    """Turn the gateway's internal egress listener into a socket on 127.0.0.1:`port` (App Mesh's shape)."""
    for listener in bootstrap["static_resources"]["listeners"]:
        if "internal_listener" in listener:
            del listener["internal_listener"]
            listener["address"] = {"socket_address": {"address": "127.0.0.1", "port_value": port}}
    for cluster in bootstrap["static_resources"]["clusters"]:
        for group in cluster.get("load_assignment", {}).get("endpoints", []):
            for endpoint in group.get("lb_endpoints", []):
                address = endpoint["endpoint"]["address"]
                if "envoy_internal_address" in address:
                    endpoint["endpoint"]["address"] = {"socket_address": {"address": "127.0.0.1", "port_value": port}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--meshes", type=int, default=2)
    parser.add_argument("--requests", type=int, default=500, help="per path and mesh")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)

    from appmesh_local.testing import serve_in_thread

    with tempfile.TemporaryDirectory(prefix="bench-hostmode-") as tmp, ExitStack() as stack:
        workdir = Path(tmp)
        server = stack.enter_context(serve_in_thread())
        started = time.perf_counter()
        meshes, starts = start_meshes(server, args.meshes, stack, workdir)
        total_start_s = time.perf_counter() - started
        builds = {m["mesh"]: m.get("duration_ms") for m in server.status()["meshes"]}
        rss = [
            psutil.Process(getattr(p, "envoy", p).process.proc.pid).memory_info().rss / 2**20
            for mesh in meshes
            for name, p in mesh.items()
            if name != "mesh"
        ]
        paths = latencies(meshes, args.requests)
        redirect = self_redirect(args.requests, workdir)

    start_ms = sorted(s["ms"] for s in starts)
    print(f"\n{len(starts)} proxies in {args.meshes} meshes started in {total_start_s:.1f} s")
    print(
        table(
            ["start, per proxy", "median ms", "max ms", "mesh build with placements, ms", "Envoy RSS median MB"],
            [
                [
                    len(start_ms),
                    statistics.median(start_ms),
                    start_ms[-1],
                    max(builds.values() or [0]),
                    statistics.median(rss),
                ]
            ],
        )
    )
    rows = [
        [name, s["n"], s["p50_ms"], s["p90_ms"], s["p99_ms"], s.get("envoy_cpu_ms_per_request")]
        for name, s in {**paths, **{f"gateway self-redirect: {k}": v for k, v in redirect.items()}}.items()
    ]
    print("\n" + table(["path", "requests", "p50 ms", "p90 ms", "p99 ms", "gateway Envoy CPU ms/request"], rows))
    document = {
        "load_average": list(psutil.getloadavg()),
        "meshes": args.meshes,
        "proxies": len(starts),
        "start_total_s": round(total_start_s, 2),
        "starts": starts,
        "mesh_build_ms": builds,
        "envoy_rss_mb": rss,
        "latency": paths,
        "gateway_self_redirect": redirect,
    }
    path = write_json("hostmode", document, args.out)
    print(f"\nwrote {path}")
    print(json.dumps({k: document[k] for k in ("start_total_s", "latency", "gateway_self_redirect")}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
