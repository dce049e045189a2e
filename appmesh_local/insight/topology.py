"""The mesh as a graph for the console: gateways → virtual services → routers and routes → virtual
nodes → their backends, with each proxy's live xDS state and per-edge request counters.

Counters are cumulative (Envoy's `upstream_rq_total` and `upstream_rq_5xx` of each client's
egress clusters); the browser turns two polls into rates. An edge's counters are the sum over
the clusters that carry its traffic, so a router → node edge shows all clients' requests to
that node through the router's service.
"""

from __future__ import annotations

import re
from typing import Any, Iterator, Mapping

from appmesh_local.store.records import MeshSnapshot

ROUTE_KINDS = ("httpRoute", "http2Route", "grpcRoute", "tcpRoute")
_PROTOCOL_PORT = re.compile(r"_(http|http2|grpc|tcp)_\d+$")
Counters = dict[str, int]


def build_topology(
    snapshot: MeshSnapshot,
    proxies: list[Mapping[str, Any]],
    translation: Mapping[str, Any],
    stats: Mapping[str, Mapping[str, Mapping[str, int]]],
) -> dict[str, Any]:
    """JSON-able {nodes, edges, revision, translation} for one mesh."""
    states = {f"{entry['kind']}/{entry['name']}": _proxy_state(entry) for entry in proxies}
    nodes: list[dict[str, Any]] = []
    edges: list[dict[str, Any]] = []
    for name, spec in sorted(snapshot.virtual_gateways.items()):
        nodes.append(_node("virtualGateway", name, _ports(spec), states))
    for name in sorted(snapshot.virtual_services):
        nodes.append(_node("virtualService", name, [], states))
    for name, spec in sorted(snapshot.virtual_routers.items()):
        node = _node("virtualRouter", name, _ports(spec), states)
        node["routes"] = sorted((snapshot.routes.get(name) or {}).keys())
        nodes.append(node)
    for name, spec in sorted(snapshot.virtual_nodes.items()):
        nodes.append(_node("virtualNode", name, _ports(spec), states))

    targets = _cluster_targets(snapshot)
    per_client = {proxy: _by_target(clusters, targets) for proxy, clusters in stats.items()}
    for gateway, routes in sorted(snapshot.gateway_routes.items()):
        for route, spec in sorted(routes.items()):
            for _kind, body in _route_bodies(spec):
                service = (((body.get("action") or {}).get("target") or {}).get("virtualService") or {}).get(
                    "virtualServiceName"
                )
                if service:
                    counters = _sum_for(per_client.get(f"virtualGateway/{gateway}", {}), _providers(snapshot, service))
                    edges.append(_edge(f"virtualGateway/{gateway}", f"virtualService/{service}", route, counters))
    for service, spec in sorted(snapshot.virtual_services.items()):
        provider = spec.get("provider") or {}
        router = (provider.get("virtualRouter") or {}).get("virtualRouterName")
        node = (provider.get("virtualNode") or {}).get("virtualNodeName")
        if router:
            edges.append(_edge(f"virtualService/{service}", f"virtualRouter/{router}", "provider", None))
        elif node:
            counters = _sum_all_clients(per_client, {node})
            edges.append(_edge(f"virtualService/{service}", f"virtualNode/{node}", "provider", counters))
    for router, routes in sorted(snapshot.routes.items()):
        for route, spec in sorted(routes.items()):
            for _kind, body in _route_bodies(spec):
                targets_spec = (body.get("action") or {}).get("weightedTargets") or ()
                total = sum(int(target.get("weight") or 0) for target in targets_spec) or 1
                for target in targets_spec:
                    node = target.get("virtualNode")
                    weight = int(target.get("weight") or 0)
                    edge = _edge(
                        f"virtualRouter/{router}",
                        f"virtualNode/{node}",
                        f"{route} {round(100 * weight / total)}%",
                        _sum_all_clients(per_client, {node}),
                    )
                    edge["weight"] = weight
                    edges.append(edge)
    for client, spec in sorted(snapshot.virtual_nodes.items()):
        for backend in spec.get("backends") or ():
            service = (backend.get("virtualService") or {}).get("virtualServiceName")
            if service:
                counters = _sum_for(per_client.get(f"virtualNode/{client}", {}), _providers(snapshot, service))
                edges.append(_edge(f"virtualNode/{client}", f"virtualService/{service}", "backend", counters))
    known = {node["id"] for node in nodes}
    for edge in edges:
        edge["dangling"] = edge["target"] not in known
    return {
        "mesh": snapshot.name,
        "account": snapshot.account,
        "region": snapshot.region,
        "revision": snapshot.revision,
        "nodes": nodes,
        "edges": edges,
        "translation": {key: translation.get(key) for key in ("revision", "error", "problems", "duration_ms")},
    }


def _route_bodies(spec: Mapping[str, Any]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    for kind in ROUTE_KINDS:
        if spec.get(kind):
            yield kind, spec[kind]


def _ports(spec: Mapping[str, Any]) -> list[str]:
    return [
        f"{(item.get('portMapping') or {}).get('protocol')}:{(item.get('portMapping') or {}).get('port')}"
        for item in spec.get("listeners") or ()
    ]


def _node(kind: str, name: str, ports: list[str], states: Mapping[str, Any]) -> dict[str, Any]:
    node: dict[str, Any] = {"id": f"{kind}/{name}", "kind": kind, "name": name, "ports": ports}
    if kind in ("virtualNode", "virtualGateway"):
        node["proxy"] = states.get(node["id"], {"connected": False})
    return node


def _proxy_state(entry: Mapping[str, Any]) -> dict[str, Any]:
    types = entry.get("types") or {}
    nacks = {
        short: state["last_nack"]
        for short, state in types.items()
        if state.get("last_nack") and state["last_nack"].get("version") != state.get("acked_version")
    }
    return {
        "connected": True,
        "stream": entry.get("stream"),
        "since": entry.get("connected_since"),
        "acked": {short: state.get("acked_version") for short, state in types.items()},
        "nack": nacks or None,
        "admin": entry.get("admin"),
    }


def _edge(source: str, target: str, label: str, counters: Counters | None) -> dict[str, Any]:
    return {"source": source, "target": target, "label": label, "counters": counters}


def _cluster_targets(snapshot: MeshSnapshot) -> dict[str, str]:
    """Egress cluster name prefix → virtual node: `cds_egress_<mesh>_<node>_<protocol>_<port>`."""
    return {f"cds_egress_{snapshot.name}_{node}": node for node in snapshot.virtual_nodes}


def _by_target(clusters: Mapping[str, Mapping[str, int]], targets: Mapping[str, str]) -> dict[str, Counters]:
    out: dict[str, Counters] = {}
    for cluster, values in clusters.items():
        prefix = _PROTOCOL_PORT.sub("", cluster)
        node = targets.get(prefix)
        if node is None:
            continue
        counters = out.setdefault(node, {"requests": 0, "errors": 0})
        counters["requests"] += int(values.get("upstream_rq_total", 0))
        counters["errors"] += int(values.get("upstream_rq_5xx", 0))
    return out


def _providers(snapshot: MeshSnapshot, service: str) -> set[str]:
    provider = (snapshot.virtual_services.get(service) or {}).get("provider") or {}
    node = (provider.get("virtualNode") or {}).get("virtualNodeName")
    if node:
        return {node}
    router = (provider.get("virtualRouter") or {}).get("virtualRouterName")
    return {
        str(target.get("virtualNode"))
        for route in (snapshot.routes.get(router) or {}).values()
        for _, body in _route_bodies(route)
        for target in (body.get("action") or {}).get("weightedTargets") or ()
    }


def _sum_for(by_target: Mapping[str, Counters], nodes: set[str]) -> Counters | None:
    found = [by_target[node] for node in nodes if node in by_target]
    if not found:
        return None
    return {"requests": sum(item["requests"] for item in found), "errors": sum(item["errors"] for item in found)}


def _sum_all_clients(per_client: Mapping[str, Mapping[str, Counters]], nodes: set[str]) -> Counters | None:
    found = [counters for by_target in per_client.values() for node, counters in by_target.items() if node in nodes]
    if not found:
        return None
    return {"requests": sum(item["requests"] for item in found), "errors": sum(item["errors"] for item in found)}
