"""App Mesh node ids: full ARN, short form, mesh@owner, metadata account/region, and refusals."""

from __future__ import annotations

import pytest

from appmesh_local.xds.node_id import NodeIdError, ProxyRef, format_node_id, parse_node_id


def test_short_form_uses_defaults():
    assert parse_node_id("mesh/apps/virtualNode/serviceB") == ProxyRef(
        "123456789012", "us-east-1", "apps", "virtualNode", "serviceB"
    )


def test_short_form_takes_account_and_region_from_metadata():
    ref = parse_node_id(
        "mesh/apps/virtualGateway/gw", {"appmesh_local.account": "111122223333", "appmesh_local.region": "eu-west-1"}
    )
    assert (ref.account, ref.region, ref.kind, ref.name) == ("111122223333", "eu-west-1", "virtualGateway", "gw")


def test_full_arn_gives_account_and_region():
    ref = parse_node_id("arn:aws:appmesh:ap-south-1:444455556666:mesh/apps/virtualNode/b_ns")
    assert ref == ProxyRef("444455556666", "ap-south-1", "apps", "virtualNode", "b_ns")


def test_mesh_owner_sets_the_account():
    ref = parse_node_id("mesh/shared@210987654321/virtualNode/a", {"appmesh_local.account": "111122223333"})
    assert ref.account == "210987654321" and ref.mesh == "shared"
    arn = parse_node_id("arn:aws:appmesh:us-west-2:111122223333:mesh/shared@210987654321/virtualNode/a")
    assert (arn.account, arn.region) == ("210987654321", "us-west-2")


@pytest.mark.parametrize(
    "node_id",
    [
        "",
        "serviceB",
        "mesh/apps/virtualRouter/r",
        "mesh/apps/virtualNode",
        "mesh/apps/virtualNode/a/extra",
        "mesh//virtualNode/a",
        "mesh/apps@notanaccount/virtualNode/a",
        "arn:aws:appmesh:us-east-1:1:mesh/m",
    ],
)
def test_refused_ids(node_id):
    with pytest.raises(NodeIdError):
        parse_node_id(node_id)


def test_format_round_trips():
    assert format_node_id("m", "virtualNode", "a") == "mesh/m/virtualNode/a"
    assert parse_node_id(format_node_id("m", "virtualGateway", "g", "210987654321")).account == "210987654321"
    with pytest.raises(NodeIdError):
        format_node_id("m", "route", "a")
