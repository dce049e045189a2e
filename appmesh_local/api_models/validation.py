"""Validate operation input and phrase violations as AWS's BadRequestException does."""

from __future__ import annotations

import json
from typing import Any, Iterator

from marshmallow import ValidationError

from .errors import BadRequest
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


def _flatten(messages: Any, value: Any, path: tuple[str, ...]) -> Iterator[tuple[tuple[str, ...], Any, str]]:
    """Yield (path, value, message) for marshmallow's nested error dict."""
    if isinstance(messages, list):
        for text in messages:
            yield path, value, text
        return
    for key, nested in messages.items():
        if key == "_union":
            yield from _flatten(nested, value, path)
        elif isinstance(key, int):
            item = value[key] if isinstance(value, list) and key < len(value) else None
            yield from _flatten(nested, item, path + (str(key + 1), "member"))
        else:
            item = value.get(key) if isinstance(value, dict) else None
            yield from _flatten(nested, item, path + (str(key),))


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
