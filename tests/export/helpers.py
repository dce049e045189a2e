"""Shared by the export tests: run the CLI, and build a small mesh with a gateway in front of two apps."""
from __future__ import annotations

import socket
import subprocess
import sys
from typing import Any

ACCOUNT, REGION = "123456789012", "us-east-1"


def run_cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    """`python -m appmesh_local ARGS` as a user runs it."""
    return subprocess.run([sys.executable, "-m", "appmesh_local", *args], capture_output=True, text=True,
                          timeout=timeout)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def build_gateway_mesh(client: Any, mesh: str, v1_port: int, v2_port: int, gateway_port: int) -> None:
    """gw (gateway_port) → app.local (router: header x-version=2 → app-v2, else app-v1), plus
    a `/keep` route that keeps its prefix and a `/direct` route to a node-provided service."""
    for name, port in (("app-v1", v1_port), ("app-v2", v2_port)):
        client.create_virtual_node(meshName=mesh, virtualNodeName=name, spec={
            "listeners": [{"portMapping": {"port": port, "protocol": "http"}}],
            "serviceDiscovery": {"dns": {"hostname": "127.0.0.1"}}})
    client.create_virtual_router(meshName=mesh, virtualRouterName="app-router", spec={
        "listeners": [{"portMapping": {"port": v1_port, "protocol": "http"}}]})
    client.create_route(meshName=mesh, virtualRouterName="app-router", routeName="v2", spec={
        "priority": 1, "httpRoute": {
            "match": {"prefix": "/", "headers": [{"name": "x-version", "match": {"exact": "2"}}]},
            "action": {"weightedTargets": [{"virtualNode": "app-v2", "weight": 1}]}}})
    client.create_route(meshName=mesh, virtualRouterName="app-router", routeName="default", spec={
        "priority": 2, "httpRoute": {
            "match": {"prefix": "/"},
            "action": {"weightedTargets": [{"virtualNode": "app-v1", "weight": 1}]}}})
    client.create_virtual_service(meshName=mesh, virtualServiceName="app.local",
                                  spec={"provider": {"virtualRouter": {"virtualRouterName": "app-router"}}})
    client.create_virtual_service(meshName=mesh, virtualServiceName="v2.local",
                                  spec={"provider": {"virtualNode": {"virtualNodeName": "app-v2"}}})
    client.create_virtual_node(meshName=mesh, virtualNodeName="cloud-map", spec={
        "listeners": [{"portMapping": {"port": 9000, "protocol": "http"}}],
        "serviceDiscovery": {"awsCloudMap": {"namespaceName": "local", "serviceName": "cm"}}})
    client.create_virtual_service(meshName=mesh, virtualServiceName="cm.local",
                                  spec={"provider": {"virtualNode": {"virtualNodeName": "cloud-map"}}})
    client.create_virtual_node(meshName=mesh, virtualNodeName="client", spec={
        "backends": [{"virtualService": {"virtualServiceName": "app.local"}},
                     {"virtualService": {"virtualServiceName": "cm.local"}}]})
    client.create_virtual_gateway(meshName=mesh, virtualGatewayName="gw", spec={
        "listeners": [{"portMapping": {"port": gateway_port, "protocol": "http"}}]})
    routes = {
        "app": {"match": {"prefix": "/app"},
                "action": {"target": {"virtualService": {"virtualServiceName": "app.local"}}}},
        "keep": {"match": {"prefix": "/keep"},
                 "action": {"target": {"virtualService": {"virtualServiceName": "app.local"}},
                            "rewrite": {"prefix": {"defaultPrefix": "DISABLED"}}}},
        "direct": {"match": {"prefix": "/direct"},
                   "action": {"target": {"virtualService": {"virtualServiceName": "v2.local"}}}},
    }
    for name, route in routes.items():
        client.create_gateway_route(meshName=mesh, virtualGatewayName="gw", gatewayRouteName=name,
                                    spec={"httpRoute": route})


# (path, extra headers): what a user would send through the gateway
REQUESTS = [
    ("/app/hello", {}),
    ("/app/hello", {"x-version": "2"}),
    ("/app", {}),
    ("/keep/this", {}),
    ("/direct/x?q=1", {}),
    ("/nowhere", {}),
]
