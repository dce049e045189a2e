"""Real traffic through a gateway built by the translator, on loopback only.

The gateway pipeline (listener → self_redirect cluster → own egress listener → service
routes → DNS cluster → app) is all inside one Envoy, so it runs without iptables: proof
that rewrites, the self_redirect hop and the header-routed `default_backend` work.
The egress listener is an internal listener: it binds no port, so parallel Envoys cannot collide.
"""

from __future__ import annotations

import json
import socket
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Iterator

import pytest
import requests

from appmesh_local.bridge.build import build_mesh_config, dump_proxy_config
from appmesh_local.proxy.process import envoy_binary
from appmesh_local.testing import envoy_available
from appmesh_local.translate.loader import snapshot_from_document
from tests.translate.envoy_check import bootstrap_for

ENVOY_MISSING = envoy_available()
ENVOY = str(envoy_binary()) if ENVOY_MISSING is None else "envoy"
pytestmark = [
    pytest.mark.skipif(ENVOY_MISSING is not None, reason=f"cannot run Envoy: {ENVOY_MISSING}"),
    pytest.mark.timeout(120),
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Echo(BaseHTTPRequestHandler):
    """Answers with what the app received: path, Host and the App Mesh service header."""

    def do_GET(self) -> None:  # noqa: N802 (http.server naming)
        body = json.dumps(
            {"path": self.path, "host": self.headers.get("Host"), "vs": self.headers.get("x-app-mesh-virtual-service")}
        ).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


def mesh_document(app_port: int, gateway_port: int) -> dict[str, Any]:
    def node(name):
        return {
            "virtualNodeName": name,
            "spec": {
                "listeners": [{"portMapping": {"port": app_port, "protocol": "http"}}],
                "serviceDiscovery": {"dns": {"hostname": "127.0.0.1"}},
            },
        }

    def route(name, match, vs, rewrite=None):
        return {
            "gatewayRouteName": name,
            "virtualGatewayName": "gw",
            "spec": {
                "httpRoute": {
                    "match": match,
                    "action": {
                        "target": {"virtualService": {"virtualServiceName": vs}},
                        **({"rewrite": rewrite} if rewrite else {}),
                    },
                }
            },
        }

    return {
        "mesh": {"meshName": "edge", "spec": {}},
        "virtualNodes": [node("catalog-v1"), node("ops")],
        "virtualRouters": [
            {
                "virtualRouterName": "catalog",
                "spec": {"listeners": [{"portMapping": {"port": app_port, "protocol": "http"}}]},
            }
        ],
        "routes": [
            {
                "routeName": "all",
                "virtualRouterName": "catalog",
                "spec": {
                    "httpRoute": {
                        "match": {"prefix": "/"},
                        "action": {"weightedTargets": [{"virtualNode": "catalog-v1", "weight": 1}]},
                    }
                },
            }
        ],
        "virtualServices": [
            {
                "virtualServiceName": "catalog.edge.local",
                "spec": {"provider": {"virtualRouter": {"virtualRouterName": "catalog"}}},
            },
            {"virtualServiceName": "ops.edge.local", "spec": {"provider": {"virtualNode": {"virtualNodeName": "ops"}}}},
        ],
        "virtualGateways": [
            {
                "virtualGatewayName": "gw",
                "spec": {"listeners": [{"portMapping": {"port": gateway_port, "protocol": "http"}}]},
            }
        ],
        "gatewayRoutes": [
            route("catalog", {"prefix": "/catalog"}, "catalog.edge.local"),
            route("ops", {"prefix": "/ops"}, "ops.edge.local", {"hostname": {"defaultTargetHostname": "DISABLED"}}),
            route("status", {"path": {"exact": "/status"}}, "ops.edge.local", {"path": {"exact": "/healthz"}}),
            route(
                "by-host",
                {"prefix": "/", "hostname": {"suffix": ".example.com"}},
                "catalog.edge.local",
                {"prefix": {"defaultPrefix": "DISABLED"}},
            ),
        ],
    }


@pytest.fixture
def app_port() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Echo)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def test_gateway_routes_rewrite_and_reach_the_app(app_port: int, tmp_path: Path) -> None:
    gateway_port, admin_port = free_port(), free_port()
    config = build_mesh_config(snapshot_from_document(mesh_document(app_port, gateway_port)), bind_address="127.0.0.1")
    assert config.problems == ()
    resources = dump_proxy_config(config.proxies[("virtualGateway", "gw")])
    assert resources["Listener"]["lds_egress_0.0.0.0_15001"]["internalListener"] == {}
    bootstrap = bootstrap_for(resources)
    bootstrap["admin"] = {"address": {"socketAddress": {"address": "127.0.0.1", "portValue": admin_port}}}
    path = tmp_path / "gw.json"
    path.write_text(json.dumps(bootstrap))
    log = (tmp_path / "envoy.log").open("w")
    envoy = subprocess.Popen(
        [ENVOY, "-c", str(path), "--use-dynamic-base-id", "--log-level", "warn"], stdout=log, stderr=subprocess.STDOUT
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if requests.get(f"http://127.0.0.1:{admin_port}/ready", timeout=1).status_code == 200:
                    break
            except requests.RequestException:
                pass
            assert envoy.poll() is None, (tmp_path / "envoy.log").read_text()[-2000:]
            assert time.monotonic() < deadline, "envoy did not become ready"
            time.sleep(0.2)
        base = f"http://127.0.0.1:{gateway_port}"
        got = requests.get(f"{base}/catalog/items?x=1", timeout=5).json()
        assert got == {"path": "/items?x=1", "host": "catalog.edge.local", "vs": None}
        assert requests.get(f"{base}/catalog", timeout=5).json()["path"] == "/"
        got = requests.get(f"{base}/ops/metrics", timeout=5).json()
        assert got["path"] == "/metrics" and got["vs"] == "ops.edge.local"
        assert got["host"] == f"127.0.0.1:{gateway_port}"  # Host passed through untouched
        got = requests.get(f"{base}/status", timeout=5).json()
        assert got == {"path": "/healthz", "host": "ops.edge.local", "vs": None}
        assert requests.get(f"{base}/nowhere", timeout=5).status_code == 404
        got = requests.get(f"{base}/a/b", headers={"Host": f"shop.example.com:{gateway_port}"}, timeout=5).json()
        assert got == {"path": "/a/b", "host": "catalog.edge.local", "vs": None}
        assert requests.get(f"{base}/a/b", headers={"Host": "shop.example.net"}, timeout=5).status_code == 404
    finally:
        envoy.terminate()
        try:
            envoy.wait(timeout=10)
        except subprocess.TimeoutExpired:
            envoy.kill()
            envoy.wait(timeout=10)
        log.close()
