"""Virtual services: CRUD, provider references and deletion rules."""

from __future__ import annotations

import time

from tests.api.helpers import (
    api_error,
    arn,
    assert_fresh_metadata,
    assert_ref,
    assert_updated,
    gateway_route_spec,
    gateway_spec,
    node_spec,
    router_spec,
    service_spec,
)


def test_virtual_service_crud(api, tenant, mesh):
    api.create_virtual_node(meshName=mesh, virtualNodeName="n", spec=node_spec())
    api.create_virtual_router(meshName=mesh, virtualRouterName="r", spec=router_spec(8080))
    name = "svc.ns.svc.cluster.local"
    service = api.create_virtual_service(meshName=mesh, virtualServiceName=name, spec=service_spec(node="n"))[
        "virtualService"
    ]
    assert service["virtualServiceName"] == name and service["meshName"] == mesh
    assert service["spec"] == service_spec(node="n")
    assert service["status"] == {"status": "ACTIVE"}
    assert_fresh_metadata(
        service["metadata"], arn(tenant.region, tenant.account, mesh, "virtualService", name), tenant.account
    )
    assert api.describe_virtual_service(meshName=mesh, virtualServiceName=name)["virtualService"] == service
    time.sleep(0.02)
    updated = api.update_virtual_service(meshName=mesh, virtualServiceName=name, spec=service_spec(router="r"))[
        "virtualService"
    ]
    assert_updated(service["metadata"], updated["metadata"])
    assert updated["spec"] == service_spec(router="r")
    refs = api.list_virtual_services(meshName=mesh)["virtualServices"]
    assert [r["virtualServiceName"] for r in refs] == [name]
    assert_ref(refs[0], updated)
    deleted = api.delete_virtual_service(meshName=mesh, virtualServiceName=name)["virtualService"]
    assert deleted["status"] == {"status": "DELETED"}
    with api_error("NotFoundException", 404):
        api.describe_virtual_service(meshName=mesh, virtualServiceName=name)


def test_service_without_provider(api, mesh):
    service = api.create_virtual_service(meshName=mesh, virtualServiceName="s.local", spec={})["virtualService"]
    assert "provider" not in service["spec"]


def test_provider_node_must_exist(api, mesh):
    with api_error("NotFoundException", 404, "ghost"):
        api.create_virtual_service(meshName=mesh, virtualServiceName="s.local", spec=service_spec(node="ghost"))
    with api_error("NotFoundException", 404):
        api.describe_virtual_service(meshName=mesh, virtualServiceName="s.local")


def test_provider_router_must_exist(api, mesh):
    with api_error("NotFoundException", 404, "ghost"):
        api.create_virtual_service(meshName=mesh, virtualServiceName="s.local", spec=service_spec(router="ghost"))
    api.create_virtual_service(meshName=mesh, virtualServiceName="s.local", spec={})
    with api_error("NotFoundException", 404, "ghost"):
        api.update_virtual_service(meshName=mesh, virtualServiceName="s.local", spec=service_spec(router="ghost"))
    current = api.describe_virtual_service(meshName=mesh, virtualServiceName="s.local")["virtualService"]
    assert current["metadata"]["version"] == 1 and current["spec"] == {}


def test_duplicate_service_conflicts(api, mesh):
    api.create_virtual_service(meshName=mesh, virtualServiceName="s.local", spec={})
    with api_error("ConflictException", 409):
        api.create_virtual_service(meshName=mesh, virtualServiceName="s.local", spec={})


def test_missing_service(api, mesh):
    with api_error("NotFoundException", 404):
        api.update_virtual_service(meshName=mesh, virtualServiceName="nope.local", spec={})
    with api_error("NotFoundException", 404):
        api.delete_virtual_service(meshName=mesh, virtualServiceName="nope.local")


def test_delete_service_blocked_while_gateway_route_targets_it(api, mesh):
    api.create_virtual_service(meshName=mesh, virtualServiceName="s.local", spec={})
    api.create_virtual_gateway(meshName=mesh, virtualGatewayName="gw", spec=gateway_spec(8088))
    api.create_gateway_route(
        meshName=mesh, virtualGatewayName="gw", gatewayRouteName="gr", spec=gateway_route_spec("s.local")
    )
    with api_error("ResourceInUseException", 409):
        api.delete_virtual_service(meshName=mesh, virtualServiceName="s.local")
    api.describe_virtual_service(meshName=mesh, virtualServiceName="s.local")
    api.delete_gateway_route(meshName=mesh, virtualGatewayName="gw", gatewayRouteName="gr")
    api.delete_virtual_service(meshName=mesh, virtualServiceName="s.local")
