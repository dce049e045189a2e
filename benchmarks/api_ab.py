"""Quick A/B of the API server's cost per boto3 call: this checkout against another, no moto.

    git worktree add /tmp/base HEAD~1
    python -m benchmarks.api_ab --baseline /tmp/base --nodes 500 --rounds 3

`benchmarks.api` takes minutes because moto is slow; this runs only the four
calls that dominate a workload (create, describe, update and paginated list of
virtual nodes) against two or more `appmesh-local serve --ephemeral --no-xds` processes
(and the null server for boto3's ceiling), alternating which goes first in each
round so that drift of a shared machine hits both alike. Reported per server and
step: server CPU milliseconds per call (psutil, all threads) and ops/s, summed
over the rounds.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

from .api import client_for, warm_up
from .harness import ServerUnderTest, appmesh_local, null_server
from .report import table, write_json

STEPS = ("create", "describe", "update", "list")


@dataclass
class Tally:
    calls: int = 0
    seconds: float = 0.0
    cpu: float = 0.0

    def row(self) -> tuple[float, float]:
        return (self.cpu / self.calls * 1e3 if self.calls else 0.0, self.calls / self.seconds if self.seconds else 0.0)


def _spec(i: int, generation: int) -> dict[str, Any]:
    return {
        "listeners": [{"portMapping": {"port": 8080, "protocol": "http"}}],
        "serviceDiscovery": {"dns": {"hostname": f"vn-{i}.g{generation}.ab.local"}},
        "backends": [{"virtualService": {"virtualServiceName": f"svc-{i + 1}.ab.local"}}],
    }


def _calls(step: str, client: Any, mesh: str, nodes: int) -> Iterator[Callable[[], Any]]:
    if step == "create":
        for i in range(nodes):
            yield lambda i=i: client.create_virtual_node(meshName=mesh, virtualNodeName=f"vn-{i}", spec=_spec(i, 0))
    elif step == "describe":
        for i in range(nodes):
            yield lambda i=i: client.describe_virtual_node(meshName=mesh, virtualNodeName=f"vn-{i}")
    elif step == "update":
        for i in range(nodes):
            yield lambda i=i: client.update_virtual_node(meshName=mesh, virtualNodeName=f"vn-{i}", spec=_spec(i, 1))
    else:  # ten full paginations, pages of 100
        for _ in range(10):
            token: list[str | None] = [None]
            for _page in range(nodes // 100 + 1):

                def page(token: list[str | None] = token) -> Any:
                    kwargs = {"nextToken": token[0]} if token[0] else {}
                    answer = client.list_virtual_nodes(meshName=mesh, limit=100, **kwargs)
                    token[0] = answer.get("nextToken")
                    return answer

                yield page


def _run(step: str, server: ServerUnderTest, client: Any, mesh: str, nodes: int, tally: Tally) -> None:
    cpu0, t0 = server.cpu_seconds(), time.perf_counter()
    for call in _calls(step, client, mesh, nodes):
        call()
        tally.calls += 1
    tally.seconds += time.perf_counter() - t0
    tally.cpu += server.cpu_seconds() - cpu0


def run(baselines: list[str], nodes: int, rounds: int, with_null: bool) -> dict[str, dict[str, Tally]]:
    servers = [appmesh_local()] + [appmesh_local(checkout=b) for b in baselines]
    if with_null:
        servers.append(null_server())
    tallies = {s.name: {step: Tally() for step in STEPS} for s in servers}
    try:
        for server in servers:
            server.start()
        clients = {s.name: client_for(s.endpoint) for s in servers}
        for server in servers:
            warm_up(clients[server.name], 100)
        for r in range(rounds):
            mesh = f"ab-{r}"
            for server in servers:
                clients[server.name].create_mesh(meshName=mesh)
            for i, step in enumerate(STEPS):
                shift = (r + i) % len(servers)
                for server in servers[shift:] + servers[:shift]:
                    _run(step, server, clients[server.name], mesh, nodes, tallies[server.name][step])
    finally:
        for server in servers:
            server.stop()
    return tallies


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--baseline",
        action="append",
        default=[],
        help="directory holding another version's appmesh_local package (repeatable)",
    )
    parser.add_argument("--nodes", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-null", action="store_true", help="skip the null server")
    parser.add_argument("--out", help="JSON file (default: benchmarks/results/api_ab-<time>.json)")
    args = parser.parse_args(argv)
    tallies = run(args.baseline, args.nodes, args.rounds, not args.no_null)
    rows = []
    for name, steps in tallies.items():
        total = Tally(
            sum(t.calls for t in steps.values()),
            sum(t.seconds for t in steps.values()),
            sum(t.cpu for t in steps.values()),
        )
        for step, tally in [*steps.items(), ("all", total)]:
            cpu_ms, ops = tally.row()
            rows.append([name, step, tally.calls, round(cpu_ms, 3), round(ops, 1)])
    print(table(["server", "step", "calls", "server CPU ms/call", "ops/s"], rows))
    document = {
        "nodes": args.nodes,
        "rounds": args.rounds,
        "baseline": args.baseline,
        "servers": {name: {step: vars(t) for step, t in steps.items()} for name, steps in tallies.items()},
    }
    write_json("api_ab", document, Path(args.out) if args.out else None)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
