"""Plain data passed between the store, the service and the xDS bridge.

These are the seams of the one-way flow (API → service → store → change event →
reconciler → translator): frozen dataclasses, no Flask, no protobuf.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

# Kinds use the App Mesh ARN segment spelling (lowerCamel), the same word that
# appears in node ids (`mesh/<m>/virtualNode/<n>`).
MESH = "mesh"
VIRTUAL_NODE = "virtualNode"
VIRTUAL_ROUTER = "virtualRouter"
ROUTE = "route"
VIRTUAL_SERVICE = "virtualService"
VIRTUAL_GATEWAY = "virtualGateway"
GATEWAY_ROUTE = "gatewayRoute"
KINDS = (MESH, VIRTUAL_NODE, VIRTUAL_ROUTER, ROUTE, VIRTUAL_SERVICE, VIRTUAL_GATEWAY, GATEWAY_ROUTE)
PROXY_KINDS = (VIRTUAL_NODE, VIRTUAL_GATEWAY)  # the kinds an Envoy runs as (node ids, xDS snapshots)


@dataclass(frozen=True)
class ResourceKey:
    """Identity of one resource: unique within (account, region)."""

    account: str
    region: str
    kind: str
    mesh: str
    parent: str  # router name for routes, gateway name for gateway routes, else ""
    name: str


@dataclass(frozen=True)
class ResourceRecord:
    """One stored resource. `spec` is the validated AWS wire dict (with defaults filled)."""

    key: ResourceKey
    arn: str
    uid: str
    version: int
    created_at: float
    last_updated_at: float
    mesh_owner: str
    resource_owner: str
    status: str
    spec: Mapping[str, Any]
    tags: tuple[tuple[str, str], ...] = ()
    revision: int = 0  # store revision of the commit that last wrote this record


@dataclass(frozen=True)
class ChangeEvent:
    """Published after a write commits. The reconciler uses (account, region, mesh)."""

    account: str
    region: str
    mesh: str
    kind: str
    name: str
    parent: str
    action: str  # "create" | "update" | "delete" | "tag"
    revision: int


@dataclass(frozen=True)
class MeshSnapshot:
    """Every resource of one mesh at one store revision: the translator's whole input.

    Dict values are the AWS wire `spec` dicts exactly as DescribeX returns them.
    Routes and gateway routes are keyed by parent name, then by their own name.
    """

    account: str
    region: str
    name: str
    revision: int
    spec: Mapping[str, Any]
    virtual_nodes: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    virtual_routers: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    routes: Mapping[str, Mapping[str, Mapping[str, Any]]] = field(default_factory=dict)
    virtual_services: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    virtual_gateways: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    gateway_routes: Mapping[str, Mapping[str, Mapping[str, Any]]] = field(default_factory=dict)
