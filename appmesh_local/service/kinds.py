"""The seven App Mesh resource kinds, described once so CRUD is written once."""

from __future__ import annotations

from dataclasses import dataclass

from ..store import records


@dataclass(frozen=True)
class Kind:
    kind: str  # ARN segment and store kind, e.g. "virtualNode"
    title: str  # the word AWS messages use, e.g. "VirtualNode"
    name_param: str  # e.g. "virtualNodeName"
    data_shape: str  # e.g. "VirtualNodeData"
    ref_shape: str  # e.g. "VirtualNodeRef"
    list_member: str  # e.g. "virtualNodes"
    parent: Kind | None = None

    @property
    def output_member(self) -> str:
        return self.kind


MESH = Kind(records.MESH, "Mesh", "meshName", "MeshData", "MeshRef", "meshes")
VIRTUAL_NODE = Kind(
    records.VIRTUAL_NODE, "VirtualNode", "virtualNodeName", "VirtualNodeData", "VirtualNodeRef", "virtualNodes"
)
VIRTUAL_ROUTER = Kind(
    records.VIRTUAL_ROUTER,
    "VirtualRouter",
    "virtualRouterName",
    "VirtualRouterData",
    "VirtualRouterRef",
    "virtualRouters",
)
ROUTE = Kind(records.ROUTE, "Route", "routeName", "RouteData", "RouteRef", "routes", parent=VIRTUAL_ROUTER)
VIRTUAL_SERVICE = Kind(
    records.VIRTUAL_SERVICE,
    "VirtualService",
    "virtualServiceName",
    "VirtualServiceData",
    "VirtualServiceRef",
    "virtualServices",
)
VIRTUAL_GATEWAY = Kind(
    records.VIRTUAL_GATEWAY,
    "VirtualGateway",
    "virtualGatewayName",
    "VirtualGatewayData",
    "VirtualGatewayRef",
    "virtualGateways",
)
GATEWAY_ROUTE = Kind(
    records.GATEWAY_ROUTE,
    "GatewayRoute",
    "gatewayRouteName",
    "GatewayRouteData",
    "GatewayRouteRef",
    "gatewayRoutes",
    parent=VIRTUAL_GATEWAY,
)
MESH_CHILDREN = (VIRTUAL_NODE, VIRTUAL_ROUTER, VIRTUAL_SERVICE, VIRTUAL_GATEWAY)
BY_KIND = {k.kind: k for k in (MESH, ROUTE, GATEWAY_ROUTE, *MESH_CHILDREN)}
