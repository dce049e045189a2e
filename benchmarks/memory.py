"""Memory at scale: RSS of appmesh-local and of moto holding the same N virtual nodes.

    python -m benchmarks.memory --nodes 10000

Both servers start as child processes (`benchmarks/harness.py`: `appmesh-local serve --ephemeral
--no-xds`, as moto has no xDS; `python -m moto.server`), get one mesh and N virtual nodes through
boto3 (the `benchmarks/meshgen.py` node specs: a listener, DNS discovery, 5 backends), from
`--threads` client threads, and their RSS is read (psutil) with the mesh only and after the N nodes.
What the bridge adds on top at the same size (IR, Envoy messages, snapshots of every proxy) is in
`benchmarks/restart.py`, which runs the whole server on a 10,000-node state.
"""

from __future__ import annotations

import argparse
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from .api import client_for
from .harness import ServerUnderTest, appmesh_local, moto
from .meshgen import MeshShape, specs
from .report import table, write_json

MB = 1024 * 1024


def node_specs(nodes: int) -> list[tuple[str, dict[str, Any]]]:
    """(name, spec) of N virtual nodes in the meshgen shape."""
    shape = MeshShape(nodes=nodes)
    return [(name, spec) for kind, _, name, spec in specs(shape) if kind == "virtualNode"][:nodes]


def fill(server: ServerUnderTest, nodes: list[tuple[str, dict[str, Any]]], threads: int) -> dict[str, Any]:
    """Create the mesh and the nodes; RSS before and after, and how long the writes took."""
    mesh = MeshShape().mesh
    client = client_for(server.endpoint)
    client.create_mesh(meshName=mesh)
    rss_mesh = server.rss_bytes() / MB
    clients = [client_for(server.endpoint) for _ in range(threads)]

    def create(i: int) -> None:
        name, spec = nodes[i]
        clients[i % threads].create_virtual_node(meshName=mesh, virtualNodeName=name, spec=spec)

    started = time.perf_counter()
    errors = 0
    with ThreadPoolExecutor(threads) as pool:
        for future in [pool.submit(create, i) for i in range(len(nodes))]:
            if future.exception() is not None:
                errors += 1
    seconds = time.perf_counter() - started
    listed = sum(
        len(page["virtualNodes"]) for page in client.get_paginator("list_virtual_nodes").paginate(meshName=mesh)
    )
    return {
        "rss_mesh_mb": rss_mesh,
        "rss_nodes_mb": server.rss_bytes() / MB,
        "nodes_listed": listed,
        "errors": errors,
        "write_s": seconds,
        "cpu_s": server.cpu_seconds(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="RSS of appmesh-local and moto holding N virtual nodes")
    parser.add_argument("--nodes", type=int, default=10000)
    parser.add_argument("--threads", type=int, default=4, help="boto3 client threads")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    nodes = node_specs(args.nodes)
    results: dict[str, Any] = {}
    for server in (appmesh_local(), moto()):
        server.start()
        try:
            results[server.name] = fill(server, nodes, args.threads)
        finally:
            server.stop()
    rows = [
        [name, r["nodes_listed"], r["errors"], r["rss_mesh_mb"], r["rss_nodes_mb"], r["write_s"]]
        for name, r in results.items()
    ]
    print(table(["server", "virtual nodes listed", "errors", "RSS MB, mesh only", "RSS MB, N nodes", "writes s"], rows))
    print(f"\nJSON: {write_json('memory', {'nodes': args.nodes, 'servers': results}, args.out)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
