"""Accounts and regions: taken from the SigV4 credentials, resources isolated per (account, region)."""

from __future__ import annotations

from tests.api.helpers import api_error, arn, fresh_account, node_spec, unique
from tests.conftest import make_client


def test_region_comes_from_the_credential_scope(server):
    account = fresh_account()
    name = unique("mesh")
    client = make_client(server.endpoint, region="eu-west-1", access_key=account)
    mesh = client.create_mesh(meshName=name)["mesh"]
    assert mesh["metadata"]["arn"] == arn("eu-west-1", account, name)
    node = client.create_virtual_node(meshName=name, virtualNodeName="n", spec=node_spec())["virtualNode"]
    assert node["metadata"]["arn"] == arn("eu-west-1", account, name, "virtualNode", "n")


def test_mesh_is_invisible_in_another_region(server):
    account = fresh_account()
    name = unique("mesh")
    east = make_client(server.endpoint, region="us-east-1", access_key=account)
    west = make_client(server.endpoint, region="eu-west-1", access_key=account)
    east.create_mesh(meshName=name)
    with api_error("NotFoundException", 404):
        west.describe_mesh(meshName=name)
    assert name not in [m["meshName"] for m in west.list_meshes()["meshes"]]
    # Same name in the other region is a different resource, not a conflict.
    west_mesh = west.create_mesh(meshName=name)["mesh"]
    east_mesh = east.describe_mesh(meshName=name)["mesh"]
    assert west_mesh["metadata"]["uid"] != east_mesh["metadata"]["uid"]
    west.delete_mesh(meshName=name)
    assert east.describe_mesh(meshName=name)["mesh"]["status"]["status"] == "ACTIVE"


def test_mesh_is_invisible_to_another_account(server):
    owner, stranger = fresh_account(), fresh_account()
    name = unique("mesh")
    mine = make_client(server.endpoint, access_key=owner)
    theirs = make_client(server.endpoint, access_key=stranger)
    mine.create_mesh(meshName=name)
    with api_error("NotFoundException", 404):
        theirs.describe_mesh(meshName=name)
    with api_error("NotFoundException", 404):
        theirs.create_virtual_node(meshName=name, virtualNodeName="n", spec={})
    assert theirs.list_meshes()["meshes"] == []
    other = theirs.create_mesh(meshName=name)["mesh"]
    assert other["metadata"]["meshOwner"] == stranger
    assert other["metadata"]["arn"] == arn("us-east-1", stranger, name)


def test_tags_are_not_reachable_from_another_account(server):
    owner, stranger = fresh_account(), fresh_account()
    name = unique("mesh")
    mine = make_client(server.endpoint, access_key=owner)
    theirs = make_client(server.endpoint, access_key=stranger)
    mine.create_mesh(meshName=name, tags=[{"key": "a", "value": "1"}])
    mesh_arn = arn("us-east-1", owner, name)
    with api_error("NotFoundException", 404):
        theirs.tag_resource(resourceArn=mesh_arn, tags=[{"key": "b", "value": "2"}])
    assert mine.list_tags_for_resource(resourceArn=mesh_arn)["tags"] == [{"key": "a", "value": "1"}]


def test_mesh_owner_query_parameter_of_own_account(server):
    account = fresh_account()
    name = unique("mesh")
    client = make_client(server.endpoint, access_key=account)
    client.create_mesh(meshName=name)
    node = client.create_virtual_node(meshName=name, virtualNodeName="n", spec={}, meshOwner=account)
    assert node["virtualNode"]["metadata"]["meshOwner"] == account
    listed = client.list_virtual_nodes(meshName=name, meshOwner=account)["virtualNodes"]
    assert [ref["virtualNodeName"] for ref in listed] == ["n"]
    described = client.describe_mesh(meshName=name, meshOwner=account)["mesh"]
    assert described["meshName"] == name
