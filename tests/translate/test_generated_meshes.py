"""No mesh the API accepts makes us build a configuration Envoy refuses.

App Mesh accepted meshes its own Envoy configuration could not carry (a TCP target at weight 0
NACKed the whole egress listener, RM#204); every such case here would freeze a proxy on its
last good config. Each seed is one random, API-valid mesh (`meshfuzz.py`): it must translate
without an exception, and every proxy's resources must pass `envoy --mode validate`.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from appmesh_local.bridge.build import build_mesh_config, dump_proxy_config
from appmesh_local.translate.loader import snapshot_from_document
from tests.translate.envoy_check import ENVOY, ENVOY_MISSING, bootstrap_for, validate
from tests.translate.meshfuzz import random_mesh

SEEDS = range(int(os.environ.get("MESHFUZZ_SEEDS", "40")))  # 250 passed too; raise it after changing the translator

pytestmark = pytest.mark.skipif(ENVOY is None, reason=str(ENVOY_MISSING))


@pytest.mark.timeout(300)
@pytest.mark.parametrize("seed", SEEDS)
def test_envoy_accepts_every_proxy_of_a_generated_mesh(seed: int, tmp_path: Path, cert_dir: Path) -> None:
    config = build_mesh_config(snapshot_from_document(random_mesh(seed)))
    assert config.proxies, f"seed {seed}: no proxies"

    def check(item):
        (kind, name), proxy = item
        result = validate(bootstrap_for(dump_proxy_config(proxy)), tmp_path, f"{kind}-{name}", cert_dir)
        return kind, name, result

    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(check, sorted(config.proxies.items())))
    refused = [f"{kind}/{name}:\n{result.stderr[-2000:]}" for kind, name, result in results if result.returncode]
    assert not refused, f"seed {seed}: Envoy refused\n" + "\n".join(refused)


def test_the_generator_reaches_the_corners() -> None:
    """The seeds do produce the cases this test exists for (else it would pass vacuously)."""
    docs = [random_mesh(seed) for seed in SEEDS]
    tcp_routes = [r["spec"]["tcpRoute"] for d in docs for r in d["routes"] if "tcpRoute" in r["spec"]]
    assert any(any(t["weight"] == 0 for t in r["action"]["weightedTargets"]) for r in tcp_routes)
    assert any(all(t["weight"] == 0 for t in r["action"]["weightedTargets"]) for r in tcp_routes)
    assert any(d["mesh"]["spec"].get("egressFilter", {}).get("type") == "ALLOW_ALL" for d in docs)
    names = [{s["virtualServiceName"] for s in d["virtualServices"]} for d in docs]
    assert any({"a", "a:80"} <= n for n in names) and any({"svc.fz.local", "Svc.fz.local"} <= n for n in names)
    listeners = [l for d in docs for n in d["virtualNodes"] for l in n["spec"]["listeners"]]  # noqa: E741
    assert any(l.get("outlierDetection", {}).get("interval", {}).get("value") == 0 for l in listeners)  # noqa: E741
