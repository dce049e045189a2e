"""`appmesh-local task` and the xDS unix socket it relies on.

host ──198.51.100.1 (aml-br0)──▶ task 198.51.100.10: PREROUTING nat ──▶ Envoy :15000 (uid 1337) ──▶ app :8080 (uid 1001)
                                  Envoy ──unix socket──▶ in-process server's xDS
"""

from __future__ import annotations

import json
import os
import queue
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest

from appmesh_local.cli import main
from appmesh_local.netns.command import BRIDGE_NAME, TaskCommandError, parse_hosts
from appmesh_local.proxy.bootstrap import XDS_CLUSTER, render_bootstrap
from appmesh_local.proxy.process import EnvoyProcess, envoy_binary
from appmesh_local.server import AppMeshServer, ServerConfig
from appmesh_local.testing import InProcessServer, delete_mesh_tree
from tests.support.tasks import app_python, require_task_capabilities

pytestmark = pytest.mark.timeout(120)
REPO = Path(__file__).resolve().parents[2]
TASK_ADDRESS = "198.51.100.10"  # below the /28 slots (.16+) the other netns tests use
APP_SERVER = r"""
import http.server, json, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({"peer": self.client_address[0], "headers": {k.lower(): v for k, v in self.headers.items()}}).encode()
        self.send_response(200); self.send_header("content-length", str(len(body))); self.end_headers(); self.wfile.write(body)
    def log_message(self, *a): pass
http.server.HTTPServer(("0.0.0.0", int(sys.argv[1])), H).serve_forever()
"""


LIVE_PROBE = (
    "import json, sys, urllib.request; "
    "print(json.loads(urllib.request.urlopen(f'http://localhost:{sys.argv[1]}/server_info', timeout=5).read())['state'])"
)


@contextmanager
def socket_server(listener_bind_address: str) -> Iterator[tuple[InProcessServer, Path]]:
    """An in-process appmesh-local whose xDS also listens on a unix socket in a fresh 0755 directory."""
    directory = Path(tempfile.mkdtemp(prefix="aml-xds-", dir="/tmp"))
    directory.chmod(0o755)  # uid 1337 (Envoy in a task) must traverse it
    socket_path = directory / "sock" / "xds.sock"  # the runtime creates the missing directory itself
    config = ServerConfig(
        host="127.0.0.1",
        port=0,
        xds_host="127.0.0.1",
        xds_port=0,
        state_dir=None,
        listener_bind_address=listener_bind_address,
        xds_socket=str(socket_path),
    )
    server = AppMeshServer(config)
    try:
        server.start_background()
        yield InProcessServer(server), socket_path
    finally:
        server.stop()
        assert not socket_path.exists()  # stop() removes the socket
        shutil.rmtree(directory, ignore_errors=True)


def xds_endpoint(bootstrap: dict) -> dict:
    [cluster] = [c for c in bootstrap["static_resources"]["clusters"] if c["name"] == XDS_CLUSTER]
    return cluster["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]["address"]


def test_bootstrap_with_xds_socket_uses_a_pipe_and_validates(tmp_path):
    bootstrap = render_bootstrap("m", "virtualNode", "a", "127.0.0.1", 4601, xds_socket_path="/tmp/x/xds.sock")
    assert xds_endpoint(bootstrap) == {"pipe": {"path": "/tmp/x/xds.sock"}}
    assert [c["type"] for c in bootstrap["static_resources"]["clusters"]] == ["STATIC"]
    assert xds_endpoint(render_bootstrap("m", "virtualNode", "a", "127.0.0.1", 4601)) == {
        "socket_address": {"address": "127.0.0.1", "port_value": 4601}
    }
    path = tmp_path / "b.json"
    path.write_text(json.dumps(bootstrap))
    result = subprocess.run(
        [str(envoy_binary()), "--mode", "validate", "-c", str(path)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_bootstrap_command_line_takes_xds_socket(capsys):
    assert (
        main(["bootstrap", "--mesh", "m", "--virtual-node", "a", "--format", "json", "--xds-socket", "/run/x.sock"])
        == 0
    )
    assert xds_endpoint(json.loads(capsys.readouterr().out)) == {"pipe": {"path": "/run/x.sock"}}


def test_gateway_envoy_gets_its_config_over_the_unix_socket():
    bind = f"127.0.{random.randint(1, 254)}.{random.randint(2, 254)}"
    with socket_server(bind) as (server, socket_path):
        assert socket_path.is_socket() and socket_path.stat().st_mode & 0o777 == 0o666
        assert socket_path.parent.stat().st_mode & 0o777 == 0o755
        assert server.status()["server"]["unix_socket"] == str(socket_path)
        appmesh = server.client()
        appmesh.create_mesh(meshName="sock")
        appmesh.create_virtual_gateway(
            meshName="sock",
            virtualGatewayName="gw",
            spec={"listeners": [{"portMapping": {"port": 8080, "protocol": "http"}}]},
        )
        # xds_port 1 (nothing listens there): only the socket can have delivered the config.
        bootstrap = render_bootstrap(
            "sock", "virtualGateway", "gw", "127.0.0.1", 1, admin_port=0, xds_socket_path=str(socket_path)
        )
        with EnvoyProcess(bootstrap, log_level="warning") as envoy:
            envoy.wait_live(timeout=30)
            dump = json.dumps(envoy.wait_for_config(lambda d: "lds_ingress_0.0.0.0_8080" in json.dumps(d), timeout=15))
            assert bind in dump  # the gateway's listener, as the server translated it
            assert [p["name"] for p in server.status()["proxies"]] == ["gw"]
        delete_mesh_tree(appmesh, "sock")


def test_task_refuses_without_root(monkeypatch, capsys):
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    code = main(
        ["task", "--mesh", "m", "--virtual-node", "a", "--address", TASK_ADDRESS, "--app-port", "8080", "--", "true"]
    )
    assert code == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "needs root" in err


def test_parse_hosts():
    assert parse_hosts(["color.local=198.51.100.11"]) == {"color.local": "198.51.100.11"}
    with pytest.raises(TaskCommandError):
        parse_hosts(["color.local"])


# ---- the command itself, with root -------------------------------------------------------------
@pytest.fixture
def task_requirements():
    require_task_capabilities("`appmesh-local task` tests")


def link_exists(name: str) -> bool:
    return subprocess.run(["ip", "link", "show", name], capture_output=True).returncode == 0


def netns_exists(name: str) -> bool:
    return name in subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout.split()


def get(url: str, timeout: float = 5) -> tuple[int, dict, bytes]:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never through an HTTP proxy
    with opener.open(url, timeout=timeout) as response:
        return response.status, {k.lower(): v for k, v in response.headers.items()}, response.read()


def test_task_command_carries_traffic_through_envoy_and_cleans_up(task_requirements):
    name = f"tc{os.getpid() % 100000}"
    if netns_exists(f"aml-{name}") or link_exists(f"aml-{name}-h"):
        pytest.skip(f"aml-{name} exists already")
    bridge_existed = link_exists(BRIDGE_NAME)
    with socket_server("0.0.0.0") as (server, socket_path):  # 0.0.0.0 inside the task's own namespace
        appmesh = server.client()
        appmesh.create_mesh(meshName="taskcmd")
        appmesh.create_virtual_node(
            meshName="taskcmd",
            virtualNodeName="color",
            spec={
                "listeners": [{"portMapping": {"port": 8080, "protocol": "http"}}],
                "serviceDiscovery": {"dns": {"hostname": "color.local"}},
            },
        )
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "appmesh_local",
                "task",
                # The sidecar's App Mesh variables: the node from APPMESH_RESOURCE_ARN (the process
                # environment, as a task definition sets it), the admin port from -e.
                "-e",
                "ENVOY_ADMIN_ACCESS_PORT=9911",
                "--address",
                TASK_ADDRESS,
                "--app-port",
                "8080",
                "--xds-socket",
                str(socket_path),
                "--name",
                name,
                "--envoy-log-level",
                "warning",
                "--",
                app_python(),
                "-c",
                APP_SERVER,
                "8080",
            ],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "APPMESH_RESOURCE_ARN": "mesh/taskcmd/virtualNode/color"},
        )
        lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=lambda: [lines.put(line) for line in proc.stdout], daemon=True).start()
        try:
            output = []
            deadline = time.monotonic() + 60
            while not any(" up: " in line for line in output):
                assert time.monotonic() < deadline and proc.poll() is None, "".join(output)
                try:
                    output.append(lines.get(timeout=0.5))
                except queue.Empty:
                    pass
            assert f"at {TASK_ADDRESS}" in output[-1] and f"http://{TASK_ADDRESS}:9911" in output[-1]
            assert netns_exists(f"aml-{name}") and link_exists(BRIDGE_NAME)

            # From the host, through the bridge, to the app port: PREROUTING sends it to Envoy's 15000.
            for _ in range(100):
                try:
                    status, headers, body = get(f"http://{TASK_ADDRESS}:8080/hello")
                    break
                except OSError:
                    time.sleep(0.1)
            else:
                pytest.fail("the app port never answered:\n" + "".join(output))
            assert status == 200
            assert "x-envoy-upstream-service-time" in headers  # answered through Envoy
            seen = json.loads(body)
            assert seen["peer"] == "127.0.0.1"  # Envoy reached the app, not the host directly
            assert "x-request-id" in seen["headers"]
            _, _, stats = get(f"http://{TASK_ADDRESS}:9911/stats?filter=listener.0.0.0.0_15000.downstream_cx_total")
            assert int(stats.decode().split(": ")[1]) >= 1
            # App Mesh's readiness probe, from inside the task: the admin listens on 0.0.0.0 there.
            probe = subprocess.run(
                ["ip", "netns", "exec", f"aml-{name}", sys.executable, "-c", LIVE_PROBE, "9911"],
                capture_output=True,
                text=True,
                timeout=30,
            )
            assert probe.stdout.strip() == "LIVE", probe.stderr
            assert [p["name"] for p in server.status()["proxies"]] == ["color"]

            proc.send_signal(signal.SIGTERM)
            assert proc.wait(30) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
                subprocess.run(["ip", "netns", "del", f"aml-{name}"], capture_output=True)
                shutil.rmtree(f"/etc/netns/aml-{name}", ignore_errors=True)
                if not bridge_existed:
                    subprocess.run(["ip", "link", "del", BRIDGE_NAME], capture_output=True)
        delete_mesh_tree(appmesh, "taskcmd")
    assert not netns_exists(f"aml-{name}") and not link_exists(f"aml-{name}-h")
    assert not os.path.exists(f"/etc/netns/aml-{name}")
    assert link_exists(BRIDGE_NAME) == bridge_existed  # removed only if the command created it
