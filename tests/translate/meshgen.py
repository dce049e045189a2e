"""Synthetic meshes for memo tests and timing: N services, each a router with R routes
over two node versions, and every node reaching B other services."""

from __future__ import annotations

import copy

from appmesh_local.store.records import MeshSnapshot


def service_name(i: int) -> str:
    return f"svc{i}.big.local"


def route_spec(i: int, r: int, weight: int = 50) -> dict:
    return {
        "httpRoute": {
            "match": {"prefix": f"/r{r}", "headers": [{"name": "x-route", "match": {"exact": str(r)}}]},
            "action": {
                "weightedTargets": [
                    {"virtualNode": f"n{i}-v1", "weight": weight},
                    {"virtualNode": f"n{i}-v2", "weight": 100 - weight},
                ]
            },
            "timeout": {"perRequest": {"unit": "s", "value": 10}},
        },
        "priority": r,
    }


def big_mesh(services: int, routes_per_router: int, backends: int) -> MeshSnapshot:
    """2 nodes per service (so `services`=500 gives 1,000 nodes), one router per service."""
    nodes, routers, routes, vss = {}, {}, {}, {}
    for i in range(services):
        for version in ("v1", "v2"):
            nodes[f"n{i}-{version}"] = {
                "listeners": [{"portMapping": {"port": 8080, "protocol": "http"}}],
                "serviceDiscovery": {"dns": {"hostname": f"n{i}-{version}.big.local"}},
                "backends": [
                    {"virtualService": {"virtualServiceName": service_name((i + k) % services)}}
                    for k in range(1, backends + 1)
                ],
            }
        routers[f"r{i}"] = {"listeners": [{"portMapping": {"port": 8080, "protocol": "http"}}]}
        routes[f"r{i}"] = {f"route{r}": route_spec(i, r) for r in range(routes_per_router)}
        vss[service_name(i)] = {"provider": {"virtualRouter": {"virtualRouterName": f"r{i}"}}}
    return MeshSnapshot(
        account="123456789012",
        region="us-east-1",
        name="big",
        revision=1,
        spec={},
        virtual_nodes=nodes,
        virtual_routers=routers,
        routes=routes,
        virtual_services=vss,
    )


def with_route_weight(snapshot: MeshSnapshot, service: int, route: int, weight: int) -> MeshSnapshot:
    """The same mesh at the next revision with one route's weights changed (fresh dicts for it only)."""
    routes = dict(snapshot.routes)
    routes[f"r{service}"] = dict(routes[f"r{service}"])
    routes[f"r{service}"][f"route{route}"] = route_spec(service, route, weight)
    return MeshSnapshot(
        account=snapshot.account,
        region=snapshot.region,
        name=snapshot.name,
        revision=snapshot.revision + 1,
        spec=snapshot.spec,
        virtual_nodes=snapshot.virtual_nodes,
        virtual_routers=snapshot.virtual_routers,
        routes=routes,
        virtual_services=snapshot.virtual_services,
    )


def deep_copied(snapshot: MeshSnapshot) -> MeshSnapshot:
    """Equal content, all-new dict objects (what a store that re-reads rows would hand over)."""
    return MeshSnapshot(
        account=snapshot.account,
        region=snapshot.region,
        name=snapshot.name,
        revision=snapshot.revision + 1,
        spec=copy.deepcopy(snapshot.spec),
        virtual_nodes=copy.deepcopy(snapshot.virtual_nodes),
        virtual_routers=copy.deepcopy(snapshot.virtual_routers),
        routes=copy.deepcopy(snapshot.routes),
        virtual_services=copy.deepcopy(snapshot.virtual_services),
    )
