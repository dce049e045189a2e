"""Each benchmark runs end to end at a tiny size and writes its JSON. Never a speed threshold:
benchmarks measure, tests check that the measuring still works."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(240)
ROOT = Path(__file__).resolve().parents[2]


def run_benchmark(module: str, *args: str, out: Path) -> dict:
    completed = subprocess.run(
        [sys.executable, "-m", module, *args, "--out", str(out)], cwd=ROOT, capture_output=True, text=True, timeout=200
    )
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    assert "|" in completed.stdout  # the table
    document = json.loads(out.read_text())
    assert document["machine"]["nproc"] >= 1 and document["machine"]["python"]
    return document


def _envoy_missing() -> str | None:
    from appmesh_local.testing import envoy_available

    return envoy_available()


def test_api_benchmark_runs_all_three_servers(tmp_path):
    pytest.importorskip("psutil")
    pytest.importorskip("moto")
    doc = run_benchmark("benchmarks.api", "--nodes", "4", "--list-rounds", "1", out=tmp_path / "api.json")
    servers = doc["servers"]
    assert set(servers) == {"appmesh-local", "moto", "null"}
    for name, server in servers.items():
        assert server["common"]["errors"] == 0, (name, server["steps"])
        assert server["common"]["calls"] > 40
        assert server["steps"]["create_virtual_node"]["calls"] == 4
    # moto lacks virtual services and gateways: those steps ran against the other two only.
    assert "create_virtual_service" not in servers["moto"]["steps"]
    assert servers["appmesh-local"]["steps"]["create_gateway_route"]["errors"] == 0
    assert set(doc["comparison"]) >= {"ops_vs_null_common", "cpu_moto_over_local", "rss_n_nodes_local_over_moto"}


def test_null_server_answers_every_call_with_an_empty_document(tmp_path):
    pytest.importorskip("psutil")
    from benchmarks.api import client_for
    from benchmarks.harness import null_server

    server = null_server().start()
    try:
        client = client_for(server.endpoint)
        assert client.describe_mesh(meshName="m")["ResponseMetadata"]["HTTPStatusCode"] == 200
        assert "nextToken" not in client.list_virtual_nodes(meshName="m", limit=1)
        client.create_virtual_node(meshName="m", virtualNodeName="n", spec={})
    finally:
        server.stop()


def test_scale_benchmark_translates_changes_and_fans_out(tmp_path):
    pytest.importorskip("psutil")
    envoys = "0" if _envoy_missing() else "1"
    doc = run_benchmark(
        "benchmarks.scale",
        "--nodes",
        "8",
        "--routes-per-router",
        "2",
        "--backends",
        "2",
        "--clients",
        "3",
        "--envoys",
        envoys,
        "--repeat",
        "2",
        out=tmp_path / "scale.json",
    )
    full = doc["translation"]["full"]
    assert full["proxies"] == 8 and full["problems"] == 0
    assert doc["translation"]["route_change"]["hot"]["proxies_changed"] == 8
    assert 0 < doc["translation"]["route_change"]["typical"]["proxies_changed"] < 8
    fan_out = doc["fan_out"]
    assert all(run["all_acked"] and run["streams"] == 3 + int(envoys) for run in fan_out["runs"])
    assert not fan_out["client_errors"]


def test_scale_hot_only_times_only_real_hot_changes(tmp_path):
    """More changes than the router has routes: each must still change something (a weight set back
    to an old value once made every 11th change a no-op that cost nothing)."""
    pytest.importorskip("psutil")
    doc = run_benchmark(
        "benchmarks.scale",
        *("--nodes", "8", "--routes-per-router", "2", "--clients", "0", "--envoys", "0"),
        *("--repeat", "5", "--hot-only"),
        out=tmp_path / "scale.json",
    )
    changes = doc["translation"]["route_change"]
    assert list(changes) == ["hot"]
    assert [run["proxies_changed"] for run in changes["hot"]["runs"]] == [8] * 5


def test_convergence_benchmark_with_a_real_envoy(tmp_path):
    pytest.importorskip("psutil")
    missing = _envoy_missing()
    if missing:
        pytest.skip(missing)
    doc = run_benchmark(
        "benchmarks.convergence", "--sizes", "4", "--envoys", "1", "--repeat", "2", out=tmp_path / "convergence.json"
    )
    (case,) = doc["cases"]
    assert case["nodes"] == 4 and case["envoys"] == 1 and len(case["runs"]) == 2
    assert all(run["ack_ms"] > 0 and run["probe_ms"] > 0 for run in case["runs"])


def test_hostmode_benchmark_starts_meshes_and_measures_every_path(tmp_path):
    pytest.importorskip("psutil")
    missing = _envoy_missing()
    if missing:
        pytest.skip(missing)
    doc = run_benchmark("benchmarks.hostmode", "--meshes", "1", "--requests", "3", out=tmp_path / "hostmode.json")
    assert doc["proxies"] == 6 and len(doc["envoy_rss_mb"]) == 6
    assert all(path["n"] == 3 for path in doc["latency"].values())
    assert set(doc["gateway_self_redirect"]) == {"internal listener", "TCP 127.0.0.1"}


def test_scale_fan_out_with_incremental_clients_counts_what_each_change_sent(tmp_path):
    pytest.importorskip("psutil")
    doc = run_benchmark(
        "benchmarks.scale",
        *("--nodes", "8", "--routes-per-router", "2", "--backends", "2", "--clients", "4", "--envoys", "0"),
        *("--repeat", "2", "--delta", "--no-translation"),
        out=tmp_path / "scale-delta.json",
    )
    fan_out = doc["fan_out"]
    assert fan_out["delta"] and "translation" not in doc and not fan_out["client_errors"]
    for run in fan_out["runs"]:
        assert run["all_acked"] and run["streams"] == 4
        # a hot route change: each incremental client gets its one changed route configuration
        assert run["resources_per_client"] == 1 and run["kb_per_client"] > 0


def test_restart_benchmark_times_ready_and_convergence(tmp_path):
    pytest.importorskip("psutil")
    envoys = "0" if _envoy_missing() else "1"
    doc = run_benchmark(
        "benchmarks.restart",
        *("--nodes", "12", "--routes-per-router", "2", "--clients", "3", "--envoys", envoys, "--timeout", "120"),
        out=tmp_path / "restart.json",
    )
    restart = doc["restart"]
    assert restart["resources_in_state"] > 12 and not restart["client_errors"]
    assert 0 < restart["ready_s"] <= restart["connected_converged_s"]
    assert restart["whole_mesh_built_s"] is not None and restart["whole_mesh_built_rss_mb"] > 0


def test_memory_benchmark_fills_both_servers(tmp_path):
    pytest.importorskip("psutil")
    pytest.importorskip("moto")
    doc = run_benchmark("benchmarks.memory", "--nodes", "6", "--threads", "2", out=tmp_path / "memory.json")
    assert set(doc["servers"]) == {"appmesh-local", "moto"}
    for server in doc["servers"].values():
        assert server["errors"] == 0 and server["nodes_listed"] == 6 and server["rss_nodes_mb"] > 0
