"""`appmesh_local.records.record`: frozen for the type checker, a plain dataclass at run time.

The per-proxy records give up run-time immutability for speed (docs/contracts.md, 2); what keeps them
immutable is mypy, run by tests/test_codebase.py. These tests hold both halves of that bargain.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

from appmesh_local.ir import ProxyIR, RouteConfig
from appmesh_local.xds.node_id import ProxyRef
from appmesh_local.xds.snapshot import Snapshot, TypeSnapshot
from tests.test_codebase import run_tool, tool


def test_mypy_rejects_assigning_to_a_record_field(tmp_path: Path) -> None:
    probe = tmp_path / "probe.py"
    probe.write_text(
        textwrap.dedent(
            """
            from appmesh_local.ir import ProxyIR
            from appmesh_local.xds.snapshot import TypeSnapshot

            proxy = ProxyIR(kind="virtualNode", name="a")
            proxy.name = "b"
            TypeSnapshot("v1", {}).version = "v2"
            """
        )
    )
    done = run_tool(tool("mypy"), "--no-incremental", "--follow-imports=silent", str(probe))
    assert done.returncode == 1, done.stdout + done.stderr
    assert 'Property "name" defined in "ProxyIR" is read-only' in done.stdout, done.stdout
    assert 'Property "version" defined in "TypeSnapshot" is read-only' in done.stdout, done.stdout


def test_records_compare_and_hash_like_frozen_dataclasses() -> None:
    a = ProxyIR(kind="virtualNode", name="a", route_configs=(RouteConfig("rds", ()),))
    b = ProxyIR(kind="virtualNode", name="a", route_configs=(RouteConfig("rds", ()),))
    assert a == b and hash(a) == hash(b) and len({a, b}) == 1
    assert a != ProxyIR(kind="virtualNode", name="b")
    ref = ProxyRef("123456789012", "us-west-2", "m", "virtualNode", "a", "")
    assert Snapshot(ref, 1) == Snapshot(ref, 1)


def test_identity_records_compare_by_identity_and_cache_their_digest() -> None:
    first, second = TypeSnapshot("v1", {}), TypeSnapshot("v1", {})
    assert first != second and first == first
    assert first.digest == second.digest and first.digest is first.digest  # computed once, then kept
