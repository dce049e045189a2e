"""A compiled pre-check of operation input, derived from the same model shapes as the marshmallow schemas.

marshmallow's generic machinery costs more than the rest of a create call's
request handling (docs/performance.md). For input that satisfies every
constraint the model declares, `schemas.py`'s load returns the params reduced to
modelled members, in member order; the checkers below compute exactly that with
plain closures. They never phrase an error: on anything they are not sure of
(a violation, a null, an unexpected type) they raise `Unsure`, and validation
falls back to marshmallow, which produces AWS's message. So marshmallow stays
the single authority on what is rejected and how; this module only recognises
input that is certainly valid.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any, Callable

from botocore.model import ListShape, Shape, StringShape, StructureShape

from . import representable
from .model import service_model
from .schemas import has_lone_surrogate

Checker = Callable[[Any], Any]


class Unsure(Exception):
    """The input may be invalid: let marshmallow decide and explain."""


def _bounds(shape: Shape) -> tuple[int | None, int | None]:
    return shape.metadata.get("min"), shape.metadata.get("max")


def _string(shape: Shape) -> Checker:
    low, high = _bounds(shape)
    pattern = re.compile(shape.metadata["pattern"]).fullmatch if "pattern" in shape.metadata else None
    allowed = frozenset(shape.enum) if isinstance(shape, StringShape) and shape.enum else None

    def check(value: Any) -> Any:
        if not isinstance(value, str) or (not value.isascii() and has_lone_surrogate(value)):
            raise Unsure
        if (low is not None and len(value) < low) or (high is not None and len(value) > high):
            raise Unsure
        if pattern is not None and not pattern(value):
            raise Unsure
        if allowed is not None and value not in allowed:
            raise Unsure
        return value

    return check


def _integer(shape: Shape) -> Checker:
    low, high = representable.bounds(shape)

    def check(value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, int):
            raise Unsure
        if (low is not None and value < low) or (high is not None and value > high):
            raise Unsure
        return value

    return check


def _boolean(value: Any) -> Any:
    if not isinstance(value, bool):
        raise Unsure
    return value


def _list(shape: Shape) -> Checker:
    assert isinstance(shape, ListShape), shape.name
    low, high = _bounds(shape)
    item = checker_for(shape.member)

    def check(value: Any) -> Any:
        if not isinstance(value, list):
            raise Unsure
        if (low is not None and len(value) < low) or (high is not None and len(value) > high):
            raise Unsure
        return [item(v) for v in value]  # a None item reaches a checker and is Unsure there

    return check


def _structure(shape: Shape) -> Checker:
    assert isinstance(shape, StructureShape), shape.name
    top_level = shape.name.endswith("Input")
    members = tuple(
        (name, _lazy(member))
        for name, member in shape.members.items()
        if member.serialization.get("location") is None or top_level
    )
    required = tuple(n for n in shape.required_members if any(n == m for m, _ in members))
    union = bool(shape.metadata.get("union"))
    duration = shape.name == representable.DURATION_SHAPE

    def check(value: Any) -> Any:
        if not isinstance(value, dict):
            raise Unsure
        for name in required:
            if value.get(name) is None:
                raise Unsure
        out: dict[str, Any] = {}
        for name, member in members:
            if name in value:
                item = value[name]
                if item is None:
                    raise Unsure
                out[name] = member()(item)
        if union and len(out) != 1:
            raise Unsure
        if duration and representable.duration_problem(out) is not None:
            raise Unsure
        return out

    return check


def _lazy(shape: Shape) -> Callable[[], Checker]:
    """Recursive shapes: resolve a member's checker on first use (then it is cached)."""
    return lambda: checker_for(shape)


@cache
def _checker_by_name(name: str) -> Checker:
    shape = service_model().shape_for(name)
    kind = shape.type_name
    if kind == "structure":
        return _structure(shape)
    if kind == "list":
        return _list(shape)
    if kind == "string":
        return _string(shape)
    if kind in ("integer", "long"):
        return _integer(shape)
    if kind == "boolean":
        return _boolean
    return _always_unsure  # maps, floats, ...: App Mesh input has none today; marshmallow handles them


def _always_unsure(value: Any) -> Any:
    raise Unsure


def checker_for(shape: Shape) -> Checker:
    return _checker_by_name(shape.name)


@cache
def input_checker(operation_name: str) -> Checker:
    """The checker of an operation's input shape: params in, marshmallow-equal output or Unsure."""
    shape = service_model().operation_model(operation_name).input_shape
    assert shape is not None, operation_name  # every App Mesh operation has an input shape
    return checker_for(shape)
