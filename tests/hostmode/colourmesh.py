"""The colour-app mesh of `tests/e2e/colorapp.py` under any mesh name, as API calls or as a mesh document.

gateway gw (:8088) ── / ──▶ front.local ── front (HTTP :8080) ──▶ color.local (blue 80 / red 20)
                                                            ├──▶ greeter.local (gRPC :9090)
                                                            └──▶ echo.local (TCP :7000)
"""

from __future__ import annotations

from typing import Any, Iterator

from tests.e2e import colorapp
from tests.e2e.colorapp import GATEWAY_PORT, GRPC_PORT, HTTP_PORT, TCP_PORT

__all__ = ["GATEWAY_PORT", "GRPC_PORT", "HTTP_PORT", "NODES", "TCP_PORT", "create", "document"]
NODES = ("blue", "red", "greeter", "echo", "front")  # backends first: their clients find them up
_LISTS = {
    "virtual_node": ("virtualNodes", "virtualNodeName"),
    "virtual_router": ("virtualRouters", "virtualRouterName"),
    "virtual_service": ("virtualServices", "virtualServiceName"),
    "virtual_gateway": ("virtualGateways", "virtualGatewayName"),
    "route": ("routes", "routeName"),
    "gateway_route": ("gatewayRoutes", "gatewayRouteName"),
}


def calls(mesh: str) -> Iterator[tuple[str, dict[str, Any], dict[str, Any]]]:
    """(kind, name parameters, spec) of the walk-through in mesh `mesh`, references first."""
    for kind, names, spec in colorapp.baseline():
        yield kind, {**names, "meshName": mesh}, spec


def create(client: Any, mesh: str) -> None:
    """Create the whole mesh through the App Mesh API."""
    for kind, names, spec in calls(mesh):
        getattr(client, f"create_{kind}")(**names, spec=spec)


def document(mesh: str = "colorapp") -> dict[str, Any]:
    """The mesh as `appmesh_local.translate.loader` reads it."""
    doc: dict[str, Any] = {"mesh": {"meshName": mesh, "spec": {}}}
    for kind, names, spec in calls(mesh):
        if kind == "mesh":
            doc["mesh"]["spec"] = spec
            continue
        key, name_field = _LISTS[kind]
        item = {name_field: names[name_field], "spec": spec}
        for parent in ("virtualRouterName", "virtualGatewayName"):
            if parent in names and parent != name_field:
                item[parent] = names[parent]
        doc.setdefault(key, []).append(item)
    return doc
