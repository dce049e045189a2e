"""Tags: at create time, TagResource/UntagResource, ListTagsForResource with pagination, limits."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from tests.api.helpers import api_error, arn, gateway_route_spec, gateway_spec, http_route_spec, node_spec, unique


def tags(pairs: dict[str, str]) -> list[dict[str, str]]:
    return [{"key": key, "value": value} for key, value in pairs.items()]


def all_tags(api, resource_arn: str, limit: int | None = None) -> dict[str, str]:
    """Every tag of a resource, following nextToken by hand; checks page sizes too."""
    found: dict[str, str] = {}
    kwargs: dict = {"resourceArn": resource_arn}
    if limit:
        kwargs["limit"] = limit
    for _ in range(200):
        page = api.list_tags_for_resource(**kwargs)
        if limit:
            assert len(page["tags"]) <= limit
        for tag in page["tags"]:
            assert tag["key"] not in found, f"duplicate {tag['key']} across pages"
            found[tag["key"]] = tag["value"]
        if not page.get("nextToken"):
            return found
        kwargs["nextToken"] = page["nextToken"]
    raise AssertionError("pagination did not end")


def test_tags_given_at_create_are_listed(api, tenant):
    name = unique("mesh")
    api.create_mesh(meshName=name, tags=tags({"team": "core", "env": ""}))
    assert all_tags(api, arn(tenant.region, tenant.account, name)) == {"team": "core", "env": ""}


def test_tag_resource_adds_and_replaces_values(api, tenant, mesh):
    mesh_arn = arn(tenant.region, tenant.account, mesh)
    assert all_tags(api, mesh_arn) == {}
    assert api.tag_resource(resourceArn=mesh_arn, tags=tags({"a": "1", "b": "2"})) is not None
    api.tag_resource(resourceArn=mesh_arn, tags=tags({"b": "20", "c": "3"}))
    assert all_tags(api, mesh_arn) == {"a": "1", "b": "20", "c": "3"}


def test_untag_resource_removes_keys_and_ignores_unknown_keys(api, tenant, mesh):
    mesh_arn = arn(tenant.region, tenant.account, mesh)
    api.tag_resource(resourceArn=mesh_arn, tags=tags({"a": "1", "b": "2", "c": "3"}))
    api.untag_resource(resourceArn=mesh_arn, tagKeys=["a", "c", "never-set"])
    assert all_tags(api, mesh_arn) == {"b": "2"}


def test_tagging_does_not_change_resource_version(api, tenant, mesh):
    api.tag_resource(resourceArn=arn(tenant.region, tenant.account, mesh), tags=tags({"a": "1"}))
    assert api.describe_mesh(meshName=mesh)["mesh"]["metadata"]["version"] == 1


def test_every_resource_kind_is_taggable(api, tenant, mesh):
    api.create_virtual_node(meshName=mesh, virtualNodeName="n", spec=node_spec(), tags=tags({"k": "node"}))
    api.create_virtual_router(
        meshName=mesh,
        virtualRouterName="r",
        spec={"listeners": [{"portMapping": {"port": 8080, "protocol": "http"}}]},
        tags=tags({"k": "router"}),
    )
    api.create_route(
        meshName=mesh, virtualRouterName="r", routeName="rt", spec=http_route_spec("n"), tags=tags({"k": "route"})
    )
    api.create_virtual_service(meshName=mesh, virtualServiceName="s.local", spec={}, tags=tags({"k": "service"}))
    api.create_virtual_gateway(
        meshName=mesh, virtualGatewayName="g", spec=gateway_spec(8088), tags=tags({"k": "gateway"})
    )
    api.create_gateway_route(
        meshName=mesh,
        virtualGatewayName="g",
        gatewayRouteName="gr",
        spec=gateway_route_spec("s.local"),
        tags=tags({"k": "gatewayRoute"}),
    )
    base = (tenant.region, tenant.account, mesh)
    expected = {
        arn(*base, "virtualNode", "n"): "node",
        arn(*base, "virtualRouter", "r"): "router",
        arn(*base, "virtualRouter", "r", "route", "rt"): "route",
        arn(*base, "virtualService", "s.local"): "service",
        arn(*base, "virtualGateway", "g"): "gateway",
        arn(*base, "virtualGateway", "g", "gatewayRoute", "gr"): "gatewayRoute",
    }
    for resource_arn, value in expected.items():
        assert all_tags(api, resource_arn) == {"k": value}, resource_arn
        api.tag_resource(resourceArn=resource_arn, tags=tags({"extra": "1"}))
        assert all_tags(api, resource_arn) == {"k": value, "extra": "1"}, resource_arn


@pytest.mark.parametrize("limit", [1, 7, 50])
def test_list_tags_pagination(api, tenant, limit):
    name = unique("mesh")
    wanted = {f"key{i:02d}": f"value{i}" for i in range(23)}
    api.create_mesh(meshName=name, tags=tags(wanted))
    assert all_tags(api, arn(tenant.region, tenant.account, name), limit=limit) == wanted


def test_list_tags_paginator(api, tenant):
    name = unique("mesh")
    wanted = {f"key{i}": "v" for i in range(9)}
    api.create_mesh(meshName=name, tags=tags(wanted))
    pages = list(
        api.get_paginator("list_tags_for_resource").paginate(
            resourceArn=arn(tenant.region, tenant.account, name), PaginationConfig={"PageSize": 4}
        )
    )
    assert [len(p["tags"]) for p in pages] == [4, 4, 1]
    assert {t["key"] for p in pages for t in p["tags"]} == set(wanted)


def test_list_tags_limit_out_of_range(raw_api, tenant, mesh):
    mesh_arn = arn(tenant.region, tenant.account, mesh)
    for limit in (0, 51):
        with api_error("BadRequestException", 400, "limit"):
            raw_api.list_tags_for_resource(resourceArn=mesh_arn, limit=limit)


def test_too_many_tags_applies_none(api, tenant, mesh):
    mesh_arn = arn(tenant.region, tenant.account, mesh)
    api.tag_resource(resourceArn=mesh_arn, tags=tags({f"k{i}": "v" for i in range(45)}))
    with api_error("TooManyTagsException", 400):
        api.tag_resource(resourceArn=mesh_arn, tags=tags({f"new{i}": "v" for i in range(6)}))
    assert len(all_tags(api, mesh_arn)) == 45
    # Replacing existing keys does not add tags: allowed right at the limit.
    api.tag_resource(
        resourceArn=mesh_arn,
        tags=tags({f"k{i}": "w" for i in range(40)} | {"n1": "1", "n2": "2", "n3": "3", "n4": "4", "n5": "5"}),
    )
    assert len(all_tags(api, mesh_arn)) == 50


def test_more_than_50_tags_at_create_is_rejected(raw_api):
    name = unique("mesh")
    with pytest.raises(ClientError) as info:
        raw_api.create_mesh(meshName=name, tags=tags({f"k{i}": "v" for i in range(51)}))
    code = info.value.response["Error"]["Code"]
    assert code in ("BadRequestException", "TooManyTagsException")
    with api_error("NotFoundException", 404):
        raw_api.describe_mesh(meshName=name)


def test_unknown_arn_is_not_found(api, tenant):
    missing = arn(tenant.region, tenant.account, unique("nomesh"))
    with api_error("NotFoundException", 404):
        api.tag_resource(resourceArn=missing, tags=tags({"a": "1"}))
    with api_error("NotFoundException", 404):
        api.untag_resource(resourceArn=missing, tagKeys=["a"])
    with api_error("NotFoundException", 404):
        api.list_tags_for_resource(resourceArn=missing)


def test_deleted_resource_tags_are_gone(api, tenant):
    name = unique("mesh")
    api.create_mesh(meshName=name, tags=tags({"a": "1"}))
    api.delete_mesh(meshName=name)
    api.create_mesh(meshName=name)
    assert all_tags(api, arn(tenant.region, tenant.account, name)) == {}


def test_tag_key_length_validated(raw_api, tenant, mesh):
    mesh_arn = arn(tenant.region, tenant.account, mesh)
    with api_error("BadRequestException", 400, "tags", "length"):
        raw_api.tag_resource(resourceArn=mesh_arn, tags=[{"key": "k" * 129, "value": "v"}])
    assert all_tags(raw_api, mesh_arn) == {}
