"""clientToken idempotency: same token + same request replays; same token + different request conflicts."""

from __future__ import annotations

import time
import uuid

from tests.api.helpers import (
    api_error,
    fresh_account,
    gateway_route_spec,
    gateway_spec,
    http_route_spec,
    node_spec,
    router_spec,
    unique,
)
from tests.conftest import make_client


def test_create_mesh_replay_returns_original(api):
    name, token = unique("mesh"), str(uuid.uuid4())
    first = api.create_mesh(meshName=name, clientToken=token)["mesh"]
    second = api.create_mesh(meshName=name, clientToken=token)["mesh"]
    assert second == first
    assert api.describe_mesh(meshName=name)["mesh"]["metadata"]["version"] == 1
    assert [m["meshName"] for m in api.list_meshes()["meshes"]].count(name) == 1


def test_create_mesh_same_token_different_request_conflicts(api):
    name, token = unique("mesh"), str(uuid.uuid4())
    api.create_mesh(meshName=name, clientToken=token)
    with api_error("ConflictException", 409):
        api.create_mesh(meshName=name, clientToken=token, spec={"egressFilter": {"type": "ALLOW_ALL"}})
    with api_error("ConflictException", 409):
        api.create_mesh(meshName=unique("mesh"), clientToken=token)
    assert api.describe_mesh(meshName=name)["mesh"]["spec"] == {}


def test_update_replay_does_not_bump_version(api, mesh):
    token = str(uuid.uuid4())
    spec = {"egressFilter": {"type": "ALLOW_ALL"}}
    first = api.update_mesh(meshName=mesh, spec=spec, clientToken=token)["mesh"]
    time.sleep(0.02)
    second = api.update_mesh(meshName=mesh, spec=spec, clientToken=token)["mesh"]
    assert first["metadata"]["version"] == 2
    assert second == first
    assert api.describe_mesh(meshName=mesh)["mesh"]["metadata"]["version"] == 2


def test_update_same_token_different_spec_conflicts(api, mesh):
    token = str(uuid.uuid4())
    api.create_virtual_node(meshName=mesh, virtualNodeName="n", spec=node_spec())
    api.update_virtual_node(meshName=mesh, virtualNodeName="n", spec=node_spec(port=81), clientToken=token)
    with api_error("ConflictException", 409):
        api.update_virtual_node(meshName=mesh, virtualNodeName="n", spec=node_spec(port=82), clientToken=token)
    node = api.describe_virtual_node(meshName=mesh, virtualNodeName="n")["virtualNode"]
    assert node["metadata"]["version"] == 2
    assert node["spec"]["listeners"][0]["portMapping"]["port"] == 81


def test_child_creates_replay(api, mesh):
    """Every child Create honours its clientToken."""
    calls = [
        (api.create_virtual_node, dict(virtualNodeName="n", spec=node_spec()), "virtualNode"),
        (api.create_virtual_router, dict(virtualRouterName="r", spec=router_spec(8080)), "virtualRouter"),
        (api.create_route, dict(virtualRouterName="r", routeName="rt", spec=http_route_spec("n")), "route"),
        (api.create_virtual_service, dict(virtualServiceName="s.local", spec={}), "virtualService"),
        (api.create_virtual_gateway, dict(virtualGatewayName="g", spec=gateway_spec(8088)), "virtualGateway"),
        (
            api.create_gateway_route,
            dict(virtualGatewayName="g", gatewayRouteName="gr", spec=gateway_route_spec("s.local")),
            "gatewayRoute",
        ),
    ]
    for call, kwargs, key in calls:
        token = str(uuid.uuid4())
        first = call(meshName=mesh, clientToken=token, **kwargs)[key]
        again = call(meshName=mesh, clientToken=token, **kwargs)[key]
        assert again == first, key
        assert again["metadata"]["version"] == 1


def test_token_is_scoped_to_the_account(api, server):
    """Another account reusing a token string is a different request stream, not a conflict."""
    token = str(uuid.uuid4())
    api.create_mesh(meshName=unique("mesh"), clientToken=token)
    other = make_client(server.endpoint, access_key=fresh_account())
    created = other.create_mesh(meshName=unique("mesh"), clientToken=token)["mesh"]
    assert created["metadata"]["version"] == 1


def test_sdk_autofills_a_token_so_plain_duplicates_still_conflict(api, mesh):
    with api_error("ConflictException", 409):
        api.create_mesh(meshName=mesh)
