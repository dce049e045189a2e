"""What AWS filled into specs, and where it showed it (see docs/aws-behaviour.md).

AWS's published responses (the AWS CLI's examples for appmesh, the user guide) show:
- a mesh created without a spec comes back as `"spec": {}` from Create, Describe and
  Delete: the `DROP_ALL` default is applied by the data plane, never written into the spec;
- a virtual node without backends has no `backends` in the Create and Update responses,
  while Describe and Delete show `"backends": []`.
So the stored spec is what the caller sent (plus `listeners: []` for a node, which every
published node response carries), and `backends: []` is added when a node is read back.
"""

from __future__ import annotations

from typing import Any, Mapping

from ..store import records


def stored_spec(kind: str, spec: Mapping[str, Any] | None) -> dict[str, Any]:
    """The spec as it is stored and as Create/Update return it; the caller's dict is not modified.

    Only the top level changes, so a shallow copy keeps the caller's dict intact (a deep copy
    cost ~100 µs per write). Nested values are shared with the validated request params,
    which are fresh per request and never mutated afterwards, like every stored spec.
    """
    spec = dict(spec) if spec else {}
    if kind == records.VIRTUAL_NODE:
        spec.setdefault("listeners", [])
    return spec


def described_spec(kind: str, spec: Mapping[str, Any]) -> Mapping[str, Any]:
    """The spec as Describe and Delete return it: a node's missing `backends` read back as `[]`."""
    if kind == records.VIRTUAL_NODE and "backends" not in spec:
        return {**spec, "backends": []}
    return spec


def as_described(kind: str, spec: Mapping[str, Any] | None) -> Mapping[str, Any]:
    """The spec Describe would return for a resource created or updated with `spec` (what a tool
    comparing its desired spec with the live one, such as `apply`, must compare)."""
    return described_spec(kind, stored_spec(kind, spec))
