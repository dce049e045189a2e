"""marshmallow schemas built from the botocore model's input shapes.

Each constraint the model declares (required, type, min/max length or value,
pattern, enum, union) becomes a marshmallow field option or validator whose
message is the Coral wording AWS services return ("Member must ..."), so a
violation reads like AWS's own BadRequestException.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any, Callable

from botocore.model import ListShape, MapShape, Shape, StringShape, StructureShape
from marshmallow import EXCLUDE, Schema, ValidationError, fields, validates_schema

from .model import service_model

NOT_NULL = "Member must not be null"
TYPE_MESSAGES = {
    "string": "Member must be a string",
    "integer": "Member must be an integer",
    "long": "Member must be an integer",
    "boolean": "Member must be a boolean",
    "double": "Member must be a number",
    "float": "Member must be a number",
    "list": "Member must be a list",
    "map": "Member must be a map",
    "structure": "Member must be a structure",
}


def _length_checks(shape: Shape) -> list[Callable[[Any], None]]:
    low, high = shape.metadata.get("min"), shape.metadata.get("max")
    checks: list[Callable[[Any], None]] = []
    if low is not None:

        def at_least(value: Any, low: int = low) -> None:
            if len(value) < low:
                raise ValidationError(f"Member must have length greater than or equal to {low}")

        checks.append(at_least)
    if high is not None:

        def at_most(value: Any, high: int = high) -> None:
            if len(value) > high:
                raise ValidationError(f"Member must have length less than or equal to {high}")

        checks.append(at_most)
    return checks


def _range_checks(shape: Shape) -> list[Callable[[Any], None]]:
    low, high = shape.metadata.get("min"), shape.metadata.get("max")
    checks: list[Callable[[Any], None]] = []
    if low is not None:

        def at_least(value: Any, low: int = low) -> None:
            if value < low:
                raise ValidationError(f"Member must have value greater than or equal to {low}")

        checks.append(at_least)
    if high is not None:

        def at_most(value: Any, high: int = high) -> None:
            if value > high:
                raise ValidationError(f"Member must have value less than or equal to {high}")

        checks.append(at_most)
    return checks


def _string_checks(shape: Shape) -> list[Callable[[Any], None]]:
    checks = _length_checks(shape)
    if "pattern" in shape.metadata:
        pattern = shape.metadata["pattern"]
        compiled = re.compile(pattern)

        def matches(value: str) -> None:
            if not compiled.fullmatch(value):
                raise ValidationError(f"Member must satisfy regular expression pattern: {pattern}")

        checks.append(matches)
    if isinstance(shape, StringShape) and shape.enum:
        allowed = frozenset(shape.enum)
        listing = ", ".join(shape.enum)

        def in_enum(value: str) -> None:
            if value not in allowed:
                raise ValidationError(f"Member must satisfy enum value set: [{listing}]")

        checks.append(in_enum)
    return checks


class _StrictInteger(fields.Integer):
    """JSON integers only: no strings, no booleans, no floats with fractions."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.make_error("invalid")
        return value


class _StrictString(fields.String):
    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> str:
        if not isinstance(value, str):
            raise self.make_error("invalid")
        return value


class _StrictBoolean(fields.Boolean):
    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> bool:
        if not isinstance(value, bool):
            raise self.make_error("invalid")
        return value


class _StrictList(fields.List[Any]):
    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> list[Any]:
        if not isinstance(value, list):
            raise self.make_error("invalid")
        return super()._deserialize(value, attr, data, **kwargs)


def _field_for(shape: Shape, required: bool) -> fields.Field[Any]:
    """One marshmallow field enforcing everything the model says about `shape`."""
    messages = {
        "required": NOT_NULL,
        "null": NOT_NULL,
        "invalid": TYPE_MESSAGES.get(shape.type_name, "Member has the wrong type"),
    }
    common: dict[str, Any] = {"required": required, "error_messages": messages}
    kind = shape.type_name
    if kind == "structure":
        return fields.Nested(schema_class(shape.name), **common)
    if isinstance(shape, ListShape):
        return _StrictList(_field_for(shape.member, required=True), validate=_length_checks(shape), **common)
    if isinstance(shape, MapShape):
        return fields.Dict(
            keys=_field_for(shape.key, True),
            values=_field_for(shape.value, True),
            validate=_length_checks(shape),
            **common,
        )
    if kind == "string":
        return _StrictString(validate=_string_checks(shape), **common)
    if kind in ("integer", "long"):
        return _StrictInteger(validate=_range_checks(shape), **common)
    if kind == "boolean":
        return _StrictBoolean(**common)
    if kind in ("double", "float"):
        return fields.Float(validate=_range_checks(shape), **common)
    raise TypeError(f"unsupported input shape type {kind} ({shape.name})")


def _union_check(members: tuple[str, ...]) -> Callable[..., None]:
    listing = ", ".join(members)

    @validates_schema(pass_original=True)
    def exactly_one(self: Schema, data: dict[str, Any], original: Any, **kwargs: Any) -> None:
        present = [m for m in members if isinstance(original, dict) and original.get(m) is not None]
        if len(present) != 1:
            raise ValidationError(f"Member must have exactly one of the following fields set: [{listing}]", "_union")

    check: Callable[..., None] = exactly_one
    return check


@cache
def schema_class(shape_name: str) -> type[Schema]:
    """The marshmallow Schema class for a structure shape (cached: built once per process)."""
    shape = service_model().shape_for(shape_name)
    assert isinstance(shape, StructureShape), shape_name
    required = set(shape.required_members)
    attrs: dict[str, Any] = {
        name: _field_for(member, name in required)
        for name, member in shape.members.items()
        if member.serialization.get("location") is None or shape_name.endswith("Input")
    }
    if shape.metadata.get("union"):
        attrs["_exactly_one"] = _union_check(tuple(shape.members))
    attrs["Meta"] = type("Meta", (), {"unknown": EXCLUDE})
    return type(f"{shape_name}Schema", (Schema,), attrs)


@cache
def input_schema(operation_name: str) -> Schema:
    """A ready Schema instance for an operation's input (thread-safe: load() keeps no state)."""
    shape = service_model().operation_model(operation_name).input_shape
    assert shape is not None, operation_name  # every App Mesh operation has an input shape
    return schema_class(shape.name)()
