"""The conversion rules and intrinsic functions, without a server."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import pytest

from appmesh_local.apply.cfn import schema
from appmesh_local.apply.cfn.drivers import APPMESH_TYPES
from appmesh_local.apply.cfn.intrinsics import NO_VALUE, IntrinsicError, Scope, Unknown, evaluate
from appmesh_local.apply.cfn.template import Template, check_template
from appmesh_local.apply.errors import ApplyError
from appmesh_local.apply.meshops import create_input_shape
from appmesh_local.apply.shapes import ShapeError, member_for, to_api


def _walk_schema(type_name: str) -> list[str]:
    """Every property path of a CloudFormation type with no API member of the same name (case aside)."""
    from cfnlint.schema import PROVIDER_SCHEMA_MANAGER

    document = PROVIDER_SCHEMA_MANAGER.get_resource_schema("us-east-1", type_name).schema
    misses: list[str] = []

    def deref(node: Mapping[str, Any]) -> Mapping[str, Any]:
        while "$ref" in node:
            node = document["definitions"][node["$ref"].rsplit("/", 1)[-1]]
        return node

    def walk(node: Mapping[str, Any], shape: Any, path: str) -> None:
        node = deref(node)
        if "items" in node:
            walk(node["items"], shape.member, f"{path}[]")
        elif "properties" in node:
            for name, sub in node["properties"].items():
                member = member_for(shape, name)
                if member is None:
                    misses.append(f"{path}.{name}")
                else:
                    walk(sub, shape.members[member], f"{path}.{name}")

    top = create_input_shape(APPMESH_TYPES[type_name])
    read_only = schema.read_only(type_name) | {"MeshOwner"}
    for name, sub in document["properties"].items():
        if name in read_only:
            continue
        member = member_for(top, name)
        if member is None:
            misses.append(name)
        else:
            walk(sub, top.members[member], name)
    return misses


@pytest.mark.parametrize("type_name", sorted(APPMESH_TYPES))
def test_every_template_property_is_an_api_member(type_name: str) -> None:
    """The premise of shapes.py, checked against the registry's schemas as cfn-lint ships them."""
    assert _walk_schema(type_name) == []


def test_to_api_matches_names_and_coerces_like_cloudformation() -> None:
    shape = create_input_shape(APPMESH_TYPES["AWS::AppMesh::VirtualNode"])
    params = to_api(
        {
            "MeshName": "m",
            "Spec": {
                "Listeners": [
                    {
                        "PortMapping": {"Port": "8080", "Protocol": "http"},
                        "TLS": {"Mode": "STRICT", "Certificate": {"ACM": {"CertificateArn": "arn:x"}}},
                    }
                ],
                "ServiceDiscovery": {"AWSCloudMap": {"NamespaceName": "n", "ServiceName": "s"}},
                "BackendDefaults": {
                    "ClientPolicy": {
                        "TLS": {
                            "Enforce": "true",
                            "Ports": [443.0],
                            "Validation": {"Trust": {"File": {"CertificateChain": "c"}}},
                        }
                    }
                },
            },
        },
        shape,
        "Properties",
    )
    assert params["spec"]["listeners"][0]["portMapping"] == {"port": 8080, "protocol": "http"}
    assert params["spec"]["listeners"][0]["tls"]["certificate"] == {"acm": {"certificateArn": "arn:x"}}
    assert params["spec"]["serviceDiscovery"] == {"awsCloudMap": {"namespaceName": "n", "serviceName": "s"}}
    assert params["spec"]["backendDefaults"]["clientPolicy"]["tls"]["enforce"] is True
    assert params["spec"]["backendDefaults"]["clientPolicy"]["tls"]["ports"] == [443]
    with pytest.raises(ShapeError) as bad:
        to_api({"Spec": {"Listeners": [{"PortMapping": {"Port": "eighty"}}]}}, shape, "Properties")
    assert str(bad.value) == "Properties.Spec.Listeners[0].PortMapping.Port: expected an integer, got str 'eighty'"


def scope(**refs: Any) -> Scope:
    conditions = {"Yes": True, "No": False}
    return Scope(
        ref=lambda name: refs[name],
        get_att=lambda name, attribute: f"{name}/{attribute}",
        condition=conditions.__getitem__,
        import_value=lambda name: f"imported:{name}",
        mappings={"Regions": {"us-east-1": {"Port": 80}}},
        region="us-east-1",
    )


@pytest.mark.parametrize(
    "value, expected",
    [
        ({"Fn::Sub": "${Env}-${Mesh.Arn}-${!Literal}"}, "dev-Mesh/Arn-${Literal}"),
        ({"Fn::Sub": ["${A}.${Env}", {"A": {"Ref": "Env"}}]}, "dev.dev"),
        ({"Fn::Join": ["-", ["a", {"Ref": "Env"}, 3]]}, "a-dev-3"),
        ({"Fn::Select": [1, {"Fn::Split": [",", "x,y,z"]}]}, "y"),
        ({"Fn::If": ["Yes", "a", "b"]}, "a"),
        ({"Fn::If": ["No", "a", {"Ref": "AWS::NoValue"}]}, NO_VALUE),
        ({"Fn::Equals": [{"Ref": "Env"}, "dev"]}, True),
        ({"Fn::Not": [{"Fn::Equals": ["a", "b"]}]}, True),
        ({"Fn::And": [{"Condition": "Yes"}, {"Condition": "No"}]}, False),
        ({"Fn::Or": [{"Condition": "Yes"}, {"Condition": "No"}]}, True),
        ({"Fn::ImportValue": {"Fn::Sub": "${Env}:vpc"}}, "imported:dev:vpc"),
        ({"Fn::FindInMap": ["Regions", {"Ref": "AWS::Region"}, "Port"]}, 80),
        ({"Fn::GetAtt": "Node.VirtualNodeName"}, "Node/VirtualNodeName"),
        ({"Fn::Base64": "hi"}, "aGk="),
        ({"a": {"Fn::If": ["No", 1, {"Ref": "AWS::NoValue"}]}, "b": [1, {"Ref": "AWS::NoValue"}]}, {"b": [1]}),
    ],
)
def test_intrinsic_functions(value: Any, expected: Any) -> None:
    assert evaluate(value, scope(Env="dev", **{"AWS::Region": "us-east-1", "AWS::NoValue": NO_VALUE})) == expected


def test_unknown_values_propagate_and_unknown_functions_are_errors() -> None:
    pending = scope(Env=Unknown("Env"))
    assert isinstance(evaluate({"Fn::Join": ["-", [{"Ref": "Env"}, "x"]]}, pending), Unknown)
    assert isinstance(evaluate({"Fn::Sub": "${Env}.local"}, pending), Unknown)
    with pytest.raises(IntrinsicError) as bad:
        evaluate({"Spec": {"Name": {"Fn::Lower": "X"}}}, scope(), "Properties")
    assert bad.value.path == "Properties.Spec.Name" and "unknown intrinsic function 'Fn::Lower'" in str(bad.value)
    with pytest.raises(IntrinsicError, match="Fn::Cidr is not supported"):
        evaluate({"Fn::Cidr": ["10.0.0.0/16", 2, 8]}, scope())


def _template(resources: dict[str, Any]) -> Template:
    return check_template(Template(path=Path("t.yaml"), body={"Resources": resources}))


def test_order_follows_references_and_dependson() -> None:
    template = _template(
        {
            "Route": {
                "Type": "AWS::AppMesh::Route",
                "Properties": {"VirtualRouterName": {"Fn::GetAtt": ["Router", "X"]}},
            },
            "Router": {
                "Type": "AWS::AppMesh::VirtualRouter",
                "DependsOn": "Mesh",
                "Properties": {"MeshName": {"Fn::Sub": "${Other}"}},
            },
            "Mesh": {"Type": "AWS::AppMesh::Mesh"},
            "Other": {"Type": "AWS::ECS::Cluster"},
        }
    )
    order = template.order()
    assert order.index("Mesh") < order.index("Router") < order.index("Route")
    assert order.index("Other") < order.index("Router")


def test_cycle_through_sub_is_found() -> None:
    with pytest.raises(ApplyError, match=r"Circular dependency between resources: \[A, B\]"):
        _template(
            {
                "A": {"Type": "AWS::AppMesh::Mesh", "Properties": {"MeshName": {"Fn::Sub": "${B.Arn}"}}},
                "B": {"Type": "AWS::AppMesh::Mesh", "Properties": {"MeshName": {"Ref": "A"}}},
            }
        )
