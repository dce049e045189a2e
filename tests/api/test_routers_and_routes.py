"""Virtual routers and routes: CRUD, parent/target references, port rules and deletion rules."""

from __future__ import annotations

import time

import pytest

from tests.api.helpers import (
    api_error,
    arn,
    assert_fresh_metadata,
    assert_ref,
    assert_updated,
    http_route_spec,
    node_spec,
    router_spec,
    service_spec,
    unique,
)


@pytest.fixture
def routed_mesh(api, mesh) -> str:
    """A mesh with nodes `a` and `b` (listening on 8080) and router `r` on 8080."""
    for node in ("a", "b"):
        api.create_virtual_node(meshName=mesh, virtualNodeName=node, spec=node_spec(port=8080))
    api.create_virtual_router(meshName=mesh, virtualRouterName="r", spec=router_spec(8080))
    return mesh


def test_virtual_router_crud(api, tenant, mesh):
    router = api.create_virtual_router(meshName=mesh, virtualRouterName="vr", spec=router_spec(8080))["virtualRouter"]
    assert router["virtualRouterName"] == "vr" and router["meshName"] == mesh
    assert router["status"] == {"status": "ACTIVE"}
    assert router["spec"] == router_spec(8080)
    assert_fresh_metadata(
        router["metadata"], arn(tenant.region, tenant.account, mesh, "virtualRouter", "vr"), tenant.account
    )
    assert api.describe_virtual_router(meshName=mesh, virtualRouterName="vr")["virtualRouter"] == router
    time.sleep(0.02)
    updated = api.update_virtual_router(
        meshName=mesh, virtualRouterName="vr", spec=router_spec(9090, protocol="http2")
    )["virtualRouter"]
    assert_updated(router["metadata"], updated["metadata"])
    assert updated["spec"] == router_spec(9090, protocol="http2")
    refs = api.list_virtual_routers(meshName=mesh)["virtualRouters"]
    assert [r["virtualRouterName"] for r in refs] == ["vr"]
    assert_ref(refs[0], updated)
    deleted = api.delete_virtual_router(meshName=mesh, virtualRouterName="vr")["virtualRouter"]
    assert deleted["status"] == {"status": "DELETED"}
    with api_error("NotFoundException", 404):
        api.describe_virtual_router(meshName=mesh, virtualRouterName="vr")


def test_route_crud(api, tenant, routed_mesh):
    mesh = routed_mesh
    spec = http_route_spec("a", "b", weights=[70, 30], prefix="/api", priority=10)
    route = api.create_route(meshName=mesh, virtualRouterName="r", routeName="rt", spec=spec)["route"]
    assert (route["routeName"], route["virtualRouterName"], route["meshName"]) == ("rt", "r", mesh)
    assert route["status"] == {"status": "ACTIVE"}
    assert route["spec"] == spec
    assert_fresh_metadata(
        route["metadata"], arn(tenant.region, tenant.account, mesh, "virtualRouter", "r", "route", "rt"), tenant.account
    )
    assert api.describe_route(meshName=mesh, virtualRouterName="r", routeName="rt")["route"] == route
    time.sleep(0.02)
    new_spec = http_route_spec("b", prefix="/")
    updated = api.update_route(meshName=mesh, virtualRouterName="r", routeName="rt", spec=new_spec)["route"]
    assert_updated(route["metadata"], updated["metadata"])
    assert updated["spec"] == new_spec
    refs = api.list_routes(meshName=mesh, virtualRouterName="r")["routes"]
    assert [r["routeName"] for r in refs] == ["rt"]
    assert refs[0]["virtualRouterName"] == "r"
    assert_ref(refs[0], updated)
    deleted = api.delete_route(meshName=mesh, virtualRouterName="r", routeName="rt")["route"]
    assert deleted["status"] == {"status": "DELETED"}
    with api_error("NotFoundException", 404):
        api.describe_route(meshName=mesh, virtualRouterName="r", routeName="rt")


def test_tcp_grpc_and_http2_routes(api, mesh):
    api.create_virtual_node(meshName=mesh, virtualNodeName="t", spec=node_spec(port=7000, protocol="tcp"))
    api.create_virtual_node(meshName=mesh, virtualNodeName="g", spec=node_spec(port=7001, protocol="grpc"))
    api.create_virtual_router(meshName=mesh, virtualRouterName="tcp", spec=router_spec(7000, protocol="tcp"))
    api.create_virtual_router(meshName=mesh, virtualRouterName="grpc", spec=router_spec(7001, protocol="grpc"))
    tcp = {
        "tcpRoute": {
            "action": {"weightedTargets": [{"virtualNode": "t", "weight": 1}]},
            "timeout": {"idle": {"unit": "s", "value": 600}},
        }
    }
    grpc = {
        "grpcRoute": {
            "match": {
                "serviceName": "pkg.Svc",
                "methodName": "Get",
                "metadata": [{"name": "x-id", "invert": False, "match": {"range": {"start": 1, "end": 9}}}],
            },
            "action": {"weightedTargets": [{"virtualNode": "g", "weight": 1}]},
            "retryPolicy": {
                "maxRetries": 2,
                "perRetryTimeout": {"unit": "ms", "value": 500},
                "grpcRetryEvents": ["unavailable"],
            },
        }
    }
    got_tcp = api.create_route(meshName=mesh, virtualRouterName="tcp", routeName="t", spec=tcp)["route"]
    got_grpc = api.create_route(meshName=mesh, virtualRouterName="grpc", routeName="g", spec=grpc)["route"]
    assert got_tcp["spec"] == tcp
    assert got_grpc["spec"] == grpc


def test_route_parent_router_must_exist(api, routed_mesh):
    with api_error("NotFoundException", 404):
        api.create_route(meshName=routed_mesh, virtualRouterName="nope", routeName="rt", spec=http_route_spec("a"))
    with api_error("NotFoundException", 404):
        api.list_routes(meshName=routed_mesh, virtualRouterName="nope")
    with api_error("NotFoundException", 404):
        api.describe_route(meshName=routed_mesh, virtualRouterName="nope", routeName="rt")


def test_route_target_node_must_exist(api, routed_mesh):
    with api_error("NotFoundException", 404, "ghost"):
        api.create_route(
            meshName=routed_mesh, virtualRouterName="r", routeName="rt", spec=http_route_spec("a", "ghost")
        )
    with api_error("NotFoundException", 404):
        api.describe_route(meshName=routed_mesh, virtualRouterName="r", routeName="rt")
    api.create_route(meshName=routed_mesh, virtualRouterName="r", routeName="rt", spec=http_route_spec("a"))
    with api_error("NotFoundException", 404, "ghost"):
        api.update_route(meshName=routed_mesh, virtualRouterName="r", routeName="rt", spec=http_route_spec("ghost"))
    route = api.describe_route(meshName=routed_mesh, virtualRouterName="r", routeName="rt")["route"]
    assert route["metadata"]["version"] == 1


def test_duplicate_route_conflicts(api, routed_mesh):
    api.create_route(meshName=routed_mesh, virtualRouterName="r", routeName="rt", spec=http_route_spec("a"))
    with api_error("ConflictException", 409):
        api.create_route(meshName=routed_mesh, virtualRouterName="r", routeName="rt", spec=http_route_spec("b"))


def test_same_route_name_under_two_routers(api, routed_mesh):
    api.create_virtual_router(meshName=routed_mesh, virtualRouterName="r2", spec=router_spec(8080))
    one = api.create_route(meshName=routed_mesh, virtualRouterName="r", routeName="rt", spec=http_route_spec("a"))
    two = api.create_route(meshName=routed_mesh, virtualRouterName="r2", routeName="rt", spec=http_route_spec("b"))
    assert one["route"]["metadata"]["uid"] != two["route"]["metadata"]["uid"]
    assert [r["routeName"] for r in api.list_routes(meshName=routed_mesh, virtualRouterName="r2")["routes"]] == ["rt"]


def test_route_on_multi_listener_router_needs_port_match(api, mesh):
    """AWS's wording, as reported in aws-app-mesh-controller-for-k8s issue 715."""
    api.create_virtual_node(meshName=mesh, virtualNodeName="a", spec=node_spec(ports=[8080, 9090]))
    api.create_virtual_router(meshName=mesh, virtualRouterName="r2", spec=router_spec(8080, 9090))
    with api_error("BadRequestException", 400) as info:
        api.create_route(meshName=mesh, virtualRouterName="r2", routeName="noport", spec=http_route_spec("a"))
    with api_error("NotFoundException", 404):
        api.describe_route(meshName=mesh, virtualRouterName="r2", routeName="noport")
    assert info.value.response["Error"]["Message"] == (
        "Route must define a port match criteria if the Virtual Router has multiple listeners"
    )
    ok = api.create_route(meshName=mesh, virtualRouterName="r2", routeName="p", spec=http_route_spec("a", port=9090))[
        "route"
    ]
    assert ok["spec"]["httpRoute"]["match"]["port"] == 9090


def test_route_port_match_must_be_a_router_listener(api, mesh):
    api.create_virtual_node(meshName=mesh, virtualNodeName="a", spec=node_spec(ports=[8080, 9090]))
    api.create_virtual_router(meshName=mesh, virtualRouterName="r2", spec=router_spec(8080, 9090))
    with api_error("BadRequestException", 400):
        api.create_route(meshName=mesh, virtualRouterName="r2", routeName="bad", spec=http_route_spec("a", port=7777))
    with api_error("NotFoundException", 404):
        api.describe_route(meshName=mesh, virtualRouterName="r2", routeName="bad")


def test_adding_second_listener_with_portless_routes_is_rejected(api, routed_mesh):
    """AWS's wording on UpdateVirtualRouter (issue 10, from aws-app-mesh-controller-for-k8s issue 715):
    the count of routes without a port and up to five of their names."""
    api.create_route(meshName=routed_mesh, virtualRouterName="r", routeName="rt", spec=http_route_spec("a"))
    with api_error("BadRequestException", 400) as info:
        api.update_virtual_router(meshName=routed_mesh, virtualRouterName="r", spec=router_spec(8080, 9090))
    assert info.value.response["Error"]["Message"] == (
        "All Routes for this Virtual Router must define a port match before adding multiple listeners to this "
        "Virtual Router. 1 Route(s) are missing port. Listing up to 5 route names: [rt]"
    )
    router = api.describe_virtual_router(meshName=routed_mesh, virtualRouterName="r")["virtualRouter"]
    assert router["metadata"]["version"] == 1 and router["spec"] == router_spec(8080)


def test_second_listener_message_lists_at_most_five_routes(api, routed_mesh):
    names = [f"rt{i}" for i in range(7)]
    for index, name in enumerate(names):
        spec = http_route_spec("a")
        spec["httpRoute"]["match"]["prefix"] = f"/{index}"
        api.create_route(meshName=routed_mesh, virtualRouterName="r", routeName=name, spec=spec)
    with api_error("BadRequestException", 400) as info:
        api.update_virtual_router(meshName=routed_mesh, virtualRouterName="r", spec=router_spec(8080, 9090))
    assert info.value.response["Error"]["Message"].endswith(
        "7 Route(s) are missing port. Listing up to 5 route names: [rt0, rt1, rt2, rt3, rt4]"
    )


def test_delete_router_blocked_while_it_has_routes(api, routed_mesh):
    api.create_route(meshName=routed_mesh, virtualRouterName="r", routeName="rt", spec=http_route_spec("a"))
    with api_error("ResourceInUseException", 409):
        api.delete_virtual_router(meshName=routed_mesh, virtualRouterName="r")
    api.describe_virtual_router(meshName=routed_mesh, virtualRouterName="r")
    api.delete_route(meshName=routed_mesh, virtualRouterName="r", routeName="rt")
    api.delete_virtual_router(meshName=routed_mesh, virtualRouterName="r")


def test_delete_router_blocked_while_service_provider(api, routed_mesh):
    api.create_virtual_service(meshName=routed_mesh, virtualServiceName="s.local", spec=service_spec(router="r"))
    with api_error("ResourceInUseException", 409):
        api.delete_virtual_router(meshName=routed_mesh, virtualRouterName="r")
    api.delete_virtual_service(meshName=routed_mesh, virtualServiceName="s.local")
    api.delete_virtual_router(meshName=routed_mesh, virtualRouterName="r")


def test_missing_router(api, mesh):
    name = unique("vr")
    with api_error("NotFoundException", 404):
        api.describe_virtual_router(meshName=mesh, virtualRouterName=name)
    with api_error("NotFoundException", 404):
        api.update_virtual_router(meshName=mesh, virtualRouterName=name, spec=router_spec(80))
    with api_error("NotFoundException", 404):
        api.delete_virtual_router(meshName=mesh, virtualRouterName=name)


def test_duplicate_router_conflicts(api, mesh):
    api.create_virtual_router(meshName=mesh, virtualRouterName="vr", spec=router_spec(80))
    with api_error("ConflictException", 409):
        api.create_virtual_router(meshName=mesh, virtualRouterName="vr", spec=router_spec(81))
