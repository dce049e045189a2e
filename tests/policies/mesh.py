"""App Mesh resources the policy tests build, as boto3 calls (one helper per shape)."""

from __future__ import annotations

from typing import Any

from tests.policies.conftest import APP_PORT, Scenario


def target_node(
    sc: Scenario,
    name: str = "backend",
    service: str = "backend",
    logging: dict[str, Any] | None = None,
    protocol: str = "http",
    **listener: Any,
) -> str:
    """A Cloud Map virtual node with one listener on APP_PORT; `listener` adds policies to it."""
    spec: dict[str, Any] = {
        "listeners": [{"portMapping": {"port": APP_PORT, "protocol": protocol}, **listener}],
        "serviceDiscovery": {"awsCloudMap": {"namespaceName": sc.namespace, "serviceName": service}},
    }
    if logging:
        spec["logging"] = logging
    sc.appmesh.create_virtual_node(meshName=sc.mesh, virtualNodeName=name, spec=spec)
    return name


def routed_service(sc: Scenario, node: str = "backend", **route: Any) -> str:
    """Virtual service `<node>.<namespace>` → router → one route (`route` adds retryPolicy, timeout) → node."""
    router, vs = f"{node}-router", f"{node}.{sc.namespace}"
    sc.appmesh.create_virtual_router(
        meshName=sc.mesh,
        virtualRouterName=router,
        spec={"listeners": [{"portMapping": {"port": APP_PORT, "protocol": "http"}}]},
    )
    sc.appmesh.create_route(
        meshName=sc.mesh,
        virtualRouterName=router,
        routeName="all",
        spec={
            "httpRoute": {
                "match": {"prefix": "/"},
                "action": {"weightedTargets": [{"virtualNode": node, "weight": 1}]},
                **route,
            }
        },
    )
    sc.appmesh.create_virtual_service(
        meshName=sc.mesh, virtualServiceName=vs, spec={"provider": {"virtualRouter": {"virtualRouterName": router}}}
    )
    return vs


def node_service(sc: Scenario, node: str = "backend") -> str:
    """Virtual service `<node>-direct.<namespace>` provided by the node itself (App Mesh's default policies)."""
    vs = f"{node}-direct.{sc.namespace}"
    sc.appmesh.create_virtual_service(
        meshName=sc.mesh, virtualServiceName=vs, spec={"provider": {"virtualNode": {"virtualNodeName": node}}}
    )
    return vs


def client_node(sc: Scenario, *services: str, logging: dict[str, Any] | None = None, name: str = "client") -> str:
    """A virtual node with no listener that may call `services` (its Envoy runs in the client task)."""
    spec: dict[str, Any] = {"backends": [{"virtualService": {"virtualServiceName": vs}} for vs in services]}
    if logging:
        spec["logging"] = logging
    sc.appmesh.create_virtual_node(meshName=sc.mesh, virtualNodeName=name, spec=spec)
    return name


def retry_policy(max_retries: int, per_retry_ms: int, *events: str) -> dict[str, Any]:
    return {
        "maxRetries": max_retries,
        "perRetryTimeout": {"unit": "ms", "value": per_retry_ms},
        "httpRetryEvents": list(events),
    }


def statuses(results: list[dict[str, Any]]) -> list[int]:
    return [entry["status"] for entry in results]
