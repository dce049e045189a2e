"""Restart benchmark: `appmesh-local serve --state-dir` on a big saved state, until every proxy is served.

    python -m benchmarks.restart --nodes 10000 --clients 200 --envoys 2

The state directory is written first, in one transaction (the `benchmarks/meshgen.py` shape: N
virtual nodes, N/2 routers with `--routes-per-router` routes each, and one virtual gateway per
real Envoy). Then the real CLI starts as a child process, as a user would run it after a reboot,
and the clock runs from its launch:
- ready: the API's health check answers (the state is open, both ports listen);
- connected converged: the `--clients` lightweight ADS clients (benchmarks/ads_clients.py, another
  process) and the `--envoys` real Envoys, all started the moment the server is ready, have each
  ACKed the version of every type the server sent them (read from the server's status document);
- whole mesh built: the snapshot cache holds every proxy of the mesh.
RSS and CPU of the server process are read at each point (psutil).

The clients' subscriptions (route configuration and EDS names) are computed in this process by the
same builder, for those proxies only (a round with no budget beside them), before the clock starts.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import psutil

from appmesh_local.bridge.build import MeshConfigBuilder
from appmesh_local.store import Store
from appmesh_local.store.state_dir import DATABASE
from appmesh_local.translate import TranslateOptions
from appmesh_local.xds.cache import SnapshotCache

from .harness import (
    BENCH_QUOTAS,
    add_shape_options,
    client_node_names,
    client_spec,
    free_port,
    shape_of,
    start_gateway_envoys,
    stop_processes,
)
from .meshgen import ACCOUNT, REGION, MeshShape, populate
from .report import table, write_json

MB = 1024 * 1024


def write_state(state_dir: Path, shape: MeshShape) -> tuple[int, float]:
    """The saved state a restarted server finds: (resources, seconds to write them)."""
    started = time.perf_counter()
    store = Store(state_dir / DATABASE)
    try:
        count = populate(store, shape)
    finally:
        store.close()
    return count, time.perf_counter() - started


def client_specs(shape: MeshShape, clients: int, store_path: Path) -> list[dict[str, Any]]:
    """What each ADS client subscribes to, as Envoy would: CDS/LDS wildcard, RDS/EDS by the names the
    listeners and clusters of its proxy give. Only the clients' proxies are built (a budget of 0)."""
    names = client_node_names(shape, clients)
    wanted = {("virtualNode", name) for name in names}
    store = Store(store_path)
    try:
        snapshot = store.mesh_snapshot(ACCOUNT, REGION, shape.mesh)
    finally:
        store.close()
    config = MeshConfigBuilder(TranslateOptions(bind_address="127.0.0.1")).build(
        snapshot, first=wanted.__contains__, budget=0
    )
    cache = SnapshotCache()
    cache.apply_mesh_config(config)
    return [client_spec(cache, shape.mesh, name) for name in names]


def _status(port: int) -> dict[str, Any]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/_appmesh-local/status", timeout=10) as response:
        return json.loads(response.read())


def _converged(document: dict[str, Any], streams: int) -> bool:
    """Every one of `streams` connected proxies has ACKed what it was last sent, of every type sent."""
    done = 0
    for proxy in document["proxies"]:
        types = [t for t in proxy["types"].values() if t["sent_version"]]
        if len(types) >= 3 and all(t["acked_version"] == t["sent_version"] for t in types):
            done += 1
    return done >= streams


def _wait_health(port: int, proc: subprocess.Popen, deadline: float) -> None:
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited with {proc.returncode}")
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/_appmesh-local/health", timeout=1).close()
            return
        except OSError:
            time.sleep(0.01)
    raise TimeoutError("the server never became ready")


def restart(shape: MeshShape, clients: int, envoys: int, timeout: float) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="appmesh-restart-"))
    procs: list[Any] = []
    server: subprocess.Popen | None = None
    try:
        gateway_ports = tuple(free_port() for _ in range(envoys))
        shape = MeshShape(shape.nodes, shape.routes_per_router, shape.backends, shape.mesh, gateway_ports)
        state = workdir / "state"
        state.mkdir()
        resources, write_s = write_state(state, shape)
        specs = client_specs(shape, clients, state / DATABASE)
        api_port, xds_port = free_port(), free_port()
        (workdir / "clients.json").write_text(
            json.dumps({"target": f"127.0.0.1:{xds_port}", "max_seconds": timeout + 60, "clients": specs})
        )
        argv = [sys.executable, "-m", "appmesh_local", "serve", "--state-dir", str(state)]
        argv += ["--port", str(api_port), "--xds-port", str(xds_port), "--listener-bind-address", "127.0.0.1"]
        for name, value in BENCH_QUOTAS.items():
            argv += ["--quota", f"{name}={value}"]
        t0 = time.monotonic()
        server = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        ps = psutil.Process(server.pid)
        _wait_health(api_port, server, t0 + timeout)
        ready_s = time.monotonic() - t0
        ready_rss = ps.memory_info().rss / MB
        client_proc = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.ads_clients", str(workdir / "clients.json")],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        procs.append(client_proc)
        procs += start_gateway_envoys(shape.mesh, xds_port, envoys)
        streams = clients + envoys
        proxies = shape.nodes + envoys
        converged_s = built_s = None
        converged_rss = built_rss = converged_cpu = built_cpu = None
        deadline = t0 + timeout
        while time.monotonic() < deadline and (converged_s is None or built_s is None):
            document = _status(api_port)
            now = time.monotonic() - t0
            cpu = sum(ps.cpu_times()[:2])
            if converged_s is None and _converged(document, streams):
                converged_s, converged_rss, converged_cpu = now, ps.memory_info().rss / MB, cpu
            if built_s is None and document["server"]["proxies_in_cache"] >= proxies:
                built_s, built_rss, built_cpu = now, ps.memory_info().rss / MB, cpu
            time.sleep(0.05)
        final_rss = ps.memory_info().rss / MB
        client_proc.stdin.write("stop\n")
        client_proc.stdin.flush()
        out, _ = client_proc.communicate(timeout=60)
        received = json.loads(out)
        return {
            "resources_in_state": resources,
            "state_write_s": write_s,
            "clients": clients,
            "envoys": envoys,
            "ready_s": ready_s,
            "ready_rss_mb": ready_rss,
            "connected_converged_s": converged_s,
            "connected_converged_rss_mb": converged_rss,
            "connected_converged_cpu_s": converged_cpu,
            "whole_mesh_built_s": built_s,
            "whole_mesh_built_rss_mb": built_rss,
            "whole_mesh_built_cpu_s": built_cpu,
            "rss_after_mb": final_rss,
            "client_errors": received["errors"][:5],
        }
    finally:
        stop_processes(procs)
        if server is not None and server.poll() is None:
            server.terminate()
            try:
                server.wait(30)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait(10)
        shutil.rmtree(workdir, ignore_errors=True)


def render(document: dict[str, Any]) -> str:
    r = document["restart"]
    rows = [
        ["ready (health answers)", r["ready_s"], None, r["ready_rss_mb"]],
        [
            f"{r['clients']} ADS clients + {r['envoys']} Envoys converged",
            r["connected_converged_s"],
            r["connected_converged_cpu_s"],
            r["connected_converged_rss_mb"],
        ],
        ["whole mesh built", r["whole_mesh_built_s"], r["whole_mesh_built_cpu_s"], r["whole_mesh_built_rss_mb"]],
    ]
    shape = document["shape"]
    return "\n".join(
        [
            f"restart on {shape['nodes']} virtual nodes, {shape['routes']} routes "
            f"({r['resources_in_state']} resources in the state directory)",
            "",
            table(["since `serve --state-dir` was launched", "seconds", "server CPU s", "server RSS MB"], rows),
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="restart: serve --state-dir on a big state until all is served")
    add_shape_options(parser, nodes=10000)
    parser.add_argument("--clients", type=int, default=200, help="lightweight ADS clients")
    parser.add_argument("--envoys", type=int, default=2, help="real Envoys (virtual gateways)")
    parser.add_argument("--timeout", type=float, default=300, help="give up after this many seconds")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    shape = shape_of(args)
    document: dict[str, Any] = {
        "shape": {"nodes": shape.nodes, "routes": shape.routes, "backends_per_node": shape.backends},
        "restart": restart(shape, args.clients, args.envoys, args.timeout),
    }
    print(render(document))
    print(f"\nJSON: {write_json('restart', document, args.out)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
