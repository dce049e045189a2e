"""Golden tests: App Mesh YAML → IR dump (*.ir.yaml) and Envoy resources (*.envoy.yaml)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from appmesh_local.bridge.build import build_mesh_config, dump_mesh_config
from appmesh_local.ir import dump
from appmesh_local.translate import translate_mesh
from appmesh_local.translate.loader import load_mesh_file
from tests.translate.conftest import golden_cases, to_yaml

CASES = golden_cases()


def _ordered_like(new: object, old: object) -> object:
    """`new` with its mapping keys in `old`'s order where both have them (new keys last), so an
    updated golden file's diff shows what changed, not how the dump happens to order keys."""
    if isinstance(new, dict) and isinstance(old, dict):
        keys = [k for k in old if k in new] + [k for k in new if k not in old]
        return {k: _ordered_like(new[k], old.get(k)) for k in keys}
    if isinstance(new, list) and isinstance(old, list):
        return [_ordered_like(n, o) for n, o in zip(new, old)] + new[len(old) :]
    return new


def _check(expected_path: Path, data: object, update: bool) -> None:
    expected = yaml.safe_load(expected_path.read_text()) if expected_path.exists() else None
    if update or expected is None:
        if expected is None or yaml.safe_load(to_yaml(data)) != expected:
            expected_path.write_text(to_yaml(_ordered_like(data, expected)))
        if not update:
            pytest.fail(f"{expected_path.name} did not exist; written, review and commit it")
        return
    text = to_yaml(data)
    assert yaml.safe_load(text) == expected, (
        f"{expected_path.name} differs (run pytest --update-golden and review the diff)"
    )


@pytest.mark.parametrize("case", CASES, ids=[c.stem for c in CASES])
def test_ir_golden(case: Path, update_golden: bool) -> None:
    ir = translate_mesh(load_mesh_file(case))
    _check(case.with_suffix(".ir.yaml"), dump(ir), update_golden)


@pytest.mark.parametrize("case", CASES, ids=[c.stem for c in CASES])
def test_envoy_golden(case: Path, update_golden: bool) -> None:
    config = build_mesh_config(load_mesh_file(case))
    _check(case.with_suffix(".envoy.yaml"), dump_mesh_config(config), update_golden)


def test_there_are_cases() -> None:
    assert len(CASES) >= 5
