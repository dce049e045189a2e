"""`sds` certificates: the export declares App Mesh's SDS agent cluster when told where the socket is."""

from __future__ import annotations

import subprocess

import pytest
import yaml

from appmesh_local.proxy.process import envoy_binary
from tests.export.helpers import run_cli

pytestmark = pytest.mark.timeout(120)

MESH = """
mesh: {meshName: sec, spec: {}}
virtualNodes:
  - virtualNodeName: secure
    spec:
      listeners:
        - portMapping: {port: 8443, protocol: http}
          tls:
            mode: STRICT
            certificate: {sds: {secretName: "spiffe://sec.local/secure"}}
      serviceDiscovery: {dns: {hostname: secure.sec.local}}
"""


def test_sds_socket_cluster_added_or_warned_about(tmp_path):
    mesh = tmp_path / "mesh.yaml"
    mesh.write_text(MESH)
    without = run_cli("export", "--file", str(mesh), "--mesh", "sec", "--all", "--out", str(tmp_path / "a"))
    assert without.returncode == 0, without.stderr
    assert "virtual node secure: uses sds certificates but no --sds-socket was given" in without.stderr

    socket_path = str(tmp_path / "sds.sock")
    with_socket = run_cli(
        "export",
        "--file",
        str(mesh),
        "--mesh",
        "sec",
        "--all",
        "--out",
        str(tmp_path / "b"),
        "--sds-socket",
        socket_path,
    )
    assert with_socket.returncode == 0 and "sds" not in with_socket.stderr, with_socket.stderr
    path = tmp_path / "b" / "virtual-node-secure.yaml"
    clusters = {c["name"]: c for c in yaml.safe_load(path.read_text())["static_resources"]["clusters"]}
    sds = clusters["static_cluster_sds_unix_socket"]
    assert sds["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]["address"] == {
        "pipe": {"path": socket_path}
    }
    check = subprocess.run(
        [str(envoy_binary()), "--mode", "validate", "-c", str(path), "--log-level", "error"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert check.returncode == 0, check.stdout + check.stderr
