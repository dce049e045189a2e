"""Scale benchmark: translate + serialize a 1,000-node / 5,000-route mesh, then one route change,
then push that change to 200 connected ADS clients (and a few real Envoys).

    python -m benchmarks.scale --nodes 1000 --routes-per-router 10 --clients 200 --envoys 2

Part 1 runs the bridge's own code in this process, step by step, with CPU time per
step: read the mesh from the store (SQLite), translate and build protobufs
(`MeshConfigBuilder`, the reconciler's memo), and serialize + hash + pack into
the snapshot cache. A route change is timed twice: on a "typical" router (its
service is a backend of a few nodes) and on the "hot" one (every node's backend).
Part 2 starts the real xDS runtime (gRPC ADS + reconciler) on loopback, connects
lightweight SotW clients from another process (benchmarks/ads_clients.py) plus
real Envoys (virtual gateways), changes a hot route in the store, and waits for
every stream's ACK of the new route configuration (read from the server's
status, which records each ACK as it arrives).
"""

from __future__ import annotations

import argparse
import gc
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil

from appmesh_local.bridge.build import MeshConfigBuilder
from appmesh_local.bridge.reconciler import collector_paused, event_changes
from appmesh_local.bridge.secrets import NoSecrets
from appmesh_local.cli import SERVE_SWITCH_INTERVAL_S
from appmesh_local.store import Store
from appmesh_local.store.records import ChangeEvent
from appmesh_local.translate import TranslateOptions
from appmesh_local.translate.changes import NOTHING, MeshChanges
from appmesh_local.xds.cache import SnapshotCache
from appmesh_local.xds.node_id import ProxyRef

from .harness import (
    RDS,
    add_shape_options,
    client_node_names,
    client_spec,
    free_port,
    shape_of,
    start_gateway_envoys,
    stop_processes,
)
from .meshgen import ACCOUNT, REGION, MeshShape, change_route, populate
from .report import table, write_json

MB = 1024 * 1024


class Clock:
    """CPU (this process, all threads) and wall time of a block, in milliseconds."""

    def __enter__(self) -> Clock:
        self._cpu, self._wall = time.process_time(), time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.cpu_ms = (time.process_time() - self._cpu) * 1e3
        self.wall_ms = (time.perf_counter() - self._wall) * 1e3


def translation(shape: MeshShape, repeat: int, gc_freeze: bool = False, hot_only: bool = False) -> dict[str, Any]:
    """Part 1: full build, then route changes, each step timed separately (`hot_only`: no typical ones)."""
    store = Store()
    with Clock() as write:
        count = populate(store, shape)
    key = (ACCOUNT, REGION, shape.mesh)
    # The builder the reconciler keeps per mesh (`MemoTranslator`: ACM secrets resolved for every
    # proxy it builds; none of these proxies names any), so the CPU measured is the server's.
    builder = MeshConfigBuilder(TranslateOptions(bind_address="127.0.0.1"), secrets=NoSecrets())
    cache = SnapshotCache()
    with Clock() as read:
        snapshot = store.mesh_snapshot(*key)
    with collector_paused(gc_freeze):  # as the reconciler runs a build in `serve`
        with Clock() as build:
            config = builder.build(snapshot)
        with Clock() as serialize:
            update = cache.apply_mesh_config(config)
    resources = sum(len(by_name) for p in config.proxies.values() for by_name in p.resources.values())
    size = sum(
        len(r.data) for p in cache.proxies() for ts in cache.get(p).types.values() for r in ts.resources.values()
    )
    full = {
        "resources_in_store": count,
        "proxies": len(config.proxies),
        "envoy_resources": resources,
        "serialized_mb": size / MB,
        "store_write_ms": write.cpu_ms,
        "read_cpu_ms": read.cpu_ms,
        "build_cpu_ms": build.cpu_ms,
        "serialize_cpu_ms": serialize.cpu_ms,
        "total_cpu_ms": read.cpu_ms + build.cpu_ms + serialize.cpu_ms,
        "total_wall_ms": read.wall_ms + build.wall_ms + serialize.wall_ms,
        "proxies_changed": len(update.changed),
        "problems": len(config.problems),
    }
    pending = [NOTHING]  # what changed, collected from the store's events as the reconciler does

    def collect(event: ChangeEvent) -> None:
        found = event_changes(event)
        pending[0] |= found if found is not None else NOTHING

    store.subscribe(collect)
    changes = {}
    kinds = (("typical", min(7, shape.services - 1)), ("hot", 0))
    for label, service in kinds[1:] if hot_only else kinds:
        runs = []
        for i in range(repeat):
            # A new weight each time: a route set back to a weight it had before would make a change
            # that changes nothing (the 11th of 20/80 alternating on 10 routes did) and cost ~nothing.
            change_route(store, shape, service, i % shape.routes_per_router, 1 + i % 99)
            told: MeshChanges = pending[0]
            pending[0] = NOTHING
            with Clock() as read:
                snapshot = store.mesh_snapshot(*key)
            with collector_paused(gc_freeze):
                with Clock() as build:
                    config = builder.build(snapshot, changes=told)
                with Clock() as serialize:
                    update = cache.apply_mesh_config(config)
            runs.append(
                {
                    "read_cpu_ms": read.cpu_ms,
                    "build_cpu_ms": build.cpu_ms,
                    "serialize_cpu_ms": serialize.cpu_ms,
                    "total_cpu_ms": read.cpu_ms + build.cpu_ms + serialize.cpu_ms,
                    "proxies_changed": len(update.changed),
                }
            )
        changes[label] = {
            "runs": runs,
            **{
                f"median_{k}": statistics.median(r[k] for r in runs)
                for k in ("read_cpu_ms", "build_cpu_ms", "serialize_cpu_ms", "total_cpu_ms")
            },
            "max_total_cpu_ms": max(r["total_cpu_ms"] for r in runs),
            "proxies_changed": runs[0]["proxies_changed"],
        }
    store.close()
    if gc_freeze:
        gc.unfreeze()
    return {"full": full, "route_change": changes, "gc_freeze": gc_freeze}


def _rds_acked(runtime: Any, expected: dict[ProxyRef, str], at_least: int) -> tuple[bool, list[float]]:
    """Have `at_least` streams ACKed their proxy's expected RDS version? Return their ACK times too."""
    times = []
    for stream in runtime.status.streams():
        want = expected.get(stream.proxy) if stream.proxy is not None else None
        rds = stream.types.get("rds")
        if want is not None and rds is not None and rds.acked_version == want and rds.acked_at is not None:
            times.append(rds.acked_at)
    return len(times) >= at_least, times


def fan_out(
    shape: MeshShape, clients: int, envoys: int, repeat: int, gc_freeze: bool = False, delta: bool = False
) -> dict[str, Any]:
    """Part 2: the real runtime, `clients` ADS clients (incremental ones with `delta`) and `envoys`
    real Envoys, hot route changes; what each change put on the wire per client."""
    from appmesh_local.bridge.runtime import XdsRuntime

    gateway_ports = tuple(free_port() for _ in range(envoys))
    shape = MeshShape(shape.nodes, shape.routes_per_router, shape.backends, shape.mesh, gateway_ports)
    store = Store()
    populate(store, shape)
    # gc_freeze and the GIL switch interval as `appmesh-local serve` runs (this process is the server's):
    # the ADS streams' thread then takes the GIL back within 1 ms of each wait while rounds are built
    switch_interval = sys.getswitchinterval()
    sys.setswitchinterval(SERVE_SWITCH_INTERVAL_S)
    runtime = XdsRuntime(store, "127.0.0.1", free_port(), bind_address="127.0.0.1", gc_freeze=True).start()
    procs: list[Any] = []
    workdir = Path(tempfile.mkdtemp(prefix="appmesh-bench-"))
    try:
        if not runtime.reconciler.flush(300):
            raise TimeoutError("initial translation did not finish")
        if gc_freeze:
            gc.collect()
            gc.freeze()
        spec = {
            "delta": delta,
            "target": f"127.0.0.1:{runtime.port}",
            "max_seconds": 60 + 30 * repeat,
            "clients": [client_spec(runtime.cache, shape.mesh, name) for name in client_node_names(shape, clients)],
        }
        (workdir / "clients.json").write_text(json.dumps(spec))
        client_proc = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.ads_clients", str(workdir / "clients.json")],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        procs.append(client_proc)
        envoy_procs = start_gateway_envoys(shape.mesh, runtime.port, envoys)
        procs += envoy_procs
        streams = clients + envoys

        def expected_versions() -> dict[ProxyRef, str]:
            return {
                proxy: snap.types[RDS].version
                for proxy in runtime.cache.proxies()
                if (snap := runtime.cache.get(proxy)) is not None and RDS in snap.types
            }

        connected = runtime.status.wait_for(lambda s: _rds_acked(runtime, expected_versions(), streams)[0], 120)
        if not connected:
            raise TimeoutError("not every client ACKed its first configuration")
        runs = []
        me = psutil.Process()
        for i in range(repeat):
            if not runtime.reconciler.flush(300):  # the previous change's rounds are all done
                raise TimeoutError("the previous change was not built within 300 s")
            before = expected_versions()
            cpu0, t0, m0 = time.process_time(), time.time(), time.monotonic()
            change_route(store, shape, 0, i % shape.routes_per_router, 20 + 60 * (i % 2))

            def all_new(_: Any, before: dict[Any, Any] = before) -> bool:
                now = expected_versions()
                renewed = {p: v for p, v in now.items() if v != before.get(p)}
                return _rds_acked(runtime, renewed, streams)[0]

            ok = runtime.status.wait_for(all_new, 60)
            cpu = (time.process_time() - cpu0) * 1e3
            # a change that reaches more proxies than a round builds goes on in rounds after the
            # connected ones are served: the CPU of all of them
            runtime.reconciler.flush(300)
            cpu_all = (time.process_time() - cpu0) * 1e3
            _, acked = _rds_acked(runtime, expected_versions(), streams)
            envoy_acks = _envoy_ack_times(runtime, expected_versions())
            runs.append(
                {
                    "all_acked": ok,
                    "streams": len(acked),
                    "cpu_ms": cpu,
                    "cpu_all_rounds_ms": cpu_all,
                    "last_ack_ms": (max(acked) - t0) * 1e3 if acked else None,
                    "median_ack_ms": (statistics.median(acked) - t0) * 1e3 if acked else None,
                    "envoy_last_ack_ms": (max(envoy_acks) - t0) * 1e3 if envoy_acks else None,
                    "t0_monotonic": m0,
                }
            )
            time.sleep(0.2)
        rss = me.memory_info().rss / MB
        client_proc.stdin.write("stop\n")
        client_proc.stdin.flush()
        out, _ = client_proc.communicate(timeout=60)
        received = json.loads(out)
        ends = [r["t0_monotonic"] for r in runs[1:]] + [float("inf")]
        for run, end in zip(runs, ends):
            run["last_client_receive_ms"] = _last_receive(received, run["t0_monotonic"])
            run.update(_wire(received, run["t0_monotonic"], end))
        return {
            "clients": clients,
            "delta": delta,
            "envoys": envoys,
            "process_rss_mb": rss,
            "runs": runs,
            "client_errors": received["errors"][:5],
            "median_last_ack_ms": statistics.median(r["last_ack_ms"] for r in runs if r["last_ack_ms"] is not None),
            "max_last_ack_ms": max(r["last_ack_ms"] for r in runs if r["last_ack_ms"] is not None),
            "median_cpu_ms": statistics.median(r["cpu_ms"] for r in runs),
        }
    finally:
        stop_processes(procs)
        runtime.stop()
        store.close()
        shutil.rmtree(workdir, ignore_errors=True)
        sys.setswitchinterval(switch_interval)
        if gc_freeze:
            gc.unfreeze()


def _envoy_ack_times(runtime: Any, expected: dict[ProxyRef, str]) -> list[float]:
    times = []
    for stream in runtime.status.streams():
        if stream.proxy is not None and stream.proxy.kind == "virtualGateway":
            rds = stream.types.get("rds")
            if rds is not None and rds.acked_version == expected.get(stream.proxy) and rds.acked_at:
                times.append(rds.acked_at)
    return times


def _last_receive(received: dict[str, Any], t0: float) -> float | None:
    """Latest time (ms after t0) at which any client first received an RDS push after t0."""
    firsts = []
    for client in received["clients"]:
        after = [r[2] for r in client["received"] if r[0] == "rds" and r[2] >= t0]
        if after:
            firsts.append(min(after))
    return (max(firsts) - t0) * 1e3 if firsts else None


def _wire(received: dict[str, Any], start: float, end: float) -> dict[str, float]:
    """What one change put on the wire, per client (median): responses, resources in them, bytes."""
    counts = []
    for client in received["clients"]:
        window = [r for r in client["received"] if start <= r[2] < end]
        counts.append((len(window), sum(r[3] for r in window), sum(r[4] for r in window)))
    if not counts:
        return {}
    return {
        "responses_per_client": statistics.median(c[0] for c in counts),
        "resources_per_client": statistics.median(c[1] for c in counts),
        "kb_per_client": statistics.median(c[2] for c in counts) / 1024,
    }


def render(document: dict[str, Any]) -> str:
    lines: list[str] = []
    t = document.get("translation")
    if t:
        full = t["full"]
        rows: list[list[Any]] = [
            [
                "full mesh build",
                full["proxies"],
                full["read_cpu_ms"],
                full["build_cpu_ms"],
                full["serialize_cpu_ms"],
                full["total_cpu_ms"],
            ]
        ]
        for label, c in t["route_change"].items():
            rows.append(
                [
                    f"one route change ({label}), median",
                    c["proxies_changed"],
                    c["median_read_cpu_ms"],
                    c["median_build_cpu_ms"],
                    c["median_serialize_cpu_ms"],
                    c["median_total_cpu_ms"],
                ]
            )
        lines += [
            f"mesh: {document['shape']['nodes']} virtual nodes, {document['shape']['routes']} routes, "
            f"{full['envoy_resources']} Envoy resources ({full['serialized_mb']:.1f} MB serialized)",
            "",
            table(
                [
                    "what",
                    "proxies changed",
                    "read ms CPU",
                    "translate+build ms CPU",
                    "serialize ms CPU",
                    "total ms CPU",
                ],
                rows,
            ),
        ]
    f = document.get("fan_out")
    if f:
        frows = [
            [
                i + 1,
                r["streams"],
                r["cpu_ms"],
                r["cpu_all_rounds_ms"],
                r["median_ack_ms"],
                r["last_ack_ms"],
                r["envoy_last_ack_ms"],
                r.get("last_client_receive_ms"),
                r.get("resources_per_client"),
                r.get("kb_per_client"),
            ]
            for i, r in enumerate(f["runs"])
        ]
        lines += [
            "",
            f"fan-out: {f['clients']} {'incremental (delta)' if f.get('delta') else 'state-of-the-world'} ADS clients"
            f" + {f['envoys']} real Envoys; process RSS {f['process_rss_mb']:.0f} MB",
            table(
                [
                    "change",
                    "streams acked",
                    "server CPU ms until the last ACK",
                    "server CPU ms, all rounds",
                    "median ACK ms",
                    "last ACK ms",
                    "last Envoy ACK ms",
                    "last client receive ms",
                    "resources per client",
                    "KB per client",
                ],
                frows,
            ),
        ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="xDS scale benchmark: translation, serialization, fan-out")
    add_shape_options(parser, nodes=1000)
    parser.add_argument("--repeat", type=int, default=5, help="route changes per measurement")
    parser.add_argument("--clients", type=int, default=200, help="lightweight ADS clients (0: skip the fan-out part)")
    parser.add_argument("--envoys", type=int, default=2, help="real Envoys (virtual gateways) beside the clients")
    parser.add_argument(
        "--no-gc-freeze",
        dest="gc_freeze",
        action="store_false",
        help="leave the garbage collector on during builds (`serve` pauses it and freezes big builds)",
    )
    parser.add_argument("--delta", action="store_true", help="the ADS clients use incremental xDS (delta)")
    parser.add_argument("--no-translation", dest="translation", action="store_false", help="skip part 1")
    parser.add_argument(
        "--hot-only",
        action="store_true",
        help="part 1 times only hot changes (under callgrind, two --repeat values differ by that many hot changes)",
    )
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    shape = shape_of(args)
    document: dict[str, Any] = {
        "shape": {
            "nodes": shape.nodes,
            "routes": shape.routes,
            "services": shape.services,
            "backends_per_node": shape.backends,
        }
    }
    if args.translation:
        document["translation"] = translation(shape, args.repeat, args.gc_freeze, args.hot_only)
    if args.clients or args.envoys:
        document["fan_out"] = fan_out(shape, args.clients, args.envoys, args.repeat, args.gc_freeze, args.delta)
    print(render(document))
    print(f"\nJSON: {write_json('scale', document, args.out)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
