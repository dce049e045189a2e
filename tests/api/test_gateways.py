"""Virtual gateways and gateway routes: CRUD, references and deletion rules."""

from __future__ import annotations

import time

import pytest

from tests.api.helpers import (
    api_error,
    arn,
    assert_fresh_metadata,
    assert_ref,
    assert_updated,
    gateway_route_spec,
    gateway_spec,
)


@pytest.fixture
def gateway_mesh(api, mesh) -> str:
    """A mesh with gateway `gw` on 8088 and services `a.local`, `b.local`."""
    api.create_virtual_gateway(meshName=mesh, virtualGatewayName="gw", spec=gateway_spec(8088))
    for service in ("a.local", "b.local"):
        api.create_virtual_service(meshName=mesh, virtualServiceName=service, spec={})
    return mesh


def test_virtual_gateway_crud(api, tenant, mesh):
    spec = {
        "listeners": [
            {
                "portMapping": {"port": 8443, "protocol": "http2"},
                "connectionPool": {"http2": {"maxRequests": 10}},
                "healthCheck": {
                    "healthyThreshold": 2,
                    "unhealthyThreshold": 2,
                    "intervalMillis": 6000,
                    "timeoutMillis": 2000,
                    "protocol": "http2",
                    "path": "/health",
                },
            }
        ],
        "logging": {"accessLog": {"file": {"path": "/dev/stdout", "format": {"text": "%START_TIME%"}}}},
    }
    gateway = api.create_virtual_gateway(meshName=mesh, virtualGatewayName="vg", spec=spec)["virtualGateway"]
    assert gateway["virtualGatewayName"] == "vg" and gateway["meshName"] == mesh
    assert gateway["status"] == {"status": "ACTIVE"}
    for key in spec:
        assert gateway["spec"][key] == spec[key], key
    assert_fresh_metadata(
        gateway["metadata"], arn(tenant.region, tenant.account, mesh, "virtualGateway", "vg"), tenant.account
    )
    assert api.describe_virtual_gateway(meshName=mesh, virtualGatewayName="vg")["virtualGateway"] == gateway
    time.sleep(0.02)
    updated = api.update_virtual_gateway(meshName=mesh, virtualGatewayName="vg", spec=gateway_spec(9000))[
        "virtualGateway"
    ]
    assert_updated(gateway["metadata"], updated["metadata"])
    assert updated["spec"]["listeners"] == gateway_spec(9000)["listeners"]
    refs = api.list_virtual_gateways(meshName=mesh)["virtualGateways"]
    assert [r["virtualGatewayName"] for r in refs] == ["vg"]
    assert_ref(refs[0], updated)
    deleted = api.delete_virtual_gateway(meshName=mesh, virtualGatewayName="vg")["virtualGateway"]
    assert deleted["status"] == {"status": "DELETED"}
    with api_error("NotFoundException", 404):
        api.describe_virtual_gateway(meshName=mesh, virtualGatewayName="vg")


def test_gateway_route_crud(api, tenant, gateway_mesh):
    mesh = gateway_mesh
    spec = gateway_route_spec("a.local", prefix="/a/")
    spec["priority"] = 5
    route = api.create_gateway_route(meshName=mesh, virtualGatewayName="gw", gatewayRouteName="gr", spec=spec)[
        "gatewayRoute"
    ]
    assert (route["gatewayRouteName"], route["virtualGatewayName"], route["meshName"]) == ("gr", "gw", mesh)
    assert route["status"] == {"status": "ACTIVE"}
    assert route["spec"] == spec
    assert_fresh_metadata(
        route["metadata"],
        arn(tenant.region, tenant.account, mesh, "virtualGateway", "gw", "gatewayRoute", "gr"),
        tenant.account,
    )
    assert (
        api.describe_gateway_route(meshName=mesh, virtualGatewayName="gw", gatewayRouteName="gr")["gatewayRoute"]
        == route
    )
    time.sleep(0.02)
    new_spec = gateway_route_spec("b.local", prefix="/b/")
    updated = api.update_gateway_route(meshName=mesh, virtualGatewayName="gw", gatewayRouteName="gr", spec=new_spec)[
        "gatewayRoute"
    ]
    assert_updated(route["metadata"], updated["metadata"])
    assert updated["spec"] == new_spec
    refs = api.list_gateway_routes(meshName=mesh, virtualGatewayName="gw")["gatewayRoutes"]
    assert [r["gatewayRouteName"] for r in refs] == ["gr"]
    assert refs[0]["virtualGatewayName"] == "gw"
    assert_ref(refs[0], updated)
    deleted = api.delete_gateway_route(meshName=mesh, virtualGatewayName="gw", gatewayRouteName="gr")
    assert deleted["gatewayRoute"]["status"] == {"status": "DELETED"}
    with api_error("NotFoundException", 404):
        api.describe_gateway_route(meshName=mesh, virtualGatewayName="gw", gatewayRouteName="gr")


def test_grpc_gateway_route_round_trips(api, mesh):
    api.create_virtual_gateway(meshName=mesh, virtualGatewayName="g", spec=gateway_spec(50051, protocol="grpc"))
    api.create_virtual_service(meshName=mesh, virtualServiceName="grpc.local", spec={})
    spec = {
        "grpcRoute": {
            "match": {"serviceName": "pkg.Svc", "metadata": [{"name": "tenant", "match": {"exact": "t1"}}]},
            "action": {
                "target": {"virtualService": {"virtualServiceName": "grpc.local"}},
                "rewrite": {"hostname": {"defaultTargetHostname": "DISABLED"}},
            },
        }
    }
    route = api.create_gateway_route(meshName=mesh, virtualGatewayName="g", gatewayRouteName="gr", spec=spec)[
        "gatewayRoute"
    ]
    assert route["spec"] == spec


def test_gateway_route_target_service_must_exist(api, gateway_mesh):
    with api_error("NotFoundException", 404, "ghost.local"):
        api.create_gateway_route(
            meshName=gateway_mesh,
            virtualGatewayName="gw",
            gatewayRouteName="gr",
            spec=gateway_route_spec("ghost.local"),
        )
    with api_error("NotFoundException", 404):
        api.describe_gateway_route(meshName=gateway_mesh, virtualGatewayName="gw", gatewayRouteName="gr")
    api.create_gateway_route(
        meshName=gateway_mesh, virtualGatewayName="gw", gatewayRouteName="gr", spec=gateway_route_spec("a.local")
    )
    with api_error("NotFoundException", 404, "ghost.local"):
        api.update_gateway_route(
            meshName=gateway_mesh,
            virtualGatewayName="gw",
            gatewayRouteName="gr",
            spec=gateway_route_spec("ghost.local"),
        )
    current = api.describe_gateway_route(meshName=gateway_mesh, virtualGatewayName="gw", gatewayRouteName="gr")[
        "gatewayRoute"
    ]
    assert current["metadata"]["version"] == 1


def test_gateway_route_parent_gateway_must_exist(api, gateway_mesh):
    with api_error("NotFoundException", 404):
        api.create_gateway_route(
            meshName=gateway_mesh, virtualGatewayName="nogw", gatewayRouteName="gr", spec=gateway_route_spec("a.local")
        )
    with api_error("NotFoundException", 404):
        api.list_gateway_routes(meshName=gateway_mesh, virtualGatewayName="nogw")


def test_delete_gateway_blocked_while_it_has_routes(api, gateway_mesh):
    api.create_gateway_route(
        meshName=gateway_mesh, virtualGatewayName="gw", gatewayRouteName="gr", spec=gateway_route_spec("a.local")
    )
    with api_error("ResourceInUseException", 409):
        api.delete_virtual_gateway(meshName=gateway_mesh, virtualGatewayName="gw")
    api.describe_virtual_gateway(meshName=gateway_mesh, virtualGatewayName="gw")
    api.delete_gateway_route(meshName=gateway_mesh, virtualGatewayName="gw", gatewayRouteName="gr")
    api.delete_virtual_gateway(meshName=gateway_mesh, virtualGatewayName="gw")


def test_duplicates_conflict(api, gateway_mesh):
    with api_error("ConflictException", 409):
        api.create_virtual_gateway(meshName=gateway_mesh, virtualGatewayName="gw", spec=gateway_spec(8089))
    api.create_gateway_route(
        meshName=gateway_mesh, virtualGatewayName="gw", gatewayRouteName="gr", spec=gateway_route_spec("a.local")
    )
    with api_error("ConflictException", 409):
        api.create_gateway_route(
            meshName=gateway_mesh, virtualGatewayName="gw", gatewayRouteName="gr", spec=gateway_route_spec("b.local")
        )


def test_missing_gateway(api, mesh):
    with api_error("NotFoundException", 404):
        api.update_virtual_gateway(meshName=mesh, virtualGatewayName="nogw", spec=gateway_spec(80))
    with api_error("NotFoundException", 404):
        api.delete_virtual_gateway(meshName=mesh, virtualGatewayName="nogw")
