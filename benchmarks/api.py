"""API benchmark: one boto3 workload against appmesh-local, moto and a null server, interleaved step by step.

    python -m benchmarks.api --nodes 1000

Each step (create/describe/list/update/tag/delete of one kind) runs against
every server before the next step starts, in a rotating order, so drift of the
machine hits all of them alike. Per server and step: ops/s, p50/p99 latency of
the boto3 call, the server's CPU milliseconds per call (psutil, user+system, all
threads), and its RSS after the step. The null server answers `{}` at once: it
is boto3's own ceiling on this machine.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

from . import api_workload
from .api_workload import STEPS, Sizes, Step
from .harness import ServerUnderTest, appmesh_local, moto, null_server
from .report import percentile, table, write_json

MB = 1024 * 1024
SERVERS = {"appmesh-local": appmesh_local, "moto": moto, "null": null_server}


@dataclass
class StepResult:
    calls: int = 0
    errors: int = 0
    first_error: str | None = None
    seconds: float = 0.0
    cpu_seconds: float = 0.0
    rss_after: int = 0
    latencies: list[float] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        ordered = sorted(self.latencies)
        return {
            "calls": self.calls,
            "errors": self.errors,
            "first_error": self.first_error,
            "seconds": round(self.seconds, 6),
            "ops_per_s": self.calls / self.seconds if self.seconds else 0.0,
            "p50_ms": percentile(ordered, 0.50) * 1e3,
            "p90_ms": percentile(ordered, 0.90) * 1e3,
            "p99_ms": percentile(ordered, 0.99) * 1e3,
            "max_ms": (ordered[-1] if ordered else 0.0) * 1e3,
            "cpu_ms_per_call": self.cpu_seconds / self.calls * 1e3 if self.calls else 0.0,
            "rss_after_mb": self.rss_after / MB,
        }


def client_for(endpoint: str) -> Any:
    """The boto3 client a user would make: no retries, so every call is one request."""
    return boto3.client(
        "appmesh",
        endpoint_url=endpoint,
        region_name=api_workload.REGION,
        aws_access_key_id="bench",
        aws_secret_access_key="bench",
        config=Config(retries={"max_attempts": 1}),
    )


def run_step(step: Step, sizes: Sizes, server: ServerUnderTest, client: Any) -> StepResult:
    """Time every call of one step; a failed call counts as an error and the step goes on."""
    result = StepResult()
    calls = step.calls(client, sizes)
    cpu_before = server.cpu_seconds()
    started = time.perf_counter()
    response: Any = None
    try:
        call = next(calls)
        while True:
            t0 = time.perf_counter()
            try:
                response = call()
            except Exception as error:  # noqa: BLE001 - recorded: a benchmark that fails calls is invalid
                response = {}
                result.errors += 1
                result.first_error = result.first_error or f"{type(error).__name__}: {error}"
            result.latencies.append(time.perf_counter() - t0)
            call = calls.send(response)
    except StopIteration:
        pass
    result.seconds = time.perf_counter() - started
    result.cpu_seconds = server.cpu_seconds() - cpu_before
    result.calls = len(result.latencies)
    result.rss_after = server.rss_bytes()
    return result


def warm_up(client: Any, calls: int = 30) -> None:
    """Load botocore's model and open the keep-alive connection before anything is timed."""
    for _ in range(calls):
        client.list_meshes()


def run(sizes: Sizes, names: list[str], baseline: str | None = None) -> dict[str, Any]:
    servers = [SERVERS[name]() for name in names]
    if baseline:
        servers.append(appmesh_local(checkout=baseline))
    results: dict[str, dict[str, StepResult]] = {s.name: {} for s in servers}
    try:
        for server in servers:
            server.start()
        clients = {s.name: client_for(s.endpoint) for s in servers}
        for server in servers:
            warm_up(clients[server.name])
        for index, step in enumerate(STEPS):
            rotation = servers[index % len(servers) :] + servers[: index % len(servers)]
            for server in rotation:
                if server.name == "moto" and not step.common:
                    continue
                results[server.name][step.name] = run_step(step, sizes, server, clients[server.name])
    finally:
        for server in servers:
            server.stop()
    return summarize(sizes, results)


def _aggregate(steps: dict[str, StepResult], only_common: bool) -> dict[str, Any]:
    chosen = [r for name, r in steps.items() if not only_common or _is_common(name)]
    total = StepResult()
    for r in chosen:
        total.calls += r.calls
        total.errors += r.errors
        total.seconds += r.seconds
        total.cpu_seconds += r.cpu_seconds
        total.latencies += r.latencies
    summary = total.summary()
    summary.pop("rss_after_mb")
    return summary


def _is_common(step_name: str) -> bool:
    return next(s.common for s in STEPS if s.name == step_name)


def summarize(sizes: Sizes, results: dict[str, dict[str, StepResult]]) -> dict[str, Any]:
    servers: dict[str, Any] = {}
    for name, steps in results.items():
        servers[name] = {
            "common": _aggregate(steps, only_common=True),
            "all": _aggregate(steps, only_common=False) if name != "moto" else None,
            "rss_mb_0_nodes": steps[api_workload.EMPTY_MESHES].rss_after / MB
            if api_workload.EMPTY_MESHES in steps
            else None,
            "rss_mb_n_nodes": steps[api_workload.NODES_CREATED].rss_after / MB
            if api_workload.NODES_CREATED in steps
            else None,
            "steps": {step: r.summary() for step, r in steps.items()},
        }
    return {
        "sizes": {
            "nodes": sizes.nodes,
            "routers": sizes.routers,
            "routes": sizes.nodes,
            "gateways": sizes.gateways,
            "meshes": sizes.meshes,
            "list_rounds": sizes.list_rounds,
            "page": sizes.page,
        },
        "servers": servers,
        "comparison": compare(servers),
    }


def compare(servers: dict[str, Any]) -> dict[str, Any]:
    """The issue's targets as ratios measured in this run."""
    out: dict[str, Any] = {}
    local, mo, null = servers.get("appmesh-local"), servers.get("moto"), servers.get("null")
    if local and null:
        out["ops_vs_null_common"] = local["common"]["ops_per_s"] / null["common"]["ops_per_s"]
        out["ops_vs_null_all"] = local["all"]["ops_per_s"] / null["all"]["ops_per_s"]
        out["describe_mesh_vs_null"] = (
            local["steps"]["describe_mesh"]["ops_per_s"] / null["steps"]["describe_mesh"]["ops_per_s"]
        )
    if local and mo:
        out["cpu_moto_over_local"] = mo["common"]["cpu_ms_per_call"] / local["common"]["cpu_ms_per_call"]
        out["ops_local_over_moto"] = local["common"]["ops_per_s"] / mo["common"]["ops_per_s"]
        out["rss_n_nodes_local_over_moto"] = local["rss_mb_n_nodes"] / mo["rss_mb_n_nodes"]
    base = next((s for name, s in servers.items() if name.startswith("appmesh-local@")), None)
    if local and base:
        out["cpu_baseline_over_local"] = base["all"]["cpu_ms_per_call"] / local["all"]["cpu_ms_per_call"]
        out["ops_local_over_baseline"] = local["all"]["ops_per_s"] / base["all"]["ops_per_s"]
    return out


def render(document: dict[str, Any]) -> str:
    servers, n = document["servers"], document["sizes"]["nodes"]
    rows = []
    for name, s in servers.items():
        for scope in ("common", "all"):
            agg = s[scope]
            if agg is None:
                continue
            rows.append(
                [
                    name,
                    "common ops" if scope == "common" else "all ops",
                    agg["calls"],
                    agg["errors"],
                    agg["ops_per_s"],
                    agg["p50_ms"],
                    agg["p99_ms"],
                    agg["cpu_ms_per_call"],
                    s["rss_mb_0_nodes"],
                    s["rss_mb_n_nodes"],
                ]
            )
    summary = table(
        [
            "server",
            "workload",
            "calls",
            "errors",
            "ops/s",
            "p50 ms",
            "p99 ms",
            "server CPU ms/call",
            "RSS MB, 0 VNs",
            f"RSS MB, {n} VNs",
        ],
        rows,
    )
    names = list(servers)
    step_rows = []
    for step in STEPS:
        row: list[Any] = [step.name]
        for name in names:
            r = servers[name]["steps"].get(step.name)
            row += [r["ops_per_s"], r["p50_ms"], r["cpu_ms_per_call"]] if r else [None, None, None]
        step_rows.append(row)
    step_headers = ["step"] + [f"{name} {what}" for name in names for what in ("ops/s", "p50 ms", "CPU ms")]
    lines = [summary, "", table(step_headers, step_rows), ""]
    for key, value in document["comparison"].items():
        lines.append(f"{key}: {value:.2f}")
    headline = cpu_headline(servers)
    if headline:
        lines += ["", headline]
    return "\n".join(lines)


CPU_TARGET = 8  # the target: appmesh-local's server CPU per call at most 1/8 of moto's


def cpu_headline(servers: dict[str, Any]) -> str | None:
    """Server CPU per call against moto's, over the calls both implement, and whether it meets the target."""
    local, mo = servers.get("appmesh-local"), servers.get("moto")
    if not local or not mo or not local["common"]["cpu_ms_per_call"]:
        return None
    ours, theirs = local["common"]["cpu_ms_per_call"], mo["common"]["cpu_ms_per_call"]
    ratio = theirs / ours
    verdict = "met" if ratio >= CPU_TARGET else "missed"
    return (
        f"server CPU per call: appmesh-local {ours:.3f} ms, moto {theirs:.3f} ms = 1/{ratio:.1f} of moto's "
        f"(target <= 1/{CPU_TARGET}: {verdict})"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="App Mesh API benchmark: appmesh-local vs moto vs a null server")
    parser.add_argument("--nodes", type=int, default=1000, help="virtual nodes (and routes, and services) to create")
    parser.add_argument(
        "--servers", default="appmesh-local,moto,null", help="comma-separated subset of " + ",".join(SERVERS)
    )
    parser.add_argument("--list-rounds", type=int, default=10, help="full paginations of the virtual node list")
    parser.add_argument(
        "--baseline",
        help="also run the appmesh_local package found in this directory "
        "(e.g. `git worktree add /tmp/base <commit>`), to compare two versions in one run",
    )
    parser.add_argument("--out", type=Path, help="JSON output file (default benchmarks/results/api-<time>.json)")
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.servers.split(",") if n.strip()]
    unknown = set(names) - set(SERVERS)
    if unknown:
        parser.error(f"unknown servers: {sorted(unknown)}")
    document = run(Sizes(nodes=args.nodes, list_rounds=args.list_rounds), names, args.baseline)
    print(render(document))
    path = write_json("api", document, args.out)
    print(f"\nJSON: {path}")
    errors = sum(s["common"]["errors"] + (s["all"]["errors"] if s["all"] else 0) for s in document["servers"].values())
    return 1 if errors else 0


if __name__ == "__main__":
    raise SystemExit(main())
