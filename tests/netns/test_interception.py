"""App Mesh transparent interception in network namespaces, with real Envoys fed by our ADS server.

client task (198.51.100.x/28)                        backend task (same /28)
  app (uid 1001) ──OUTPUT nat──▶ Envoy :15001 (uid 1337) ──▶ PREROUTING nat ──▶ Envoy :15000 ──▶ app :9080
"""

from __future__ import annotations

import json
import os
import time

import pytest

from appmesh_local.bridge.runtime import XdsRuntime
from appmesh_local.netns.iptables import Interception, iptables_binary
from appmesh_local.netns.task import APP_UID, ENVOY_UID, Bridge, Task
from appmesh_local.proxy.bootstrap import render_bootstrap
from appmesh_local.xds.proxy_config import CLUSTER, LISTENER, ROUTE_CONFIGURATION
from tests.support.tasks import APP_CLIENT, WAIT_PORT, app_python
from tests.xds.conftest import proxy
from tests.xds.resources import cluster_route_config, intercepting_listener, static_cluster

pytestmark = [pytest.mark.timeout(90), pytest.mark.usefixtures("netns_requirements")]
SERVICE = "backend.mesh.local"

APP_SERVER = r"""
import http.server, json
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({"peer": self.client_address[0], "headers": {k.lower(): v for k, v in self.headers.items()}}).encode()
        self.send_response(200); self.send_header("content-length", str(len(body))); self.end_headers(); self.wfile.write(body)
    def log_message(self, *a): pass
http.server.HTTPServer(("0.0.0.0", 9080), H).serve_forever()
"""


def backend_resources() -> dict:
    cluster = "cds_ingress_m_backend_http_9080"
    return {
        LISTENER: {
            "lds_ingress_0.0.0.0_15000": intercepting_listener(
                "lds_ingress_0.0.0.0_15000", 15000, {9080: "rds_ingress_http_9080"}
            )
        },
        ROUTE_CONFIGURATION: {"rds_ingress_http_9080": cluster_route_config("rds_ingress_http_9080", cluster)},
        CLUSTER: {cluster: static_cluster(cluster, "127.0.0.1", 9080)},
    }


def client_resources(backend_ip: str) -> dict:
    cluster = "cds_egress_m_backend_http_9080"
    return {
        LISTENER: {
            "lds_egress_0.0.0.0_15001": intercepting_listener(
                "lds_egress_0.0.0.0_15001", 15001, {9080: "rds_egress_http_9080"}
            )
        },
        ROUTE_CONFIGURATION: {
            "rds_egress_http_9080": cluster_route_config(
                "rds_egress_http_9080", cluster, domains=(SERVICE, f"{SERVICE}:9080")
            )
        },
        CLUSTER: {cluster: static_cluster(cluster, backend_ip, 9080)},
    }


@pytest.fixture
def mesh():
    bridge = Bridge.free_slot(os.getpid()).up()  # a /28 of 198.51.100.0/24 no other run is using
    runtime = tasks = None
    slot = bridge.name.removeprefix("aml-br")
    try:
        runtime = XdsRuntime(port=0, extra_hosts=(bridge.address,)).start()
        backend_ip, client_ip = bridge.host(1), bridge.host(2)
        backend = Task(f"back{slot}", backend_ip, bridge, interception=Interception(app_ports=(9080,)))
        client = Task(f"cli{slot}", client_ip, bridge, interception=Interception(), hosts={SERVICE: backend_ip})
        tasks = [backend.up(), client.up()]
        yield runtime, bridge, backend, client
    finally:
        for task in tasks or []:
            task.down()
        if runtime is not None:
            runtime.stop(grace=0)
        bridge.down()
    assert not os.path.exists(f"/etc/netns/aml-back{slot}") and not bridge.exists()


def start_envoy(task: Task, runtime: XdsRuntime, bridge: Bridge, name: str):
    bootstrap = render_bootstrap(
        "m", "virtualNode", name, bridge.address, runtime.port, admin_port=9901, admin_address=task.address
    )
    return task.envoy(bootstrap, log_level="warning").start(timeout=20)


def test_app_traffic_is_redirected_through_both_envoys(mesh):
    runtime, bridge, backend, client = mesh
    python = app_python()
    rules = backend.run([iptables_binary(), "-t", "nat", "-S"], uid=None).stdout
    assert "-A APPMESH_INGRESS -p tcp -m multiport --dports 9080 -j REDIRECT --to-ports 15000" in rules
    assert f"-A APPMESH_EGRESS -m owner --uid-owner {ENVOY_UID} -j RETURN" in rules

    runtime.cache.set_proxy(proxy("backend"), backend_resources())
    runtime.cache.set_proxy(proxy("client"), client_resources(backend.address))
    backend.popen([python, "-c", APP_SERVER])
    assert backend.run([python, "-c", WAIT_PORT, "9080"]).returncode == 0
    backend_envoy = start_envoy(backend, runtime, bridge, "backend")
    client_envoy = start_envoy(client, runtime, bridge, "client")
    assert {p["name"] for p in runtime.status_snapshot()["proxies"]} == {"backend", "client"}

    # The app (uid 1001) calls the service by name; nothing in it knows about Envoy.
    started = time.monotonic()
    result = client.run([python, "-c", APP_CLIENT, f"http://{SERVICE}:9080/hello"], uid=APP_UID)
    assert result.returncode == 0, result.stderr
    reply = json.loads(result.stdout)
    assert reply["status"] == 200
    assert "x-envoy-upstream-service-time" in reply["headers"]  # answered through an Envoy
    seen = reply["body"]
    assert seen["peer"] == "127.0.0.1"  # the app was reached by its own Envoy, not by the client directly
    assert "x-request-id" in seen["headers"] and "x-envoy-expected-rq-timeout-ms" in seen["headers"]
    assert seen["headers"]["host"] == f"{SERVICE}:9080"
    egress = client_envoy.stats("listener.0.0.0.0_15001.downstream_cx_total")
    ingress = backend_envoy.stats("listener.0.0.0.0_15000.downstream_cx_total")
    assert egress["listener.0.0.0.0_15001.downstream_cx_total"] >= 1
    assert ingress["listener.0.0.0.0_15000.downstream_cx_total"] >= 1
    print(f"\nnetns round trip through two Envoys: {(time.monotonic() - started) * 1000:.0f} ms")

    # uid 1337's own traffic bypasses the egress rule: the client Envoy sees no new connection.
    before = egress["listener.0.0.0.0_15001.downstream_cx_total"]
    direct = client.run([python, "-c", APP_CLIENT, f"http://{backend.address}:9080/direct"], uid=ENVOY_UID)
    assert direct.returncode == 0, direct.stderr
    assert json.loads(direct.stdout)["body"]["peer"] == "127.0.0.1"  # still intercepted on the way in
    after = client_envoy.stats("listener.0.0.0.0_15001.downstream_cx_total")[
        "listener.0.0.0.0_15001.downstream_cx_total"
    ]
    assert after == before

    # A port with no filter chain on the egress listener is closed, as App Mesh's DROP_ALL does.
    closed = client.run([python, "-c", APP_CLIENT, f"http://{SERVICE}:9081/"], uid=APP_UID)
    assert closed.returncode != 0
