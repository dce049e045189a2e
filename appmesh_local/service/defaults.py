"""Spec defaults AWS filled in and returned from Describe (see docs/aws-behaviour.md)."""

from __future__ import annotations

from typing import Any

from ..store import records


def with_defaults(kind: str, spec: dict[str, Any] | None) -> dict[str, Any]:
    """The spec as it will be stored and returned; the caller's dict is not modified.

    Only the top level gets defaults, so a shallow copy keeps the caller's dict intact
    (a deep copy cost ~100 µs per write). Nested values are shared with the validated
    request params, which are fresh per request (json.loads, then validation builds
    new containers) and never mutated afterwards, like every stored spec.
    """
    spec = dict(spec) if spec else {}
    if kind == records.MESH:
        spec.setdefault("egressFilter", {"type": "DROP_ALL"})
    elif kind == records.VIRTUAL_NODE:
        spec.setdefault("backends", [])
        spec.setdefault("listeners", [])
    return spec
