"""CloudFormation's resource schemas, as cfn-lint ships them (the CloudFormation registry's own).

What `apply` needs to know about a resource type and does not retype: which attributes
`Fn::GetAtt` may read, which properties force a replacement when they change
(`createOnlyProperties`), and how the template spells each API member (for export).
"""

from __future__ import annotations

from functools import cache
from typing import Any, Mapping

from botocore.model import Shape, StructureShape

SCHEMA_REGION = "us-east-1"  # App Mesh's types are the same in every region that had it


class UnknownType(LookupError):
    """CloudFormation has no resource type of that name."""


@cache
def _resource(type_name: str) -> Any:
    from cfnlint.schema import PROVIDER_SCHEMA_MANAGER
    from cfnlint.schema.manager import ResourceNotFoundError

    try:
        return PROVIDER_SCHEMA_MANAGER.get_resource_schema(SCHEMA_REGION, type_name)
    except ResourceNotFoundError:
        raise UnknownType(type_name) from None


def known_type(type_name: str) -> bool:
    try:
        _resource(type_name)
    except UnknownType:
        return False
    return True


def attributes(type_name: str) -> tuple[str, ...]:
    """What `Fn::GetAtt` may read on this type (the schema's read-only and top-level properties)."""
    return tuple(_resource(type_name).get_atts)


def create_only(type_name: str) -> frozenset[str]:
    """Top-level properties whose change replaces the resource."""
    paths = _resource(type_name).schema.get("createOnlyProperties", [])
    return frozenset(p.split("/")[2] for p in paths if p.startswith("/properties/"))


def properties(type_name: str) -> tuple[str, ...]:
    """Every property the type declares, read-only ones included."""
    return tuple(_resource(type_name).schema.get("properties", {}))


def read_only(type_name: str) -> frozenset[str]:
    paths = _resource(type_name).schema.get("readOnlyProperties", [])
    return frozenset(p.split("/")[2] for p in paths if p.startswith("/properties/"))


def _deref(schema: Mapping[str, Any], node: Mapping[str, Any]) -> Mapping[str, Any]:
    while "$ref" in node:
        node = schema["definitions"][node["$ref"].rsplit("/", 1)[-1]]
    return node


@cache
def spellings(type_name: str, top_shape: StructureShape) -> dict[str, dict[str, str]]:
    """{botocore structure name: {API member: template property}} for one resource type,
    walked from `top_shape` (the Create operation's input) alongside the template schema."""
    schema = _resource(type_name).schema
    found: dict[str, dict[str, str]] = {}

    def walk(node: Mapping[str, Any], shape: Shape) -> None:
        node = _deref(schema, node)
        if shape.type_name == "list" and "items" in node:
            walk(node["items"], shape.member)  # type: ignore[attr-defined]
        elif shape.type_name == "structure" and "properties" in node:
            assert isinstance(shape, StructureShape)
            names = found.setdefault(shape.name, {})
            folded = {name.lower(): name for name in node["properties"]}
            for member, member_shape in shape.members.items():
                spelled = folded.get(member.lower())
                if spelled is not None:
                    names.setdefault(member, spelled)
                    walk(node["properties"][spelled], member_shape)

    walk({"properties": schema.get("properties", {})}, top_shape)
    return found


def spell(type_name: str, top_shape: StructureShape, shape: Shape, member: str) -> str:
    """How the template spells `member` of `shape` (PascalCase when the schema is silent)."""
    spelled = spellings(type_name, top_shape).get(shape.name, {}).get(member)
    return spelled or member[:1].upper() + member[1:]
