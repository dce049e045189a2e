"""`appmesh-local translate FILE`: the translator's output, offline, as the reviewed golden files show it."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.export.helpers import run_cli

pytestmark = pytest.mark.timeout(120)
GOLDEN = Path(__file__).resolve().parent.parent / "translate" / "golden"
CASES = sorted(p for p in GOLDEN.glob("*.yaml") if not p.name.endswith((".ir.yaml", ".envoy.yaml")))


def translate(*args: str) -> object:
    result = run_cli("translate", *args)
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout)


@pytest.mark.parametrize("case", [c for c in CASES if c.stem in ("basic_http", "gateway")], ids=lambda c: c.stem)
def test_whole_mesh_ir_and_envoy_match_the_golden_files(case):
    assert translate(str(case)) == yaml.safe_load(case.with_suffix(".ir.yaml").read_text())  # --ir is the default
    assert translate(str(case), "--ir") == yaml.safe_load(case.with_suffix(".ir.yaml").read_text())
    assert translate(str(case), "--envoy") == yaml.safe_load(case.with_suffix(".envoy.yaml").read_text())


def test_one_proxy_only():
    case = GOLDEN / "gateway.yaml"
    envoy_golden = yaml.safe_load(case.with_suffix(".envoy.yaml").read_text())
    ir_golden = yaml.safe_load(case.with_suffix(".ir.yaml").read_text())
    gateway = translate(str(case), "--envoy", "--virtual-gateway", "ingress-gw")
    assert gateway == envoy_golden["proxies"]["virtualGateway/ingress-gw"]
    [node_ir] = [p for p in ir_golden["proxies"] if p["kind"] == "virtualNode" and p["name"] == "catalog-v1"]
    assert translate(str(case), "--virtual-node", "catalog-v1") == node_ir


def test_json_input_and_bind_address(tmp_path):
    mesh = tmp_path / "mesh.json"
    mesh.write_text(
        '{"mesh": {"meshName": "m", "spec": {}}, "virtualNodes": [{"virtualNodeName": "app", "spec": '
        '{"listeners": [{"portMapping": {"port": 8080, "protocol": "http"}}], '
        '"serviceDiscovery": {"dns": {"hostname": "app.m.local"}}}}]}'
    )
    node = translate(str(mesh), "--envoy", "--virtual-node", "app", "--bind-address", "127.0.0.1")
    addresses = {name: listener["address"]["socketAddress"]["address"] for name, listener in node["Listener"].items()}
    assert addresses == {"lds_ingress_0.0.0.0_15000": "127.0.0.1", "lds_egress_0.0.0.0_15001": "127.0.0.1"}
    assert set(node["Cluster"]) == {"cds_ingress_m_app_http_8080", "cds_egress_m_amazonaws"}


def test_no_cases_missing():
    assert len(CASES) >= 2
