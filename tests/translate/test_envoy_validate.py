"""Real Envoy accepts what we build: `envoy --mode validate` on every proxy of every golden case."""

from __future__ import annotations

from pathlib import Path

import pytest

from appmesh_local.bridge.build import build_mesh_config, dump_proxy_config
from appmesh_local.translate.loader import load_mesh_file
from tests.translate.conftest import golden_cases
from tests.translate.envoy_check import ENVOY, ENVOY_MISSING, bootstrap_for, validate

CASES = golden_cases()

pytestmark = pytest.mark.skipif(ENVOY is None, reason=str(ENVOY_MISSING))


@pytest.mark.timeout(240)
@pytest.mark.parametrize("case", CASES, ids=[c.stem for c in CASES])
def test_envoy_accepts_every_proxy(case: Path, tmp_path: Path, cert_dir: Path) -> None:
    config = build_mesh_config(load_mesh_file(case))
    assert config.proxies
    for (kind, name), proxy in sorted(config.proxies.items()):
        result = validate(bootstrap_for(dump_proxy_config(proxy)), tmp_path, f"{kind}-{name}", cert_dir)
        assert result.returncode == 0, f"{case.stem} {kind}/{name} rejected by Envoy:\n{result.stderr[-3000:]}"


def test_envoy_rejects_a_broken_config(tmp_path: Path) -> None:
    """The harness itself can fail: a route naming a missing cluster is rejected."""
    config = build_mesh_config(load_mesh_file(CASES[0]))
    resources = dump_proxy_config(next(iter(config.proxies.values())))
    for route in resources.get("RouteConfiguration", {}).values():
        for vhost in route["virtualHosts"]:
            for r in vhost.get("routes", []):
                if "route" in r:
                    r["route"] = {"cluster": "no_such_cluster"}
    result = validate(bootstrap_for(resources), tmp_path, "broken")
    assert result.returncode != 0
