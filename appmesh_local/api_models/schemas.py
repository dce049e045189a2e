"""marshmallow schemas built from the botocore model's input shapes.

Each constraint the model declares (required, type, min/max length or value,
pattern, enum, union) becomes a marshmallow field option or validator whose
message is the Coral wording AWS services return ("Member must ..."), so a
violation reads like AWS's own BadRequestException. App Mesh's schemas are the
default; the neighbours' (Cloud Map, ACM, ACM PCA) are built the same way from
their own models, by service name.
"""

from __future__ import annotations

import base64
import binascii
import re
from functools import cache
from typing import Any, Callable

from botocore.model import ListShape, MapShape, Shape, StringShape, StructureShape
from marshmallow import EXCLUDE, Schema, ValidationError, fields, validates_schema

from . import representable
from .model import SERVICE_NAME, service_model

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

        def at_least(value: Any, low: float = low) -> None:
            if len(value) < low:
                raise ValidationError(f"Member must have length greater than or equal to {low}")

        checks.append(at_least)
    if high is not None:

        def at_most(value: Any, high: float = high) -> None:
            if len(value) > high:
                raise ValidationError(f"Member must have length less than or equal to {high}")

        checks.append(at_most)
    return checks


def _range_checks(shape: Shape, service: str) -> list[Callable[[Any], None]]:
    low, high = representable.bounds(shape, envoy=service == SERVICE_NAME)
    checks: list[Callable[[Any], None]] = []
    if low is not None:

        def at_least(value: Any, low: float = low) -> None:
            if value < low:
                raise ValidationError(f"Member must have value greater than or equal to {low}")

        checks.append(at_least)
    if high is not None:

        def at_most(value: Any, high: float = high) -> None:
            if value > high:
                raise ValidationError(f"Member must have value less than or equal to {high}")

        checks.append(at_most)
    return checks


def has_lone_surrogate(value: str) -> bool:
    """True for text no UTF-8 can carry: JSON's \\ud800 escape decodes to half a character."""
    if value.isascii():
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _valid_unicode(value: str) -> None:
    if has_lone_surrogate(value):
        raise ValidationError("Member must contain only valid Unicode characters")


# Java's Unicode property classes, which Python's `re` lacks, as the nearest `re` classes.
# They appear only inside bracket classes (ACM's and ACM PCA's tag pattern); `\w` also
# admits digits and `_`, `\s` also tabs and newlines: a little more lenient, never stricter.
_JAVA_CLASSES = {r"\p{L}": r"\w", r"\p{N}": r"\w", r"\p{Z}": r"\s"}


def python_pattern(pattern: str) -> str:
    """A model pattern (Java regex syntax) in Python's `re` syntax."""
    for java, python in _JAVA_CLASSES.items():
        pattern = pattern.replace(java, python)
    return pattern


def _string_checks(shape: Shape) -> list[Callable[[Any], None]]:
    checks = [_valid_unicode] + _length_checks(shape)
    if "pattern" in shape.metadata:
        pattern = shape.metadata["pattern"]
        compiled = re.compile(python_pattern(pattern))

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


class _Blob(fields.String):
    """A blob travels as base64 text; the model's length bounds are of the decoded bytes."""

    def __init__(self, shape: Shape, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.low, self.high = shape.metadata.get("min"), shape.metadata.get("max")

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> str:
        if not isinstance(value, str):
            raise self.make_error("invalid")
        try:
            size = len(base64.b64decode(value, validate=True))
        except (binascii.Error, ValueError):
            raise ValidationError("Member must be base64-encoded binary data") from None
        if self.low is not None and size < self.low:
            raise ValidationError(f"Member must have length greater than or equal to {self.low}")
        if self.high is not None and size > self.high:
            raise ValidationError(f"Member must have length less than or equal to {self.high}")
        return value


class _Timestamp(fields.Field[Any]):
    """JSON protocols send timestamps as epoch seconds (a number) or, in some clients, ISO text."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise ValidationError("Member must be a timestamp")
        return value


def _field_for(shape: Shape, required: bool, service: str = SERVICE_NAME) -> fields.Field[Any]:
    """One marshmallow field enforcing everything the model says about `shape`."""
    messages = {
        "required": NOT_NULL,
        "null": NOT_NULL,
        "invalid": TYPE_MESSAGES.get(shape.type_name, "Member has the wrong type"),
    }
    common: dict[str, Any] = {"required": required, "error_messages": messages}
    kind = shape.type_name
    if kind == "structure":
        name = shape.name  # resolved on first use: recursive shapes (ACM's search filters) nest themselves
        return fields.Nested(lambda: schema_class(name, service)(), **common)
    if isinstance(shape, ListShape):
        return _StrictList(_field_for(shape.member, True, service), validate=_length_checks(shape), **common)
    if isinstance(shape, MapShape):
        return fields.Dict(
            keys=_field_for(shape.key, True, service),
            values=_field_for(shape.value, True, service),
            validate=_length_checks(shape),
            **common,
        )
    if kind == "string":
        return _StrictString(validate=_string_checks(shape), **common)
    if kind in ("integer", "long"):
        return _StrictInteger(validate=_range_checks(shape, service), **common)
    if kind == "boolean":
        return _StrictBoolean(**common)
    if kind in ("double", "float"):
        return fields.Float(validate=_range_checks(shape, service), **common)
    if kind == "blob":
        return _Blob(shape, **common)
    if kind == "timestamp":
        return _Timestamp(**common)
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


def _duration_check() -> Callable[..., None]:
    """A Duration's value, in its unit, must fit what Envoy can hold (api_models/representable.py)."""

    @validates_schema(pass_original=True)
    def fits_envoy(self: Schema, data: dict[str, Any], original: Any, **kwargs: Any) -> None:
        problem = representable.duration_problem(original)
        if problem is not None:
            raise ValidationError(problem, "value")

    check: Callable[..., None] = fits_envoy
    return check


@cache
def schema_class(shape_name: str, service: str = SERVICE_NAME) -> type[Schema]:
    """The marshmallow Schema class for a structure shape (cached: built once per process)."""
    shape = service_model(service).shape_for(shape_name)
    assert isinstance(shape, StructureShape), shape_name
    required = set(shape.required_members)
    attrs: dict[str, Any] = {
        name: _field_for(member, name in required, service)
        for name, member in shape.members.items()
        if member.serialization.get("location") is None or shape_name.endswith("Input")
    }
    if shape.metadata.get("union"):
        attrs["_exactly_one"] = _union_check(tuple(shape.members))
    if service == SERVICE_NAME and shape_name == representable.DURATION_SHAPE:
        attrs["_representable"] = _duration_check()
    attrs["Meta"] = type("Meta", (), {"unknown": EXCLUDE})
    return type(f"{shape_name}Schema", (Schema,), attrs)


@cache
def input_schema(operation_name: str, service: str = SERVICE_NAME) -> Schema:
    """A ready Schema instance for an operation's input (thread-safe: load() keeps no state)."""
    shape = service_model(service).operation_model(operation_name).input_shape
    assert shape is not None, operation_name
    return schema_class(shape.name, service)()
