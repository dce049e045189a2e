"""Exported virtual-node configurations carry real traffic with App Mesh's interception, no control plane.

client task                                              backend task
  app ──OUTPUT nat──▶ Envoy :15001 (static, exported) ──▶ PREROUTING nat ──▶ Envoy :15000 (static) ──▶ app :9080
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import yaml

from appmesh_local.netns.iptables import Interception
from appmesh_local.netns.task import APP_UID, Bridge, Task
from tests.export.helpers import run_cli
from tests.support.tasks import APP_CLIENT, WAIT_PORT, app_python, require_task_capabilities

pytestmark = pytest.mark.timeout(120)
SERVICE = "backend.shop.local"

APP_SERVER = r"""
import http.server, json
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({"peer": self.client_address[0], "path": self.path, "host": self.headers["Host"]}).encode()
        self.send_response(200); self.send_header("content-length", str(len(body))); self.end_headers(); self.wfile.write(body)
    def log_message(self, *a): pass
http.server.HTTPServer(("0.0.0.0", 9080), H).serve_forever()
"""


def mesh_file(path: Path) -> Path:
    path.write_text(
        yaml.safe_dump(
            {
                "mesh": {"meshName": "shop", "spec": {}},
                "virtualNodes": [
                    {
                        "virtualNodeName": "backend",
                        "spec": {
                            "listeners": [{"portMapping": {"port": 9080, "protocol": "http"}}],
                            "serviceDiscovery": {"dns": {"hostname": SERVICE}},
                        },
                    },
                    {
                        "virtualNodeName": "client",
                        "spec": {"backends": [{"virtualService": {"virtualServiceName": SERVICE}}]},
                    },
                ],
                "virtualServices": [
                    {
                        "virtualServiceName": SERVICE,
                        "spec": {"provider": {"virtualNode": {"virtualNodeName": "backend"}}},
                    }
                ],
            }
        )
    )
    return path


def exported(tmp_path: Path, node: str, admin_address: str) -> dict:
    out = tmp_path / node
    result = run_cli(
        "export",
        "--file",
        str(mesh_file(tmp_path / "mesh.yaml")),
        "--mesh",
        "shop",
        "--virtual-node",
        node,
        "--out",
        str(out),
        "--admin-address",
        admin_address,
        # The tasks share this machine's /tmp (containers do not): the image's default admin log,
        # /tmp/envoy_admin_access.log, may belong to another uid than the tasks' Envoy (1337).
        "-e",
        "ENVOY_ADMIN_ACCESS_LOG_FILE=/dev/stdout",
    )
    assert result.returncode == 0, result.stderr
    return yaml.safe_load((out / f"virtual-node-{node}.yaml").read_text())


@pytest.fixture
def tasks():
    require_task_capabilities("exported-config traffic tests")
    bridge = Bridge.free_slot(os.getpid() + 7).up()
    slot = bridge.name.removeprefix("aml-br")
    made = []
    try:
        backend_ip, client_ip = bridge.host(1), bridge.host(2)
        backend = Task(f"xb{slot}", backend_ip, bridge, interception=Interception(app_ports=(9080,)))
        client = Task(f"xc{slot}", client_ip, bridge, interception=Interception(), hosts={SERVICE: backend_ip})
        made = [backend.up(), client.up()]
        # The client Envoy resolves the service name (its DNS cluster) through the client task's hosts file.
        yield backend, client
    finally:
        for task in made:
            task.down()
        bridge.down()


def test_exported_nodes_carry_traffic_through_interception(tasks, tmp_path):
    backend, client = tasks
    python = app_python()
    backend.popen([python, "-c", APP_SERVER])
    assert backend.run([python, "-c", WAIT_PORT, "9080"]).returncode == 0
    backend_envoy = backend.envoy(exported(tmp_path, "backend", backend.address), log_level="warning").start(timeout=30)
    client_envoy = client.envoy(exported(tmp_path, "client", client.address), log_level="warning").start(timeout=30)
    for envoy in (backend_envoy, client_envoy):
        assert "dynamic_resources" not in json.loads(envoy.bootstrap_path.read_text())

    result = client.run([python, "-c", APP_CLIENT, f"http://{SERVICE}:9080/orders"], uid=APP_UID)
    assert result.returncode == 0, result.stderr + client_envoy.log_text()[-2000:]
    reply = json.loads(result.stdout)
    assert reply["status"] == 200
    assert "x-envoy-upstream-service-time" in reply["headers"]  # answered through an Envoy
    assert reply["body"] == {"peer": "127.0.0.1", "path": "/orders", "host": f"{SERVICE}:9080"}
    egress = client_envoy.stats("listener.0.0.0.0_15001.downstream_cx_total")
    ingress = backend_envoy.stats("listener.0.0.0.0_15000.downstream_cx_total")
    assert egress["listener.0.0.0.0_15001.downstream_cx_total"] >= 1
    assert ingress["listener.0.0.0.0_15000.downstream_cx_total"] >= 1
    assert (
        client_envoy.stats("cluster.cds_egress_shop_backend_http_9080.upstream_rq_2xx")[
            "cluster.cds_egress_shop_backend_http_9080.upstream_rq_2xx"
        ]
        >= 1
    )

    # A host the client has no backend for gets App Mesh's 404 from the egress route table.
    unknown = client.run([python, "-c", APP_CLIENT, f"http://{backend.address}:9080/"], uid=APP_UID)
    assert unknown.returncode != 0 and "404" in unknown.stderr
