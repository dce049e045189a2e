"""Property trees → API parameters, walked along botocore's shapes (and back, for export).

CloudFormation spells App Mesh members in PascalCase (`AWSCloudMap`, `HTTP2`, `TLS`),
the Kubernetes controller in camelCase with its own capitals (`certificateARN`); every
one of them matches the API member of the same name once case is ignored. For the seven
`AWS::AppMesh::*` registry schemas tests/apply/test_shapes_and_intrinsics.py checks every
property; the controller's CRDs were checked the same way, their only other fields being
its own (`awsName`, selectors, `*Ref`/`*ARN` references: kubernetes/convert.py). So one
walk, led by botocore's model, converts both: names are matched without case, scalars are
coerced to the member's type as CloudFormation does (`"8080"` → 8080, `"true"` → True),
and anything else is an error naming its path. The model stays the single source of
truth; nothing here lists a member.
"""

from __future__ import annotations

from functools import cache
from typing import Any, Callable, Mapping

from botocore.model import Shape, StructureShape


class ShapeError(ValueError):
    """A value does not fit the API shape; `path` says where (e.g. `Spec.Listeners[0].Port`)."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}" if path else message)
        self.path = path
        self.detail = message


# A hook that may take over a structure's conversion: (member name, value, path) → API value,
# or None to let the walk go on. The Kubernetes reader uses it for `virtualNodeRef` and friends.
Override = Callable[[Shape, Mapping[str, Any], str], "dict[str, Any] | None"]


@cache
def _members_by_folded_name(shape: StructureShape) -> dict[str, str]:
    return {name.lower(): name for name in shape.members}


def member_for(shape: StructureShape, key: str) -> str | None:
    """The API member `key` names, case ignored (None: the shape has no such member)."""
    return _members_by_folded_name(shape).get(key.lower())


def to_api(value: Any, shape: Shape, path: str = "", override: Override | None = None) -> Any:
    """Convert `value` to what the API expects for `shape`; ShapeError names the first misfit."""
    kind = shape.type_name
    if kind == "structure":
        if not isinstance(value, Mapping):
            raise ShapeError(path, f"expected an object ({shape.name}), got {_describe(value)}")
        assert isinstance(shape, StructureShape)
        if override is not None:
            replaced = override(shape, value, path)
            if replaced is not None:
                return replaced
        result: dict[str, Any] = {}
        for key, item in value.items():
            member = member_for(shape, str(key))
            where = f"{path}.{key}" if path else str(key)
            if member is None:
                known = ", ".join(sorted(shape.members)) or "none"
                raise ShapeError(where, f"unknown property (the API's {shape.name} has: {known})")
            result[member] = to_api(item, shape.members[member], where, override)
        return result
    if kind == "list":
        if not isinstance(value, list):
            raise ShapeError(path, f"expected a list, got {_describe(value)}")
        return [
            to_api(item, shape.member, f"{path}[{index}]", override)  # type: ignore[attr-defined]
            for index, item in enumerate(value)
        ]
    if kind == "map":
        if not isinstance(value, Mapping):
            raise ShapeError(path, f"expected an object, got {_describe(value)}")
        return {str(k): to_api(v, shape.value, f"{path}.{k}", override) for k, v in value.items()}  # type: ignore[attr-defined]
    return _scalar(value, kind, path)


def _scalar(value: Any, kind: str, path: str) -> Any:
    """CloudFormation's coercions between a template's strings, numbers and booleans."""
    if isinstance(value, (Mapping, list)) or value is None:
        raise ShapeError(path, f"expected a {kind}, got {_describe(value)}")
    if kind == "string":
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, float) and value.is_integer():
            return str(int(value))
        return str(value)
    if kind in ("integer", "long"):
        if isinstance(value, bool):
            raise ShapeError(path, f"expected an integer, got {_describe(value)}")
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            try:
                return int(value.strip())
            except ValueError:
                pass
        raise ShapeError(path, f"expected an integer, got {_describe(value)}")
    if kind in ("double", "float"):
        if isinstance(value, bool):
            raise ShapeError(path, f"expected a number, got {_describe(value)}")
        try:
            return float(value)
        except (TypeError, ValueError):
            raise ShapeError(path, f"expected a number, got {_describe(value)}") from None
    if kind == "boolean":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise ShapeError(path, f"expected true or false, got {_describe(value)}")
    return value  # timestamps and blobs pass as written


def _describe(value: Any) -> str:
    if value is None:
        return "nothing (null)"
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, list):
        return "a list"
    return f"{type(value).__name__} {value!r}"


# ---- the way back: API values → a schema's spelling (export) ---------------------------------
def from_api(value: Any, shape: Shape, spell: Callable[[Shape, str, str], str], path: str = "") -> Any:
    """API `value` of `shape` with every member renamed by `spell(structure, member, path)`."""
    kind = shape.type_name
    if kind == "structure" and isinstance(value, Mapping):
        assert isinstance(shape, StructureShape)
        out: dict[str, Any] = {}
        for member, item in value.items():
            if member not in shape.members:
                continue
            where = f"{path}.{member}" if path else member
            out[spell(shape, member, where)] = from_api(item, shape.members[member], spell, where)
        return out
    if kind == "list" and isinstance(value, list):
        return [from_api(item, shape.member, spell, f"{path}[]") for item in value]  # type: ignore[attr-defined]
    if kind == "map" and isinstance(value, Mapping):
        return {k: from_api(v, shape.value, spell, f"{path}.{k}") for k, v in value.items()}  # type: ignore[attr-defined]
    return value
