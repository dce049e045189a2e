"""Model constraint violations: BadRequestException 400, Coral-style message, nothing stored.

All calls go through a client with botocore's parameter validation OFF, so the server sees the bad
input exactly as a careless SDK or hand-written HTTP client would send it.
"""

from __future__ import annotations

import json

import pytest

from tests.api.helpers import api_error, arn, node_spec, router_spec, send_signed

NOT_NULL = "Member must not be null"
ENUM = "Member must satisfy enum value set"
PATTERN = "Member must satisfy regular expression pattern"


def bad_node(raw_api, mesh: str, spec: dict, *message_parts: str, name: str = "bad"):
    """CreateVirtualNode with `spec` must fail with those message parts and store nothing."""
    with api_error("BadRequestException", 400, *message_parts) as info:
        raw_api.create_virtual_node(meshName=mesh, virtualNodeName=name, spec=spec)
    with api_error("NotFoundException", 404):
        raw_api.describe_virtual_node(meshName=mesh, virtualNodeName=name)
    return info.value.response["Error"]["Message"]


def listener(port=8080, protocol="http", **extra) -> dict:
    return {"portMapping": {"port": port, "protocol": protocol}, **extra}


def dns_spec(*listeners: dict) -> dict:
    return {"listeners": list(listeners), "serviceDiscovery": {"dns": {"hostname": "a.local"}}}


# ---------------------------------------------------------------- message format


def test_coral_message_for_integer_max(raw_api, mesh):
    message = bad_node(
        raw_api,
        mesh,
        dns_spec(listener(port=70000)),
        "portMapping.port",
        "70000",
        "Member must have value less than or equal to 65535",
    )
    assert message.startswith("1 validation error detected: Value '70000' at '"), message
    assert "'spec.listeners." in message


def test_two_violations_are_both_reported(raw_api, mesh):
    message = bad_node(
        raw_api, mesh, dns_spec(listener(port=0, protocol="smtp")), "portMapping.port", "portMapping.protocol"
    )
    assert message.startswith("2 validation errors detected: "), message
    assert "Member must have value greater than or equal to 1" in message
    assert ENUM in message


# ---------------------------------------------------------------- required


def test_required_top_level_member_missing(raw_api, mesh):
    with api_error("BadRequestException", 400, "spec", NOT_NULL):
        raw_api.create_virtual_node(meshName=mesh, virtualNodeName="bad")
    with api_error("NotFoundException", 404):
        raw_api.describe_virtual_node(meshName=mesh, virtualNodeName="bad")


def test_required_nested_member_missing(raw_api, mesh):
    spec = dns_spec({"portMapping": {"protocol": "http"}})
    bad_node(raw_api, mesh, spec, "portMapping.port", NOT_NULL)


def test_required_name_missing_on_create_mesh(raw_api):
    with api_error("BadRequestException", 400, "meshName", NOT_NULL):
        raw_api.create_mesh()


def test_required_tags_member_missing_on_tag_resource(raw_api, tenant, mesh):
    with api_error("BadRequestException", 400, "tags", NOT_NULL):
        raw_api.tag_resource(resourceArn=arn(tenant.region, tenant.account, mesh))


# ---------------------------------------------------------------- string lengths


def test_name_too_long(raw_api):
    name = "m" * 256
    with api_error("BadRequestException", 400, "meshName", "Member must have length less than or equal to 255"):
        raw_api.create_mesh(meshName=name)
    assert name not in [m["meshName"] for m in raw_api.list_meshes()["meshes"]]


def test_name_of_255_is_fine(raw_api, mesh):
    name = "n" * 255
    raw_api.create_virtual_node(meshName=mesh, virtualNodeName=name, spec={})
    raw_api.describe_virtual_node(meshName=mesh, virtualNodeName=name)


def test_empty_name_too_short(raw_api, mesh):
    with api_error("BadRequestException", 400, "virtualNodeName", "Member must have length greater than or equal to 1"):
        raw_api.create_virtual_node(meshName=mesh, virtualNodeName="", spec={})
    assert raw_api.list_virtual_nodes(meshName=mesh)["virtualNodes"] == []


def test_nested_string_too_long(raw_api, mesh):
    spec = {"logging": {"accessLog": {"file": {"path": "/" + "p" * 255}}}}
    bad_node(raw_api, mesh, spec, "accessLog.file.path", "Member must have length less than or equal to 255")


# ---------------------------------------------------------------- numbers


def test_integer_below_minimum(raw_api, mesh):
    bad_node(
        raw_api,
        mesh,
        dns_spec(listener(port=0)),
        "portMapping.port",
        "Member must have value greater than or equal to 1",
    )


def test_long_out_of_range(raw_api, mesh):
    health = {
        "healthyThreshold": 2,
        "unhealthyThreshold": 2,
        "intervalMillis": 1000,
        "timeoutMillis": 2000,
        "protocol": "http",
    }
    bad_node(
        raw_api,
        mesh,
        dns_spec(listener(healthCheck=health)),
        "healthCheck.intervalMillis",
        "Member must have value greater than or equal to 5000",
    )
    health["intervalMillis"] = 300001
    bad_node(
        raw_api,
        mesh,
        dns_spec(listener(healthCheck=health)),
        "healthCheck.intervalMillis",
        "Member must have value less than or equal to 300000",
    )


def test_update_with_invalid_value_leaves_resource_unchanged(raw_api, mesh):
    raw_api.create_virtual_node(meshName=mesh, virtualNodeName="n", spec=node_spec())
    before = raw_api.describe_virtual_node(meshName=mesh, virtualNodeName="n")["virtualNode"]
    with api_error("BadRequestException", 400, "portMapping.port"):
        raw_api.update_virtual_node(meshName=mesh, virtualNodeName="n", spec=dns_spec(listener(port=65536)))
    assert raw_api.describe_virtual_node(meshName=mesh, virtualNodeName="n")["virtualNode"] == before


# ---------------------------------------------------------------- lists


def _route(raw_api, mesh, targets: list[dict], *parts: str):
    raw_api.create_virtual_node(meshName=mesh, virtualNodeName="t", spec=node_spec())
    raw_api.create_virtual_router(meshName=mesh, virtualRouterName="r", spec=router_spec(8080))
    spec = {"httpRoute": {"match": {"prefix": "/"}, "action": {"weightedTargets": targets}}}
    with api_error("BadRequestException", 400, "weightedTargets", *parts):
        raw_api.create_route(meshName=mesh, virtualRouterName="r", routeName="bad", spec=spec)
    assert raw_api.list_routes(meshName=mesh, virtualRouterName="r")["routes"] == []


def test_list_too_short(raw_api, mesh):
    _route(raw_api, mesh, [], "Member must have length greater than or equal to 1")


def test_list_too_long(raw_api, mesh):
    _route(raw_api, mesh, [{"virtualNode": "t", "weight": 1}] * 11, "Member must have length less than or equal to 10")


# ---------------------------------------------------------------- pattern, enum, union, types


def test_pattern_violation(raw_api, mesh):
    spec = {
        "listeners": [listener()],
        "serviceDiscovery": {
            "awsCloudMap": {
                "namespaceName": "ns",
                "serviceName": "svc",
                "attributes": [{"key": "bad key", "value": "v"}],
            }
        },
    }
    bad_node(raw_api, mesh, spec, "attributes", "key", PATTERN)


def test_enum_violation(raw_api, mesh):
    bad_node(raw_api, mesh, dns_spec(listener(protocol="https")), "portMapping.protocol", ENUM)


def test_enum_violation_on_update_mesh_keeps_version(raw_api, mesh):
    with api_error("BadRequestException", 400, "egressFilter.type", ENUM):
        raw_api.update_mesh(meshName=mesh, spec={"egressFilter": {"type": "ALLOW_SOME"}})
    current = raw_api.describe_mesh(meshName=mesh)["mesh"]
    assert current["metadata"]["version"] == 1
    assert current["spec"] == {}


def test_union_with_two_members(raw_api, mesh):
    spec = {
        "listeners": [listener()],
        "serviceDiscovery": {
            "dns": {"hostname": "a.local"},
            "awsCloudMap": {"namespaceName": "ns", "serviceName": "svc"},
        },
    }
    bad_node(raw_api, mesh, spec, "serviceDiscovery")


def test_union_with_no_member(raw_api, mesh):
    bad_node(raw_api, mesh, {"listeners": [listener()], "serviceDiscovery": {}}, "serviceDiscovery")


def test_union_with_two_members_in_virtual_service_provider(raw_api, mesh):
    raw_api.create_virtual_node(meshName=mesh, virtualNodeName="n", spec={})
    raw_api.create_virtual_router(meshName=mesh, virtualRouterName="r", spec=router_spec(8080))
    spec = {"provider": {"virtualNode": {"virtualNodeName": "n"}, "virtualRouter": {"virtualRouterName": "r"}}}
    with api_error("BadRequestException", 400, "provider"):
        raw_api.create_virtual_service(meshName=mesh, virtualServiceName="s.local", spec=spec)
    with api_error("NotFoundException", 404):
        raw_api.describe_virtual_service(meshName=mesh, virtualServiceName="s.local")


def test_string_where_integer_expected(raw_api, mesh):
    bad_node(raw_api, mesh, dns_spec(listener(port="8080")), "port")


def test_object_where_list_expected(tenant, mesh, raw_api):
    body = json.dumps(
        {"virtualNodeName": "bad", "spec": {"listeners": {"portMapping": {"port": 8080, "protocol": "http"}}}}
    )
    status, headers, payload = send_signed(
        tenant.endpoint, tenant.account, tenant.region, "PUT", f"/v20190125/meshes/{mesh}/virtualNodes", body.encode()
    )
    assert status == 400, payload
    assert headers.get("x-amzn-errortype", "").split(":")[0] == "BadRequestException"
    assert "listeners" in json.loads(payload)["message"]
    with api_error("NotFoundException", 404):
        raw_api.describe_virtual_node(meshName=mesh, virtualNodeName="bad")


def test_malformed_json_body(tenant, mesh):
    """A body that is not JSON at all is a 400 too, never a 500."""
    status, headers, payload = send_signed(
        tenant.endpoint, tenant.account, tenant.region, "PUT", f"/v20190125/meshes/{mesh}/virtualNodes", b"{not json"
    )
    assert status == 400, payload
    assert headers.get("x-amzn-errortype", "").split(":")[0] in ("BadRequestException", "SerializationException")
    assert json.loads(payload)["message"]


# ---------------------------------------------------------------- list parameters


@pytest.mark.parametrize("limit", [0, 101, -1])
def test_list_limit_out_of_range(raw_api, mesh, limit):
    with api_error("BadRequestException", 400, "limit"):
        raw_api.list_meshes(limit=limit)
    with api_error("BadRequestException", 400, "limit"):
        raw_api.list_virtual_nodes(meshName=mesh, limit=limit)


def test_list_limit_bounds_accepted(raw_api, mesh):
    assert raw_api.list_meshes(limit=1)["meshes"]
    raw_api.list_meshes(limit=100)


@pytest.mark.parametrize("token", ["garbage", "bm90LWEtdG9rZW4=", "x" * 500], ids=["text", "base64", "long"])
def test_invalid_next_token(raw_api, mesh, token):
    with api_error("BadRequestException", 400):
        raw_api.list_meshes(nextToken=token)
    with api_error("BadRequestException", 400):
        raw_api.list_virtual_nodes(meshName=mesh, nextToken=token)


def test_name_in_uri_too_long(raw_api, mesh):
    with api_error("BadRequestException", 400, "virtualNodeName", "Member must have length less than or equal to 255"):
        raw_api.describe_virtual_node(meshName=mesh, virtualNodeName="v" * 256)
