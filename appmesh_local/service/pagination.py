"""Opaque `nextToken`s: base64 of a small JSON cursor, rejected if tampered with."""

from __future__ import annotations

import base64
import json
from typing import Any

from ..api_models.errors import BadRequest

DEFAULT_PAGE = 100


def encode(cursor: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(cursor, separators=(",", ":")).encode()).decode()


def decode(token: str | None, field: str) -> Any:
    """The cursor's `field` value, or None for the first page."""
    if token is None:
        return None
    try:
        cursor = json.loads(base64.urlsafe_b64decode(token.encode()))
        return cursor[field]
    except (ValueError, KeyError, TypeError):
        raise BadRequest("The nextToken provided is invalid") from None
