"""Mesh pieces many tests build the same way."""

from __future__ import annotations

from typing import Any


def gateway_to_service(
    client: Any, mesh: str, gateway_port: int, service: str, route: str = "all", prefix: str = "/"
) -> None:
    """Virtual gateway `gw` listening on `gateway_port` (http), whose gateway route `route` sends
    requests under `prefix` to virtual service `service`."""
    client.create_virtual_gateway(
        meshName=mesh,
        virtualGatewayName="gw",
        spec={"listeners": [{"portMapping": {"port": gateway_port, "protocol": "http"}}]},
    )
    client.create_gateway_route(
        meshName=mesh,
        virtualGatewayName="gw",
        gatewayRouteName=route,
        spec={
            "httpRoute": {
                "match": {"prefix": prefix},
                "action": {"target": {"virtualService": {"virtualServiceName": service}}},
            }
        },
    )
