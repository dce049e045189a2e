"""Validate operation input and phrase violations as AWS's BadRequestException does."""

from __future__ import annotations

import json
from typing import Any, Callable, Iterator

from marshmallow import ValidationError

from .errors import BadRequest
from .model import service_model
from .precheck import Unsure, input_checker
from .schemas import input_schema


def validate_input(operation_name: str, params: dict[str, Any]) -> dict[str, Any]:
    """Return the params reduced to modelled members, or raise BadRequest naming each violation."""
    try:
        checked: dict[str, Any] = input_checker(operation_name)(params)  # certainly valid: same result, cheaper
        return checked
    except Unsure:
        pass
    try:
        loaded: dict[str, Any] = input_schema(operation_name).load(params)
        return loaded
    except ValidationError as exc:
        problems = list(_flatten(exc.messages, params, ()))
        raise BadRequest(_coral_message(problems)) from None


def input_problems(service: str, operation_name: str, params: dict[str, Any]) -> str | None:
    """For an operation of another service's model that appmesh-local answers itself (not moto):
    None when `params` are valid, else AWS's ValidationException message. JSON 1.1 services name
    members in it with a lower-case first letter (`certificateAuthorityArn`)."""
    try:
        input_schema(operation_name, service).load(params)
    except ValidationError as exc:
        return _coral_message(list(_flatten(exc.messages, params, (), _json_member_name)))
    return None


def _json_member_name(name: str) -> str:
    return name[:1].lower() + name[1:]


def check_input(service: str, operation_name: str, params: dict[str, Any]) -> None:
    """Raise BadRequest naming each violation of `service`'s model (the neighbours' input, before moto)."""
    if service_model(service).operation_model(operation_name).input_shape is None:
        return  # an operation without input (ACM's GetAccountConfiguration): nothing to check
    try:
        input_schema(operation_name, service).load(params)
    except ValidationError as exc:
        # JSON 1.1 services name members lower-camel in these messages (as input_problems does)
        problems = list(_flatten(exc.messages, params, (), _json_member_name))
        raise BadRequest(_coral_message(problems)) from None


def _flatten(
    messages: Any, value: Any, path: tuple[str, ...], rename: Callable[[str], str] = str
) -> Iterator[tuple[tuple[str, ...], Any, str]]:
    """Yield (path, value, message) for marshmallow's nested error dict."""
    if isinstance(messages, list):
        for text in messages:
            yield path, value, text
        return
    for key, nested in messages.items():
        if key == "_union":
            yield from _flatten(nested, value, path, rename)
        elif isinstance(key, int):
            item = value[key] if isinstance(value, list) and key < len(value) else None
            yield from _flatten(nested, item, path + (str(key + 1), "member"), rename)
        else:
            item = value.get(key) if isinstance(value, dict) else None
            yield from _flatten(nested, item, path + (rename(key),), rename)


def _render(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, str):
        return f"'{value}'"
    return f"'{json.dumps(value, separators=(',', ':'), sort_keys=True)}'"


def _coral_message(problems: list[tuple[tuple[str, ...], Any, str]]) -> str:
    parts = [f"Value {_render(v)} at '{'.'.join(p)}' failed to satisfy constraint: {m}" for p, v, m in problems]
    noun = "error" if len(parts) == 1 else "errors"
    return f"{len(parts)} validation {noun} detected: " + "; ".join(parts)
