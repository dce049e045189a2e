"""`appmesh-local export` against a running server: files Envoy accepts, equal to what the
bridge serves, carrying the same traffic as the xDS-driven gateway."""

from __future__ import annotations

import subprocess

import pytest
import yaml
from envoy.config.cluster.v3 import cluster_pb2

from appmesh_local.proxy.process import EnvoyProcess, envoy_binary
from appmesh_local.xds.proxy_config import CLUSTER
from tests.export.helpers import (
    REQUESTS,
    assert_same_as_bridge,
    build_gateway_mesh,
    free_port,
    run_cli,
    served,
    wait_until_free,
)
from tests.plugin.echo import echo_server, get_json, wait_for_json

pytestmark = pytest.mark.timeout(120)
PROXIES = {
    "virtual-gateway-gw.yaml": ("virtualGateway", "gw"),
    "virtual-node-app-v1.yaml": ("virtualNode", "app-v1"),
    "virtual-node-app-v2.yaml": ("virtualNode", "app-v2"),
    "virtual-node-client.yaml": ("virtualNode", "client"),
    "virtual-node-cloud-map.yaml": ("virtualNode", "cloud-map"),
}


@pytest.fixture
def ports():
    """Two running echo apps and a free port for the gateway listener."""
    with echo_server("v1") as v1_port, echo_server("v2") as v2_port:
        yield {"v1": v1_port, "v2": v2_port, "gateway": free_port()}


@pytest.fixture
def gateway_mesh(appmesh_mesh, appmesh_client, ports):
    build_gateway_mesh(appmesh_client, appmesh_mesh, ports["v1"], ports["v2"], ports["gateway"])
    return appmesh_mesh


def export(server, mesh: str, out, *which: str) -> list:
    result = run_cli(
        "export",
        "--endpoint",
        server.endpoint,
        "--mesh",
        mesh,
        *which,
        "--out",
        str(out),
        "--bind-address",
        "127.0.0.1",
        "--admin-port",
        "0",
    )
    assert result.returncode == 0, result.stderr
    return [line for line in result.stdout.splitlines() if line]


def test_all_writes_one_file_per_proxy_and_envoy_accepts_each(appmesh_server, gateway_mesh, tmp_path):
    written = export(appmesh_server, gateway_mesh, tmp_path, "--all")
    assert sorted(p.rsplit("/", 1)[-1] for p in written) == sorted(PROXIES)
    for path in written:
        check = subprocess.run(
            [str(envoy_binary()), "--mode", "validate", "-c", path, "--log-level", "error"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert check.returncode == 0, f"{path}: {check.stdout}{check.stderr}"
        assert "dynamic_resources" not in yaml.safe_load(open(path))


@pytest.mark.parametrize("file_name", sorted(PROXIES))
def test_export_equals_what_the_bridge_serves(appmesh_server, gateway_mesh, tmp_path, file_name):
    kind, name = PROXIES[file_name]
    flag = "--virtual-gateway" if kind == "virtualGateway" else "--virtual-node"
    [path] = export(appmesh_server, gateway_mesh, tmp_path, flag, name)
    doc = yaml.safe_load(open(path))
    assert doc["node"]["id"] == f"mesh/{gateway_mesh}/{kind}/{name}"
    bridge = served(appmesh_server, gateway_mesh, kind, name)
    assert_same_as_bridge(doc["static_resources"], bridge)
    if name == "client":
        assert any(c.type == cluster_pb2.Cluster.EDS for c in bridge[CLUSTER].values())  # Cloud Map covered


def responses(gateway_port: int) -> list:
    out = []
    for path, headers in REQUESTS:
        status, body = get_json(f"http://127.0.0.1:{gateway_port}{path}", headers=headers)
        out.append((path, headers, status, body if status == 200 else None))
    return out


def test_exported_gateway_carries_the_same_traffic_as_the_xds_driven_one(
    appmesh_server, appmesh_envoy, gateway_mesh, ports, tmp_path
):
    envoy = appmesh_envoy(gateway_mesh, virtual_gateway="gw")
    wait_for_json(f"http://127.0.0.1:{ports['gateway']}/app/ready")
    over_xds = responses(ports["gateway"])
    envoy.stop()  # the exported gateway listens on the same gateway port

    [path] = export(appmesh_server, gateway_mesh, tmp_path, "--virtual-gateway", "gw")
    wait_until_free("127.0.0.1", ports["gateway"])
    with EnvoyProcess(yaml.safe_load(open(path)), log_level="warning") as static_envoy:
        assert static_envoy.state() == "LIVE"
        wait_for_json(f"http://127.0.0.1:{ports['gateway']}/app/ready")
        exported = responses(ports["gateway"])
        assert "control_plane.connected_state" not in static_envoy.stats("control_plane")

    assert exported == over_xds
    by_request = {(p, tuple(h.items())): (s, b) for p, h, s, b in exported}
    assert by_request[("/app/hello", ())] == (200, {"server": "v1", "path": "/hello", "host": "app.local"})
    assert by_request[("/app/hello", (("x-version", "2"),))][1]["server"] == "v2"
    assert by_request[("/keep/this", ())][1]["path"] == "/keep/this"
    assert by_request[("/direct/x?q=1", ())][1] == {"server": "v2", "path": "/x?q=1", "host": "v2.local"}
    assert by_request[("/nowhere", ())][0] == 404
