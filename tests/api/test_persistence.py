"""Durability: whatever the API acknowledged survives SIGKILL and a clean restart, unchanged."""

from __future__ import annotations

import pytest

from tests.api.conftest import Tenant
from tests.api.helpers import (
    api_error,
    arn,
    fresh_account,
    gateway_route_spec,
    gateway_spec,
    http_route_spec,
    node_spec,
    router_spec,
    unique,
)
from tests.support.server import ServerProcess


def build_world(api, mesh: str) -> None:
    """One resource of every kind, one update, one delete, some tags."""
    api.create_mesh(
        meshName=mesh, spec={"egressFilter": {"type": "ALLOW_ALL"}}, tags=[{"key": "team", "value": "core"}]
    )
    api.create_virtual_node(meshName=mesh, virtualNodeName="n", spec=node_spec(backends=["s.local"]))
    api.update_virtual_node(meshName=mesh, virtualNodeName="n", spec=node_spec(port=9090, backends=["s.local"]))
    api.create_virtual_router(meshName=mesh, virtualRouterName="r", spec=router_spec(9090))
    api.create_route(meshName=mesh, virtualRouterName="r", routeName="rt", spec=http_route_spec("n"))
    api.create_virtual_service(
        meshName=mesh, virtualServiceName="s.local", spec={"provider": {"virtualRouter": {"virtualRouterName": "r"}}}
    )
    api.create_virtual_service(meshName=mesh, virtualServiceName="gone.local", spec={})
    api.delete_virtual_service(meshName=mesh, virtualServiceName="gone.local")
    api.create_virtual_gateway(meshName=mesh, virtualGatewayName="g", spec=gateway_spec(8088))
    api.create_gateway_route(
        meshName=mesh, virtualGatewayName="g", gatewayRouteName="gr", spec=gateway_route_spec("s.local")
    )


def snapshot(api, tenant: Tenant, mesh: str) -> dict:
    """Everything observable about the world through the API."""
    return {
        "mesh": api.describe_mesh(meshName=mesh)["mesh"],
        "node": api.describe_virtual_node(meshName=mesh, virtualNodeName="n")["virtualNode"],
        "router": api.describe_virtual_router(meshName=mesh, virtualRouterName="r")["virtualRouter"],
        "route": api.describe_route(meshName=mesh, virtualRouterName="r", routeName="rt")["route"],
        "service": api.describe_virtual_service(meshName=mesh, virtualServiceName="s.local")["virtualService"],
        "gateway": api.describe_virtual_gateway(meshName=mesh, virtualGatewayName="g")["virtualGateway"],
        "gatewayRoute": api.describe_gateway_route(meshName=mesh, virtualGatewayName="g", gatewayRouteName="gr")[
            "gatewayRoute"
        ],
        "services": sorted(
            s["virtualServiceName"] for s in api.list_virtual_services(meshName=mesh)["virtualServices"]
        ),
        "tags": api.list_tags_for_resource(resourceArn=arn(tenant.region, tenant.account, mesh))["tags"],
        "meshes": api.list_meshes()["meshes"],
    }


@pytest.mark.parametrize("how", ["sigkill", "clean"])
def test_state_survives_restart(tmp_path, how):
    tenant_account = fresh_account()
    mesh = unique("mesh")
    first = ServerProcess(state_dir=tmp_path).start()
    try:
        tenant = Tenant(account=tenant_account, region="us-east-1", endpoint=first.endpoint)
        api = tenant.client()
        build_world(api, mesh)
        before = snapshot(api, tenant, mesh)
    finally:
        if how == "sigkill":
            first.kill()
        else:
            first.stop()
    assert before["node"]["metadata"]["version"] == 2
    assert before["services"] == ["s.local"]

    with ServerProcess(state_dir=tmp_path) as second:
        tenant = Tenant(account=tenant_account, region="us-east-1", endpoint=second.endpoint)
        api = tenant.client()
        assert snapshot(api, tenant, mesh) == before
        with api_error("NotFoundException", 404):
            api.describe_virtual_service(meshName=mesh, virtualServiceName="gone.local")
        # The restored store is live: updates continue the version sequence, uid unchanged.
        updated = api.update_virtual_node(meshName=mesh, virtualNodeName="n", spec=node_spec(port=9090))
        assert updated["virtualNode"]["metadata"]["version"] == 3
        assert updated["virtualNode"]["metadata"]["uid"] == before["node"]["metadata"]["uid"]
        with api_error("ConflictException", 409):
            api.create_mesh(meshName=mesh)
        with api_error("ResourceInUseException", 409):
            api.delete_virtual_router(meshName=mesh, virtualRouterName="r")


def test_last_acknowledged_write_survives_sigkill(tmp_path):
    """The write answered just before the crash is there: commit happens before the response."""
    account = fresh_account()
    mesh = unique("mesh")
    first = ServerProcess(state_dir=tmp_path).start()
    try:
        api = Tenant(account=account, region="us-east-1", endpoint=first.endpoint).client()
        api.create_mesh(meshName=mesh)
        for i in range(20):
            api.create_virtual_node(meshName=mesh, virtualNodeName=f"n{i}", spec={})
        last = api.update_virtual_node(meshName=mesh, virtualNodeName="n19", spec=node_spec())["virtualNode"]
    finally:
        first.kill()
    with ServerProcess(state_dir=tmp_path) as second:
        api = Tenant(account=account, region="us-east-1", endpoint=second.endpoint).client()
        assert len(api.list_virtual_nodes(meshName=mesh)["virtualNodes"]) == 20
        described = api.describe_virtual_node(meshName=mesh, virtualNodeName="n19")["virtualNode"]
        assert described == {**last, "spec": {**last["spec"], "backends": []}}  # Describe shows backends: []


def test_ephemeral_server_starts_empty():
    """--ephemeral keeps nothing: a second ephemeral server does not see the first one's meshes."""
    account = fresh_account()
    mesh = unique("mesh")
    with ServerProcess() as one:
        Tenant(account=account, region="us-east-1", endpoint=one.endpoint).client().create_mesh(meshName=mesh)
    with ServerProcess() as two:
        client = Tenant(account=account, region="us-east-1", endpoint=two.endpoint).client()
        assert client.list_meshes()["meshes"] == []
