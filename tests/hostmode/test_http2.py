"""An HTTP/2 backend in host mode: reached with prior knowledge at the egress port, and by HTTP/1.1 through the proxy."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from appmesh_local.proxy.process import envoy_binary
from tests.support.waiting import wait_until

APPS = Path(__file__).parent / "apps"
CURL = shutil.which("curl")
PORT = 8082
pytestmark = [
    pytest.mark.timeout(120),
    pytest.mark.skipif(CURL is None, reason="needs curl (with HTTP/2) as the HTTP/2 client"),
]


def curl(*args: str) -> dict[str, str]:
    """Response headers (lower-cased) and status of one curl call."""
    done = subprocess.run(
        [CURL, "-s", "-o", "/dev/null", "-D", "-", "--max-time", "10", *args], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return {"status": lines[0].split()[1], "first": lines[0].split()[0], **headers}


def test_http2_backend_through_the_clients_envoy(appmesh_mesh, appmesh_client, appmesh_app, tmp_path):
    if "HTTP2" not in subprocess.run([CURL, "--version"], capture_output=True, text=True).stdout:
        pytest.skip("this curl has no HTTP/2")
    appmesh_client.create_virtual_node(
        meshName=appmesh_mesh,
        virtualNodeName="h2",
        spec={
            "listeners": [{"portMapping": {"port": PORT, "protocol": "http2"}}],
            "serviceDiscovery": {"dns": {"hostname": "h2.local"}},
        },
    )
    appmesh_client.create_virtual_service(
        meshName=appmesh_mesh,
        virtualServiceName="h2.local",
        spec={"provider": {"virtualNode": {"virtualNodeName": "h2"}}},
    )
    appmesh_client.create_virtual_node(
        meshName=appmesh_mesh,
        virtualNodeName="client",
        spec={"backends": [{"virtualService": {"virtualServiceName": "h2.local"}}]},
    )
    log = tmp_path / "h2.log"
    backend = appmesh_app(
        appmesh_mesh,
        "h2",
        [sys.executable, str(APPS / "h2_backend.py"), str(envoy_binary())],
        env={"APP_LOG": str(log)},
    )
    client = appmesh_app(appmesh_mesh, "client", [sys.executable, "-c", "import time; time.sleep(600)"])
    assert client.ports == [] and backend.ports == [PORT]

    # HTTP/2 with prior knowledge, straight to the client's egress port, naming the service.
    direct = curl("--http2-prior-knowledge", "-H", f"Host: h2.local:{PORT}", f"http://{client.egress_address}:{PORT}/")
    assert direct["status"] == "200" and direct["first"] == "HTTP/2"
    assert direct["x-seen-protocol"] == "HTTP/2" and direct["x-seen-host"] == f"h2.local:{PORT}"
    # An HTTP/1.1 client through HTTP_PROXY: the mesh still speaks HTTP/2 to the backend.
    proxied = curl("--proxy", client.env["HTTP_PROXY"], f"http://h2.local:{PORT}/")
    assert proxied["status"] == "200" and proxied["first"] == "HTTP/1.1"
    assert proxied["x-seen-protocol"] == "HTTP/2"
    stats = client.envoy.stats(f"cluster.cds_egress_{appmesh_mesh}_h2_http2_{PORT}.upstream_cx_http2_total")
    assert stats[f"cluster.cds_egress_{appmesh_mesh}_h2_http2_{PORT}.upstream_cx_http2_total"] >= 1
    assert backend.envoy.stats("http.ingress.downstream_rq_total")["http.ingress.downstream_rq_total"] == 2
    wait_until(lambda: log.exists() and log.read_text().split() == ["HTTP/2", "HTTP/2"], 5, "the backend's access log")
