"""Spec defaults AWS filled in and returned from Describe (see docs/aws-behaviour.md)."""
from __future__ import annotations

import copy
from typing import Any

from ..store import records


def with_defaults(kind: str, spec: dict[str, Any] | None) -> dict[str, Any]:
    """The spec as it will be stored and returned; the caller's dict is not modified."""
    spec = copy.deepcopy(spec) if spec else {}
    if kind == records.MESH:
        spec.setdefault("egressFilter", {"type": "DROP_ALL"})
    elif kind == records.VIRTUAL_NODE:
        spec.setdefault("backends", [])
        spec.setdefault("listeners", [])
    return spec
