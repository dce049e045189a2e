"""Meshes: create/describe/update/list/delete, metadata, defaults and errors."""

from __future__ import annotations

import time

from tests.api.helpers import (
    DEFAULT_ACCOUNT,
    api_error,
    arn,
    assert_fresh_metadata,
    assert_ref,
    assert_updated,
    node_spec,
    unique,
)
from tests.conftest import make_client


def test_create_mesh_returns_active_mesh_with_metadata(api, tenant):
    name = unique("mesh")
    mesh = api.create_mesh(meshName=name)["mesh"]
    assert mesh["meshName"] == name
    assert mesh["status"] == {"status": "ACTIVE"}
    assert_fresh_metadata(mesh["metadata"], arn(tenant.region, tenant.account, name), tenant.account)


def test_mesh_without_spec_comes_back_with_an_empty_spec(api):
    """The AWS CLI's create-mesh, describe-mesh and the user guide's delete-mesh examples all show
    `"spec": {}` for a mesh created without one: DROP_ALL is the data plane's default, not a spec value."""
    name = unique("mesh")
    created = api.create_mesh(meshName=name, spec={})["mesh"]
    assert created["spec"] == {}
    assert api.describe_mesh(meshName=name)["mesh"]["spec"] == {}
    no_spec = api.create_mesh(meshName=unique("mesh"))["mesh"]
    assert no_spec["spec"] == {}
    assert api.delete_mesh(meshName=no_spec["meshName"])["mesh"]["spec"] == {}


def test_describe_returns_what_create_returned(api):
    name = unique("mesh")
    spec = {"egressFilter": {"type": "ALLOW_ALL"}, "serviceDiscovery": {"ipPreference": "IPv4_ONLY"}}
    created = api.create_mesh(meshName=name, spec=spec)["mesh"]
    described = api.describe_mesh(meshName=name)["mesh"]
    assert described == created
    assert described["spec"] == spec


def test_each_mesh_gets_its_own_uid(api):
    first = api.create_mesh(meshName=unique("mesh"))["mesh"]["metadata"]["uid"]
    second = api.create_mesh(meshName=unique("mesh"))["mesh"]["metadata"]["uid"]
    assert first != second


def test_update_mesh_bumps_version_and_keeps_identity(api, mesh):
    before = api.describe_mesh(meshName=mesh)["mesh"]
    time.sleep(0.02)
    updated = api.update_mesh(meshName=mesh, spec={"egressFilter": {"type": "ALLOW_ALL"}})["mesh"]
    assert updated["spec"]["egressFilter"] == {"type": "ALLOW_ALL"}
    assert_updated(before["metadata"], updated["metadata"])
    time.sleep(0.02)
    again = api.update_mesh(meshName=mesh, spec={})["mesh"]
    assert again["metadata"]["version"] == 3
    assert again["spec"] == {}
    assert api.describe_mesh(meshName=mesh)["mesh"] == again


def test_delete_mesh_returns_deleted_status_then_not_found(api, mesh):
    deleted = api.delete_mesh(meshName=mesh)["mesh"]
    assert deleted["status"] == {"status": "DELETED"}
    assert deleted["meshName"] == mesh
    with api_error("NotFoundException", 404):
        api.describe_mesh(meshName=mesh)
    with api_error("NotFoundException", 404):
        api.delete_mesh(meshName=mesh)
    assert mesh not in {m["meshName"] for m in api.list_meshes()["meshes"]}


def test_name_can_be_reused_after_delete_with_new_uid(api, mesh):
    old_uid = api.describe_mesh(meshName=mesh)["mesh"]["metadata"]["uid"]
    api.delete_mesh(meshName=mesh)
    recreated = api.create_mesh(meshName=mesh)["mesh"]["metadata"]
    assert recreated["uid"] != old_uid
    assert recreated["version"] == 1


def test_missing_mesh_is_not_found_everywhere(api):
    name = unique("nomesh")
    with api_error("NotFoundException", 404):
        api.describe_mesh(meshName=name)
    with api_error("NotFoundException", 404):
        api.update_mesh(meshName=name, spec={})
    with api_error("NotFoundException", 404):
        api.delete_mesh(meshName=name)
    with api_error("NotFoundException", 404):
        api.list_virtual_nodes(meshName=name)
    with api_error("NotFoundException", 404):
        api.create_virtual_node(meshName=name, virtualNodeName="n", spec={})


def test_duplicate_mesh_name_conflicts_and_keeps_original(api, mesh):
    original = api.describe_mesh(meshName=mesh)["mesh"]
    with api_error("ConflictException", 409):
        api.create_mesh(meshName=mesh, spec={"egressFilter": {"type": "ALLOW_ALL"}})
    assert api.describe_mesh(meshName=mesh)["mesh"] == original


def test_list_meshes_gives_refs_without_uid_or_spec(api, tenant):
    names = sorted(unique("mesh") for _ in range(3))
    created = {name: api.create_mesh(meshName=name)["mesh"] for name in names}
    listed = api.list_meshes()
    refs = {ref["meshName"]: ref for ref in listed["meshes"]}
    assert set(refs) == set(names)
    assert "nextToken" not in listed
    for name in names:
        assert_ref(refs[name], created[name])


def test_delete_mesh_in_use_by_virtual_node(api, mesh):
    api.create_virtual_node(meshName=mesh, virtualNodeName="vn", spec=node_spec())
    with api_error("ResourceInUseException", 409):
        api.delete_mesh(meshName=mesh)
    assert api.describe_mesh(meshName=mesh)["mesh"]["status"]["status"] == "ACTIVE"
    api.delete_virtual_node(meshName=mesh, virtualNodeName="vn")
    assert api.delete_mesh(meshName=mesh)["mesh"]["status"]["status"] == "DELETED"


def test_delete_mesh_in_use_by_each_child_kind(api):
    creators = {
        "router": lambda m: api.create_virtual_router(
            meshName=m, virtualRouterName="vr", spec={"listeners": [{"portMapping": {"port": 80, "protocol": "http"}}]}
        ),
        "service": lambda m: api.create_virtual_service(meshName=m, virtualServiceName="s.local", spec={}),
        "gateway": lambda m: api.create_virtual_gateway(
            meshName=m, virtualGatewayName="vg", spec={"listeners": [{"portMapping": {"port": 80, "protocol": "http"}}]}
        ),
    }
    for kind, create in creators.items():
        name = unique(f"mesh-{kind}")
        api.create_mesh(meshName=name)
        create(name)
        with api_error("ResourceInUseException", 409):
            api.delete_mesh(meshName=name)
        assert api.describe_mesh(meshName=name)["mesh"]["metadata"]["version"] == 1


def test_account_defaults_to_123456789012_for_non_numeric_key(server):
    client = make_client(server.endpoint, access_key="AKIDNOTANACCOUNT")
    name = unique("mesh")
    try:
        mesh = client.create_mesh(meshName=name)["mesh"]
        assert mesh["metadata"]["arn"] == arn("us-east-1", DEFAULT_ACCOUNT, name)
        assert mesh["metadata"]["meshOwner"] == DEFAULT_ACCOUNT
    finally:
        client.delete_mesh(meshName=name)


def test_responses_carry_request_id(api):
    response = api.list_meshes()
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert response["ResponseMetadata"].get("RequestId")
