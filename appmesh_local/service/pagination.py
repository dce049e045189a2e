"""Opaque `nextToken`s: base64 of a small JSON cursor, rejected if tampered with."""

from __future__ import annotations

import base64
import json
from typing import Any

from ..api_models.errors import BadRequest

DEFAULT_PAGE = 100


def encode(cursor: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(cursor, separators=(",", ":")).encode()).decode()


def decode(token: str | None, field: str, kind: type = str) -> Any:
    """The cursor's `field` value (of type `kind`), or None for the first page.

    A token is the caller's input: anything but a cursor this module wrote, including
    JSON nested past the parser's recursion bound, is AWS's BadRequest.
    """
    if token is None:
        return None
    try:
        cursor = json.loads(base64.urlsafe_b64decode(token.encode()))
        value = cursor[field]
    except (ValueError, KeyError, TypeError, RecursionError):
        raise BadRequest("The nextToken provided is invalid") from None
    if isinstance(value, bool) or not isinstance(value, kind):
        raise BadRequest("The nextToken provided is invalid")
    return value
