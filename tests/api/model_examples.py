"""Example values generated from the botocore `appmesh` model, for wire round-trip tests.

Walking the shapes (instead of writing examples by hand) means every member of every input and
output shape is exercised, and a model upgrade automatically widens the test.
"""

from __future__ import annotations

import datetime as dt
import functools
import uuid
from typing import Any

import botocore.session
from botocore.model import OperationModel, ServiceModel, Shape

MAX_DEPTH = 25
BASE_TIME = dt.datetime(2024, 5, 6, 7, 8, 9, 250000, tzinfo=dt.UTC)


@functools.cache
def service_model() -> ServiceModel:
    """The appmesh 2019-01-25 model as shipped with the installed botocore."""
    return botocore.session.get_session().get_service_model("appmesh")


def operation_model(name: str) -> OperationModel:
    return service_model().operation_model(name)


def _string(shape: Shape, name: str, variant: int) -> str:
    enum = shape.enum
    if enum:
        return enum[variant % len(enum)]
    if shape.metadata.get("idempotencyToken"):
        return str(uuid.UUID(int=variant + 1))
    if shape.name == "AccountId":
        return f"{111111111111 + variant}"
    if shape.name == "Arn":
        return f"arn:aws:acm:us-east-1:111111111111:certificate/c-{variant}"
    # URL-safe text (letters, digits, '-') so encoded and decoded forms coincide.
    text = f"{name}-{variant}"
    low = shape.metadata.get("min", 1)
    high = shape.metadata.get("max", 255)
    if len(text) < low:
        text = text + "x" * (low - len(text))
    return text[:high]


def _number(shape: Shape, variant: int) -> int:
    low = shape.metadata.get("min", 1)
    high = shape.metadata.get("max", low + 1000)
    return min(high, low + variant)


def example_value(shape: Shape, name: str, variant: int, *, minimal: bool = False, depth: int = 0) -> Any:
    """A valid value for `shape`.

    variant selects enum values, union members (member variant % n), booleans and list sizes,
    so that a handful of variants together cover every union member and enum value position.
    minimal=True fills only required members (and one member of each union).
    """
    if depth > MAX_DEPTH:
        raise RecursionError(f"shape nesting deeper than {MAX_DEPTH} at {name}")
    kind = shape.type_name
    if kind == "structure":
        members = list(shape.members.items())
        if shape.is_tagged_union:
            member_name, member_shape = members[variant % len(members)]
            return {member_name: example_value(member_shape, member_name, variant, minimal=minimal, depth=depth + 1)}
        required = set(shape.required_members)
        return {
            member_name: example_value(member_shape, member_name, variant, minimal=minimal, depth=depth + 1)
            for member_name, member_shape in members
            if not minimal or member_name in required
        }
    if kind == "list":
        low = shape.metadata.get("min", 1) or 1
        high = shape.metadata.get("max", 3)
        size = min(high, low + (variant % 2))
        return [
            example_value(shape.member, name, variant + index, minimal=minimal, depth=depth + 1)
            for index in range(size)
        ]
    if kind == "map":
        return {f"k{variant}": example_value(shape.value, name, variant, minimal=minimal, depth=depth + 1)}
    if kind == "string":
        return _string(shape, name, variant)
    if kind in ("integer", "long"):
        return _number(shape, variant)
    if kind == "boolean":
        return variant % 2 == 0
    if kind == "timestamp":
        return BASE_TIME + dt.timedelta(seconds=variant)
    if kind in ("double", "float"):
        return 1.5 + variant
    raise TypeError(f"no example for shape type {kind} ({shape.name})")


def input_example(operation: str, variant: int, *, minimal: bool = False) -> dict:
    """Params for the boto3 call `operation`, valid per the model."""
    shape = operation_model(operation).input_shape
    return example_value(shape, operation, variant, minimal=minimal) if shape else {}


def output_example(operation: str, variant: int, *, minimal: bool = False) -> dict:
    """A result dict for `operation` as botocore would return it (no ResponseMetadata)."""
    shape = operation_model(operation).output_shape
    return example_value(shape, operation, variant, minimal=minimal) if shape else {}


def union_width() -> int:
    """How many variants are needed so every union member is chosen at least once."""
    widths = [len(shape.members) for shape in _all_shapes() if shape.type_name == "structure" and shape.is_tagged_union]
    return max(widths, default=1)


def enum_width() -> int:
    return max((len(shape.enum) for shape in _all_shapes() if shape.type_name == "string" and shape.enum), default=1)


@functools.cache
def _all_shapes() -> list[Shape]:
    model = service_model()
    return [model.shape_for(name) for name in model.shape_names]
