"""`appmesh-local run` end to end: apps with their sidecars as separate commands, and every way a start can fail loudly."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest
import requests

from appmesh_local.proxy.host import lease
from appmesh_local.testing import envoy_available, serve_in_thread
from tests.hostmode import colourmesh
from tests.hostmode.test_nonroot import MARKER, _marked_processes
from tests.support.waiting import wait_until

APPS = Path(__file__).parent / "apps" / "mesh_apps.py"
UP = re.compile(r"up in host mode: (?:ingress|gateway listeners on) (?P<address>[0-9.]+)")

pytestmark = [pytest.mark.timeout(180)]


@pytest.fixture(scope="module")
def server():
    reason = envoy_available()
    if reason:
        print(f"SKIP appmesh-local run: {reason}")
        pytest.skip(reason)
    with serve_in_thread() as running:
        yield running


class Runs:
    """`appmesh-local run` processes of one test, all marked so none can hide afterwards."""

    def __init__(self, server, tmp_path: Path) -> None:
        self.server, self.tmp_path = server, tmp_path
        self.marker = uuid.uuid4().hex
        self.procs: list[subprocess.Popen[str]] = []

    def start(
        self, *args: str, app: list[str] | None = None, env: dict[str, str] | None = None
    ) -> subprocess.Popen[str]:
        argv = [sys.executable, "-m", "appmesh_local", "run", *args, "--xds-port", str(self.server.xds_port)]
        argv += ["--endpoint", self.server.endpoint, "--strict"]  # a proxy the server does not know: exit 1
        argv += ["--envoy-log-level", "warning"]
        if app:
            argv += ["--", *app]
        proc = subprocess.Popen(
            argv,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, **(env or {}), MARKER: self.marker},
        )
        self.procs.append(proc)
        return proc

    def address(self, proc: subprocess.Popen[str], timeout: float = 30) -> str:
        """The task address the run announced once its Envoy was up (fails with its output otherwise)."""
        deadline = time.monotonic() + timeout
        assert proc.stdout is not None
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            found = UP.search(line)
            if found:
                return found["address"]
        proc.kill()
        raise AssertionError(f"no 'up' line: {proc.stdout.read()} {proc.stderr.read() if proc.stderr else ''}")

    def stop_all(self) -> None:
        for proc in reversed(self.procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)


@pytest.fixture
def runs(server, tmp_path) -> Iterator[Runs]:
    started = Runs(server, tmp_path)
    try:
        yield started
    finally:
        started.stop_all()


def api_spec(port: int) -> dict:
    return {
        "listeners": [{"portMapping": {"port": port, "protocol": "http"}}],
        "serviceDiscovery": {"dns": {"hostname": "api.local"}},
    }


@contextmanager
def listening(address: str, port: int) -> Iterator[socket.socket]:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # past earlier tests' TIME_WAIT
        sock.bind((address, port))
        sock.listen()
        yield sock


def test_run_starts_apps_with_their_sidecars_and_stops_everything(server, runs, tmp_path):
    client, mesh = server.client(), f"run-{uuid.uuid4().hex[:6]}"
    colourmesh.create(client, mesh)
    logs = {node: tmp_path / f"{node}.log" for node in ("blue", "red", "front")}
    for node in ("blue", "red"):
        proc = runs.start(
            "--mesh", mesh, "--virtual-node", node,
            app=[sys.executable, str(APPS), "colour", node], env={"APP_LOG": str(logs[node])},
        )  # fmt: skip
        runs.address(proc)
    front = runs.start(
        "--mesh", mesh, "--virtual-node", "front",
        app=[sys.executable, str(APPS), "front"], env={"APP_LOG": str(logs["front"])},
    )  # fmt: skip
    front_address = runs.address(front)
    gateway = runs.start("--mesh", mesh, "--virtual-gateway", "gw")
    gateway_address = runs.address(gateway)
    assert len({front_address, gateway_address}) == 2

    session = requests.Session()
    session.trust_env = False
    seen: dict[str, int] = {}
    deadline = time.monotonic() + 20
    while sum(seen.values()) < 100:
        assert time.monotonic() < deadline, seen
        reply = session.get(f"http://{gateway_address}:{colourmesh.GATEWAY_PORT}/colour", timeout=10)
        body = reply.json() if reply.status_code == 200 else {}
        if body.get("status") == 200:
            seen[body["body"]] = seen.get(body["body"], 0) + 1
    assert set(seen) == {"blue", "red"} and seen["blue"] > seen["red"], seen
    # The front app reached color.local through its own Envoy (HTTP_PROXY), shown by that Envoy's stats.
    stats = session.get(f"http://{front_address}:9901/stats?filter=http.egress_http_proxy.downstream_rq_total").text
    assert int(stats.split(": ")[1]) >= 100

    runs.stop_all()
    for proc in runs.procs:
        assert proc.returncode == 0, proc.stderr.read() if proc.stderr else ""
    assert not _marked_processes(runs.marker)  # no app, Envoy or supervisor left


def test_run_fails_fast_when_its_address_is_taken(server, runs):
    client, mesh = server.client(), f"taken-{uuid.uuid4().hex[:6]}"
    client.create_mesh(meshName=mesh)
    client.create_virtual_node(
        meshName=mesh,
        virtualNodeName="api",
        spec=api_spec(8080),
    )
    with lease() as free:
        address = free.placement.address
    with listening(address, 8080):  # not an appmesh-local proxy: host mode must not share it
        started = time.monotonic()
        proc = runs.start("--mesh", mesh, "--virtual-node", "api", "--address", address, app=["sleep", "60"])
        assert proc.wait(15) == 1
        assert time.monotonic() - started < 10
        assert f"something already listens on {address}:8080" in proc.stderr.read()


def test_run_fails_fast_when_envoy_cannot_bind_a_listener(server, runs):
    """Something holds the port on every address (0.0.0.0): only Envoy's own bind finds out."""
    client, mesh = server.client(), f"bind-{uuid.uuid4().hex[:6]}"
    with listening("127.0.0.1", 0) as probe:
        port = probe.getsockname()[1]
    client.create_mesh(meshName=mesh)
    client.create_virtual_node(
        meshName=mesh,
        virtualNodeName="api",
        spec=api_spec(port),
    )
    with listening("0.0.0.0", port):
        started = time.monotonic()
        proc = runs.start("--mesh", mesh, "--virtual-node", "api", app=["sleep", "60"])
        assert proc.wait(15) == 1
        assert time.monotonic() - started < 10
        error = proc.stderr.read()
        assert "cannot listen where host mode placed it" in error
        assert f":{port}': Address already in use" in error and "lds_ingress_0.0.0.0_15000" in error
    assert not _marked_processes(runs.marker)


def test_envoy_command_stops_a_proxy_whose_listener_cannot_bind(server):
    client, mesh = server.client(), f"envoy-{uuid.uuid4().hex[:6]}"
    with listening("127.0.0.1", 0) as taken:
        port = taken.getsockname()[1]
        client.create_mesh(meshName=mesh)
        client.create_virtual_gateway(
            meshName=mesh,
            virtualGatewayName="gw",
            spec={"listeners": [{"portMapping": {"port": port, "protocol": "http"}}]},
        )
        with listening("127.0.0.1", 0) as admin:
            admin_port = admin.getsockname()[1]
        started = time.monotonic()
        result = subprocess.run(
            [sys.executable, "-m", "appmesh_local", "envoy", "--mesh", mesh, "--virtual-gateway", "gw"]
            + ["--xds-port", str(server.xds_port), "--admin-port", str(admin_port), "--envoy-log-level", "error"]
            + ["--endpoint", server.endpoint],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert result.returncode == 1, result.stderr[-2000:]
        assert time.monotonic() - started < 10
        assert f"cannot listen: lds_ingress_0.0.0.0_{port}: cannot bind '127.0.0.1:{port}'" in result.stderr


def test_run_without_an_app_prints_the_apps_environment(server, runs):
    client, mesh = server.client(), f"env-{uuid.uuid4().hex[:6]}"
    client.create_mesh(meshName=mesh)
    client.create_virtual_node(
        meshName=mesh,
        virtualNodeName="api",
        spec=api_spec(8080),
    )
    proc = runs.start("--mesh", mesh, "--virtual-node", "api")
    address = runs.address(proc)
    assert proc.stdout is not None
    exports = [proc.stdout.readline().strip() for _ in range(8)]
    app, egress = str(ipaddress_after(address, 1)), str(ipaddress_after(address, 2))
    assert f"export APPMESH_LOCAL_APP_HOST={app}" in exports
    assert "export PORT=8080" in exports
    assert f"export HTTP_PROXY=http://{egress}:15001" in exports


def ipaddress_after(address: str, offset: int) -> object:
    import ipaddress

    return ipaddress.ip_address(address) + offset


def test_nothing_outlives_a_killed_run(server, runs):
    """kill -9 of `run` cannot run its clean-up: the supervisors stop the app and Envoy all the same."""
    client, mesh = server.client(), f"kill-{uuid.uuid4().hex[:6]}"
    client.create_mesh(meshName=mesh)
    client.create_virtual_node(meshName=mesh, virtualNodeName="api", spec=api_spec(8080))
    app = "import os, socket, time; s = socket.create_server((os.environ['APPMESH_LOCAL_APP_HOST'], 8080)); time.sleep(600)"
    proc = runs.start("--mesh", mesh, "--virtual-node", "api", app=[sys.executable, "-c", app])
    address = runs.address(proc)
    wait_until(lambda: any("-c import os" in p for p in _marked_processes(runs.marker)), 10, "the app to start")
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    deadline = time.monotonic() + 15
    while (left := _marked_processes(runs.marker)) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not left, left
    with lease(address):  # and its addresses are free again
        pass


def test_run_refuses_a_proxy_the_server_does_not_know(server, runs):
    proc = runs.start("--mesh", "no-such-mesh", "--virtual-node", "api")
    assert proc.wait(30) == 1
    assert "appmesh-local run: error:" in proc.stderr.read()


def test_run_with_a_server_that_authenticates_its_proxies(tmp_path):
    """serve --xds-auth: run puts the proxy's token (from the key file) in the bootstrap; without it, no config."""
    from appmesh_local.server import AppMeshServer, ServerConfig
    from appmesh_local.testing import InProcessServer

    key = tmp_path / "xds-auth.key"
    config = ServerConfig(
        host="127.0.0.1",
        port=0,
        xds_host="127.0.0.1",
        xds_port=0,
        state_dir=None,
        listener_bind_address="127.0.0.1",
        xds_auth=True,
        xds_auth_key=key,
    )
    app = AppMeshServer(config)
    app.start_background()
    secured = InProcessServer(app)
    runs = Runs(secured, tmp_path)
    try:
        client, mesh = secured.client(), "authenticated"
        client.create_mesh(meshName=mesh)
        client.create_virtual_node(meshName=mesh, virtualNodeName="api", spec=api_spec(8080))
        proc = runs.start("--mesh", mesh, "--virtual-node", "api", "--xds-auth-key", str(key))
        assert runs.address(proc)
        refused = runs.start("--mesh", mesh, "--virtual-node", "api", "--ready-timeout", "3")
        assert refused.wait(30) == 1
        assert "did not become LIVE" in refused.stderr.read()
    finally:
        runs.stop_all()
        secured.stop()
    assert not _marked_processes(runs.marker)
