"""Cross-field rules AWS documents beyond the model's constraints → BadRequestException, nothing stored.

Sources: the member documentation in the botocore model itself (quoted in each test) and the App
Mesh user guide (gateway routes).
"""

from __future__ import annotations

import pytest

from tests.api.helpers import api_error, node_spec, router_spec


@pytest.fixture
def routed(api, mesh) -> str:
    api.create_virtual_node(meshName=mesh, virtualNodeName="a", spec=node_spec(port=8080))
    api.create_virtual_router(meshName=mesh, virtualRouterName="r", spec=router_spec(8080))
    return mesh


def assert_no_route(api, mesh: str, name: str) -> None:
    with api_error("NotFoundException", 404):
        api.describe_route(meshName=mesh, virtualRouterName="r", routeName=name)


def test_listener_requires_service_discovery(api, mesh):
    """VirtualNodeSpec.serviceDiscovery: 'If you specify a listener, then you must specify service
    discovery information.'"""
    spec = {"listeners": [{"portMapping": {"port": 8080, "protocol": "http"}}]}
    with api_error("BadRequestException", 400):
        api.create_virtual_node(meshName=mesh, virtualNodeName="n", spec=spec)
    with api_error("NotFoundException", 404):
        api.describe_virtual_node(meshName=mesh, virtualNodeName="n")
    api.create_virtual_node(meshName=mesh, virtualNodeName="n", spec={})
    with api_error("BadRequestException", 400):
        api.update_virtual_node(meshName=mesh, virtualNodeName="n", spec=spec)
    assert api.describe_virtual_node(meshName=mesh, virtualNodeName="n")["virtualNode"]["metadata"]["version"] == 1


def test_http_route_prefix_must_start_with_slash(api, routed):
    """HttpRouteMatch.prefix: 'This parameter must always start with /'."""
    spec = {
        "httpRoute": {"match": {"prefix": "api"}, "action": {"weightedTargets": [{"virtualNode": "a", "weight": 1}]}}
    }
    with api_error("BadRequestException", 400):
        api.create_route(meshName=routed, virtualRouterName="r", routeName="rt", spec=spec)
    assert_no_route(api, routed, "rt")


def test_gateway_route_prefix_must_start_with_slash(api, mesh):
    """HttpGatewayRouteMatch.prefix: 'This parameter must always start with /'."""
    api.create_virtual_service(meshName=mesh, virtualServiceName="s.local", spec={})
    api.create_virtual_gateway(
        meshName=mesh, virtualGatewayName="g", spec={"listeners": [{"portMapping": {"port": 8088, "protocol": "http"}}]}
    )
    spec = {
        "httpRoute": {
            "match": {"prefix": "api/"},
            "action": {"target": {"virtualService": {"virtualServiceName": "s.local"}}},
        }
    }
    with api_error("BadRequestException", 400):
        api.create_gateway_route(meshName=mesh, virtualGatewayName="g", gatewayRouteName="gr", spec=spec)
    with api_error("NotFoundException", 404):
        api.describe_gateway_route(meshName=mesh, virtualGatewayName="g", gatewayRouteName="gr")


def test_grpc_method_name_requires_service_name(api, mesh):
    """GrpcRouteMatch.methodName: 'If you specify a name, you must also specify a serviceName.'"""
    api.create_virtual_node(meshName=mesh, virtualNodeName="g", spec=node_spec(port=50051, protocol="grpc"))
    api.create_virtual_router(meshName=mesh, virtualRouterName="r", spec=router_spec(50051, protocol="grpc"))
    spec = {
        "grpcRoute": {
            "match": {"methodName": "Get"},
            "action": {"weightedTargets": [{"virtualNode": "g", "weight": 1}]},
        }
    }
    with api_error("BadRequestException", 400):
        api.create_route(meshName=mesh, virtualRouterName="r", routeName="rt", spec=spec)
    assert_no_route(api, mesh, "rt")


def test_gateway_route_target_port_required_for_multi_listener_provider(api, mesh):
    """User guide, gateway routes: 'Virtual service provider port is required when the provider
    (router or node) of the selected virtual service has multiple listeners.'"""
    api.create_virtual_node(meshName=mesh, virtualNodeName="two", spec=node_spec(ports=[8080, 9090]))
    api.create_virtual_service(
        meshName=mesh, virtualServiceName="s.local", spec={"provider": {"virtualNode": {"virtualNodeName": "two"}}}
    )
    api.create_virtual_gateway(
        meshName=mesh, virtualGatewayName="g", spec={"listeners": [{"portMapping": {"port": 8088, "protocol": "http"}}]}
    )
    target = {"virtualService": {"virtualServiceName": "s.local"}}
    spec = {"httpRoute": {"match": {"prefix": "/"}, "action": {"target": target}}}
    with api_error("BadRequestException", 400):
        api.create_gateway_route(meshName=mesh, virtualGatewayName="g", gatewayRouteName="gr", spec=spec)
    with api_error("NotFoundException", 404):
        api.describe_gateway_route(meshName=mesh, virtualGatewayName="g", gatewayRouteName="gr")
    target["port"] = 9090
    created = api.create_gateway_route(meshName=mesh, virtualGatewayName="g", gatewayRouteName="gr", spec=spec)
    assert created["gatewayRoute"]["spec"]["httpRoute"]["action"]["target"]["port"] == 9090


def test_gateway_route_port_match_required_on_multi_listener_gateway(api, mesh):
    """Same rule as routes on a multi-listener router, for gateways; AWS's wording as reported in
    aws-cdk issue 22452."""
    api.create_virtual_service(meshName=mesh, virtualServiceName="s.local", spec={})
    api.create_virtual_gateway(
        meshName=mesh,
        virtualGatewayName="g2",
        spec={
            "listeners": [
                {"portMapping": {"port": 8088, "protocol": "http"}},
                {"portMapping": {"port": 9099, "protocol": "http"}},
            ]
        },
    )
    spec = {
        "httpRoute": {
            "match": {"prefix": "/"},
            "action": {"target": {"virtualService": {"virtualServiceName": "s.local"}}},
        }
    }
    with api_error("BadRequestException", 400) as info:
        api.create_gateway_route(meshName=mesh, virtualGatewayName="g2", gatewayRouteName="gr", spec=spec)
    assert info.value.response["Error"]["Message"] == (
        "Gateway route must define a match port if the parent Virtual Gateway has multiple listeners"
    )
    spec["httpRoute"]["match"]["port"] = 9099
    api.create_gateway_route(meshName=mesh, virtualGatewayName="g2", gatewayRouteName="gr", spec=spec)


def test_adding_second_gateway_listener_with_portless_gateway_routes_is_rejected(api, mesh):
    api.create_virtual_service(meshName=mesh, virtualServiceName="s.local", spec={})
    one = {"listeners": [{"portMapping": {"port": 8088, "protocol": "http"}}]}
    api.create_virtual_gateway(meshName=mesh, virtualGatewayName="g3", spec=one)
    spec = {
        "httpRoute": {
            "match": {"prefix": "/"},
            "action": {"target": {"virtualService": {"virtualServiceName": "s.local"}}},
        }
    }
    api.create_gateway_route(meshName=mesh, virtualGatewayName="g3", gatewayRouteName="gr", spec=spec)
    two = {"listeners": one["listeners"] + [{"portMapping": {"port": 9099, "protocol": "http"}}]}
    with api_error("BadRequestException", 400, "1 GatewayRoute(s) are missing port", "[gr]"):
        api.update_virtual_gateway(meshName=mesh, virtualGatewayName="g3", spec=two)
    gateway = api.describe_virtual_gateway(meshName=mesh, virtualGatewayName="g3")["virtualGateway"]
    assert gateway["metadata"]["version"] == 1 and gateway["spec"] == one


def test_route_spec_needs_exactly_one_route_kind(api, routed):
    targets = {"weightedTargets": [{"virtualNode": "a", "weight": 1}]}
    with api_error("BadRequestException", 400):
        api.create_route(meshName=routed, virtualRouterName="r", routeName="none", spec={"priority": 1})
    assert_no_route(api, routed, "none")
    both = {"httpRoute": {"match": {"prefix": "/"}, "action": targets}, "tcpRoute": {"action": targets}}
    with api_error("BadRequestException", 400):
        api.create_route(meshName=routed, virtualRouterName="r", routeName="both", spec=both)
    assert_no_route(api, routed, "both")


def test_duplicate_backends_rejected(api, mesh):
    """Duplicate backend virtual service names are rejected (App Mesh roadmap #170)."""
    with api_error("BadRequestException", 400):
        api.create_virtual_node(meshName=mesh, virtualNodeName="n", spec=node_spec(backends=["s.local", "s.local"]))
    with api_error("NotFoundException", 404):
        api.describe_virtual_node(meshName=mesh, virtualNodeName="n")
