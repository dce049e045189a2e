"""The largest numbers the API accepts become configuration real Envoy accepts (`envoy --mode validate`).

api_models/representable.py bounds integers to their 32/64-bit model types and to what
Envoy's fields hold (uint32 retries and 5xx counts; durations Envoy reads as milliseconds
must keep their nanoseconds within int64). Here every such field is set to its largest
accepted value through the API, the mesh is translated, and each proxy's configuration is
validated by Envoy itself; one step past the duration bound Envoy refuses, so the bound is
Envoy's own and not an arbitrary one.
"""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from appmesh_local.api_models.representable import MAX_DURATION_MS, UINT32_MAX
from appmesh_local.bridge.build import build_mesh_config, dump_proxy_config
from appmesh_local.service.context import DEFAULT_ACCOUNT, DEFAULT_REGION
from tests.translate.envoy_check import ENVOY, ENVOY_MISSING, bootstrap_for, validate

from .conftest import running

pytestmark = [pytest.mark.timeout(240), pytest.mark.skipif(ENVOY is None, reason=str(ENVOY_MISSING))]

INT32_MAX = 2**31 - 1
MS = {"unit": "ms", "value": MAX_DURATION_MS}
SECONDS = {"unit": "s", "value": MAX_DURATION_MS // 1000}


def build_extreme_mesh(client) -> None:
    client.create_mesh(meshName="edge")
    client.create_virtual_node(
        meshName="edge",
        virtualNodeName="server",
        spec={
            "listeners": [
                {
                    "portMapping": {"port": 8080, "protocol": "http"},
                    "timeout": {"http": {"perRequest": MS, "idle": SECONDS}},
                    "connectionPool": {"http": {"maxConnections": INT32_MAX, "maxPendingRequests": INT32_MAX}},
                    "outlierDetection": {
                        "maxServerErrors": UINT32_MAX,
                        "interval": SECONDS,
                        "baseEjectionDuration": MS,
                        "maxEjectionPercent": 100,
                    },
                }
            ],
            "serviceDiscovery": {"dns": {"hostname": "server.local"}},
        },
    )
    client.create_virtual_router(
        meshName="edge",
        virtualRouterName="router",
        spec={"listeners": [{"portMapping": {"port": 8080, "protocol": "http"}}]},
    )
    client.create_route(
        meshName="edge",
        virtualRouterName="router",
        routeName="route",
        spec={
            "httpRoute": {
                "match": {"prefix": "/"},
                "action": {"weightedTargets": [{"virtualNode": "server", "weight": 1}]},
                "retryPolicy": {"maxRetries": UINT32_MAX, "perRetryTimeout": MS, "httpRetryEvents": ["server-error"]},
                "timeout": {"perRequest": SECONDS, "idle": MS},
            }
        },
    )
    client.create_virtual_service(
        meshName="edge",
        virtualServiceName="server.local",
        spec={"provider": {"virtualRouter": {"virtualRouterName": "router"}}},
    )
    client.create_virtual_node(
        meshName="edge",
        virtualNodeName="client",
        spec={"backends": [{"virtualService": {"virtualServiceName": "server.local"}}]},
    )


def test_the_largest_accepted_values_pass_envoy_validation(client_for, tmp_path: Path):
    with running() as server:
        build_extreme_mesh(client_for(server))
        config = build_mesh_config(server.store.mesh_snapshot(DEFAULT_ACCOUNT, DEFAULT_REGION, "edge"))
    for (kind, name), proxy in sorted(config.proxies.items()):
        result = validate(bootstrap_for(dump_proxy_config(proxy)), tmp_path, f"{kind}-{name}")
        assert result.returncode == 0, f"{kind}/{name} rejected by Envoy:\n{result.stderr[-2000:]}"


def test_one_millisecond_past_the_duration_bound_envoy_refuses(client_for, tmp_path: Path):
    with running() as server:
        build_extreme_mesh(client_for(server))
        config = build_mesh_config(server.store.mesh_snapshot(DEFAULT_ACCOUNT, DEFAULT_REGION, "edge"))
    resources = dump_proxy_config(config.proxies[("virtualNode", "client")])
    over = copy.deepcopy(resources)
    for route_config in over["RouteConfiguration"].values():
        for host in route_config["virtualHosts"]:
            for route in host.get("routes", []):
                if "route" in route:
                    route["route"]["timeout"] = f"{(MAX_DURATION_MS + 1) // 1000}s"
    assert validate(bootstrap_for(resources), tmp_path, "at-bound").returncode == 0
    result = validate(bootstrap_for(over), tmp_path, "past-bound")
    assert result.returncode != 0
    assert "out-of-range" in result.stderr.lower() or "out of range" in result.stderr.lower()
