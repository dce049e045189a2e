"""Synthetic meshes at the scale App Mesh was designed for, written straight into a store.

Shape: `nodes` virtual nodes in pairs (v1/v2) behind `nodes/2` services; each
service is a virtual router with `routes_per_router` routes splitting traffic
over its two nodes; every node has `backends` backends: the shared "hot"
service `svc-0` plus the next services round the ring; optional virtual gateways
route `/hot` to `svc-0`. So a route change on
`vr-0` reaches every node, one on any other router reaches about
2 x (backends - 1) nodes.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any

from appmesh_local.service.defaults import stored_spec
from appmesh_local.store import Store
from appmesh_local.store.records import (
    GATEWAY_ROUTE,
    MESH,
    ROUTE,
    VIRTUAL_GATEWAY,
    VIRTUAL_NODE,
    VIRTUAL_ROUTER,
    VIRTUAL_SERVICE,
    ResourceKey,
    ResourceRecord,
)

ACCOUNT = "123456789012"
REGION = "us-east-1"


@dataclass(frozen=True)
class MeshShape:
    nodes: int = 1000
    routes_per_router: int = 10
    backends: int = 5
    mesh: str = "scale"
    gateway_ports: tuple[int, ...] = ()  # one virtual gateway per port, routing /hot to svc-0

    @property
    def services(self) -> int:
        return max(1, self.nodes // 2)

    @property
    def routes(self) -> int:
        return self.services * self.routes_per_router


def service_name(i: int) -> str:
    return f"svc-{i}.scale.local"


def node_name(service: int, version: str) -> str:
    return f"vn-{service}-{version}"


def route_spec(service: int, route: int, weight: int = 50) -> dict[str, Any]:
    return {
        "priority": route,
        "httpRoute": {
            "match": {"prefix": f"/r{route}", "headers": [{"name": "x-route", "match": {"exact": str(route)}}]},
            "action": {
                "weightedTargets": [
                    {"virtualNode": node_name(service, "v1"), "weight": weight},
                    {"virtualNode": node_name(service, "v2"), "weight": 100 - weight},
                ]
            },
            "timeout": {"perRequest": {"unit": "s", "value": 10}},
        },
    }


def specs(shape: MeshShape) -> list[tuple[str, str, str, dict[str, Any]]]:
    """Every resource as (kind, parent, name, spec), parents before children."""
    out: list[tuple[str, str, str, dict[str, Any]]] = [(MESH, "", shape.mesh, {})]
    n = shape.services
    for i in range(n):
        backends = [service_name(0)] + [service_name((i + k) % n) for k in range(1, shape.backends)]
        for version in ("v1", "v2"):
            out.append(
                (
                    VIRTUAL_NODE,
                    "",
                    node_name(i, version),
                    {
                        "listeners": [{"portMapping": {"port": 8080, "protocol": "http"}}],
                        "serviceDiscovery": {"dns": {"hostname": f"{node_name(i, version)}.scale.local"}},
                        "backends": [{"virtualService": {"virtualServiceName": b}} for b in dict.fromkeys(backends)],
                    },
                )
            )
    for i in range(n):
        out.append(
            (VIRTUAL_ROUTER, "", f"vr-{i}", {"listeners": [{"portMapping": {"port": 8080, "protocol": "http"}}]})
        )
        for r in range(shape.routes_per_router):
            out.append((ROUTE, f"vr-{i}", f"route-{r}", route_spec(i, r)))
        out.append(
            (VIRTUAL_SERVICE, "", service_name(i), {"provider": {"virtualRouter": {"virtualRouterName": f"vr-{i}"}}})
        )
    for j, port in enumerate(shape.gateway_ports):
        out.append(
            (VIRTUAL_GATEWAY, "", f"gw-{j}", {"listeners": [{"portMapping": {"port": port, "protocol": "http"}}]})
        )
        out.append(
            (
                GATEWAY_ROUTE,
                f"gw-{j}",
                "hot",
                {
                    "httpRoute": {
                        "match": {"prefix": "/hot"},
                        "action": {"target": {"virtualService": {"virtualServiceName": service_name(0)}}},
                    }
                },
            )
        )
    return out


def record(
    shape: MeshShape, kind: str, parent: str, name: str, spec: dict[str, Any], version: int = 1
) -> ResourceRecord:
    key = ResourceKey(ACCOUNT, REGION, kind, shape.mesh, parent, name)
    arn_path = (
        f"mesh/{shape.mesh}" if kind == MESH else f"mesh/{shape.mesh}/{kind}/{parent + '/' if parent else ''}{name}"
    )
    now = time.time()
    return ResourceRecord(
        key=key,
        arn=f"arn:aws:appmesh:{REGION}:{ACCOUNT}:{arn_path}",
        uid=str(uuid.uuid4()),
        version=version,
        created_at=now,
        last_updated_at=now,
        mesh_owner=ACCOUNT,
        resource_owner=ACCOUNT,
        status="ACTIVE",
        spec=stored_spec(kind, spec),
    )


def populate(store: Store, shape: MeshShape) -> int:
    """Write the whole mesh in one transaction (as a restore would); returns the resource count."""
    resources = specs(shape)
    with store.write() as tx:
        for kind, parent, name, spec in resources:
            tx.put(record(shape, kind, parent, name, spec), "create")
    return len(resources)


def change_route(store: Store, shape: MeshShape, service: int, route: int, weight: int) -> None:
    """One UpdateRoute, as the service would write it."""
    with store.write() as tx:
        tx.put(
            record(shape, ROUTE, f"vr-{service}", f"route-{route}", route_spec(service, route, weight), version=2),
            "update",
        )
