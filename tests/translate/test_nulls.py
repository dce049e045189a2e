"""Optional fields given as null (a store may fill unset fields that way) mean "unset"."""

from __future__ import annotations

from typing import Any

from appmesh_local.translate import translate_mesh
from appmesh_local.translate.loader import load_mesh_file
from tests.translate.conftest import GOLDEN_DIR

OPTIONAL = {
    "priority",
    "retryPolicy",
    "timeout",
    "tls",
    "connectionPool",
    "outlierDetection",
    "healthCheck",
    "logging",
    "backendDefaults",
    "clientPolicy",
    "rewrite",
    "headers",
    "queryParameters",
    "method",
    "port",
    "ipPreference",
    "responseType",
    "enforce",
    "ports",
    "invert",
    "egressFilter",
}


def _with_nulls(value: Any) -> Any:
    """Every optional key that is absent becomes an explicit null (recursively)."""
    if isinstance(value, dict):
        out = {k: _with_nulls(v) for k, v in value.items()}
        for key in OPTIONAL - set(out):
            out[key] = None
        return out
    if isinstance(value, list):
        return [_with_nulls(v) for v in value]
    return value


def test_nulls_translate_like_absent_fields() -> None:
    for case in ("basic_http", "tls", "gateway", "tcp_multi_listener"):
        snapshot = load_mesh_file(GOLDEN_DIR / f"{case}.yaml")
        nulled = type(snapshot)(
            **{
                **snapshot.__dict__,
                "spec": _with_nulls(dict(snapshot.spec)),
                **{
                    field: {k: _with_nulls(v) for k, v in getattr(snapshot, field).items()}
                    for field in ("virtual_nodes", "virtual_routers", "virtual_services", "virtual_gateways")
                },
                **{
                    field: {
                        p: {k: _with_nulls(v) for k, v in children.items()}
                        for p, children in getattr(snapshot, field).items()
                    }
                    for field in ("routes", "gateway_routes")
                },
            }
        )
        assert translate_mesh(nulled) == translate_mesh(snapshot), case
