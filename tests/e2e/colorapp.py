"""The colour-app mesh (AWS's classic walk-through), as boto3 App Mesh calls.

    gateway gw (:8088) ── prefix / ──▶ front.local ── front (HTTP :8080) ──▶ color.local
    color.local ── router color (http :8080): `override` (priority 0, header color-override: red) → red
                                              `split` (priority 100) → blue 80 / red 20
    greeter.local ── router greeter (grpc :9090): serviceName demo.Greeter → greeter
    echo.local ── router echo (tcp :7000) → echo

`put_baseline` creates or updates every resource to this shape, so a test can change
the mesh and the next one starts from the same place.
"""

from __future__ import annotations

from typing import Any, Iterator

MESH = "colorapp"
HTTP_PORT, GRPC_PORT, TCP_PORT, GATEWAY_PORT = 8080, 9090, 7000, 8088
BACKENDS = ("color.local", "greeter.local", "echo.local")
OVERRIDE_HEADER = "color-override"


def node_spec(
    name: str, port: int, protocol: str, backends: tuple[str, ...] = (), logging: dict[str, Any] | None = None
) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "listeners": [{"portMapping": {"port": port, "protocol": protocol}}],
        "serviceDiscovery": {"dns": {"hostname": f"{name}.local"}},
        "backends": [{"virtualService": {"virtualServiceName": b}} for b in backends],
    }
    if logging:
        spec["logging"] = logging
    return spec


def split_route(blue: int, red: int) -> dict[str, Any]:
    return {
        "priority": 100,
        "httpRoute": {
            "match": {"prefix": "/"},
            "action": {
                "weightedTargets": [{"virtualNode": "blue", "weight": blue}, {"virtualNode": "red", "weight": red}]
            },
        },
    }


def override_route() -> dict[str, Any]:
    return {
        "priority": 0,
        "httpRoute": {
            "match": {"prefix": "/", "headers": [{"name": OVERRIDE_HEADER, "match": {"exact": "red"}}]},
            "action": {"weightedTargets": [{"virtualNode": "red", "weight": 100}]},
        },
    }


def baseline() -> Iterator[tuple[str, dict[str, Any], dict[str, Any]]]:
    """(kind, name parameters, spec) in an order every reference already exists."""
    mesh = {"meshName": MESH}
    yield "mesh", mesh, {"egressFilter": {"type": "DROP_ALL"}}
    yield "virtual_node", {**mesh, "virtualNodeName": "blue"}, node_spec("blue", HTTP_PORT, "http")
    yield "virtual_node", {**mesh, "virtualNodeName": "red"}, node_spec("red", HTTP_PORT, "http")
    yield "virtual_node", {**mesh, "virtualNodeName": "greeter"}, node_spec("greeter", GRPC_PORT, "grpc")
    yield "virtual_node", {**mesh, "virtualNodeName": "echo"}, node_spec("echo", TCP_PORT, "tcp")
    yield "virtual_node", {**mesh, "virtualNodeName": "front"}, node_spec("front", HTTP_PORT, "http", BACKENDS)
    for router, port, protocol in (
        ("color", HTTP_PORT, "http"),
        ("greeter", GRPC_PORT, "grpc"),
        ("echo", TCP_PORT, "tcp"),
    ):
        yield (
            "virtual_router",
            {**mesh, "virtualRouterName": router},
            {"listeners": [{"portMapping": {"port": port, "protocol": protocol}}]},
        )
    color = {**mesh, "virtualRouterName": "color"}
    yield "route", {**color, "routeName": "split"}, split_route(80, 20)
    yield "route", {**color, "routeName": "override"}, override_route()
    yield (
        "route",
        {**mesh, "virtualRouterName": "greeter", "routeName": "hello"},
        {
            "grpcRoute": {
                "match": {"serviceName": "demo.Greeter"},
                "action": {"weightedTargets": [{"virtualNode": "greeter", "weight": 100}]},
            }
        },
    )
    yield (
        "route",
        {**mesh, "virtualRouterName": "echo", "routeName": "echo"},
        {"tcpRoute": {"action": {"weightedTargets": [{"virtualNode": "echo", "weight": 100}]}}},
    )
    for service, router in (("color.local", "color"), ("greeter.local", "greeter"), ("echo.local", "echo")):
        yield (
            "virtual_service",
            {**mesh, "virtualServiceName": service},
            {"provider": {"virtualRouter": {"virtualRouterName": router}}},
        )
    yield (
        "virtual_service",
        {**mesh, "virtualServiceName": "front.local"},
        {"provider": {"virtualNode": {"virtualNodeName": "front"}}},
    )
    yield (
        "virtual_gateway",
        {**mesh, "virtualGatewayName": "gw"},
        {"listeners": [{"portMapping": {"port": GATEWAY_PORT, "protocol": "http"}}]},
    )
    yield (
        "gateway_route",
        {**mesh, "virtualGatewayName": "gw", "gatewayRouteName": "front"},
        {
            "httpRoute": {
                "match": {"prefix": "/"},
                "action": {"target": {"virtualService": {"virtualServiceName": "front.local"}}},
            }
        },
    )


def put(client: Any, kind: str, names: dict[str, Any], spec: dict[str, Any]) -> None:
    """Create the resource, or update it when it exists (the API's ConflictException)."""
    try:
        getattr(client, f"create_{kind}")(**names, spec=spec)
    except client.exceptions.ConflictException:
        getattr(client, f"update_{kind}")(**names, spec=spec)


def put_baseline(client: Any) -> None:
    for kind, names, spec in baseline():
        put(client, kind, names, spec)
