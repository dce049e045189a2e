"""`appmesh-local task` and the xDS unix socket it relies on.

host ──198.51.100.1 (aml-br0)──▶ task 198.51.100.10: PREROUTING nat ──▶ Envoy :15000 (uid 1337) ──▶ app :8080 (uid 1001)
                                  Envoy ──unix socket──▶ in-process server's xDS
"""

from __future__ import annotations

import json
import os
import queue
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest

from appmesh_local.cli import main
from appmesh_local.netns import ownership
from appmesh_local.netns.command import BRIDGE_NAME, TaskCommandError, parse_hosts, socket_refuses_envoy
from appmesh_local.netns.task import ENVOY_UID
from appmesh_local.proxy.bootstrap import XDS_CLUSTER, render_bootstrap
from appmesh_local.proxy.private import private_dir
from appmesh_local.proxy.process import EnvoyProcess, envoy_binary
from appmesh_local.server import AppMeshServer, ServerConfig
from appmesh_local.testing import InProcessServer, delete_mesh_tree
from tests.support.processes import Seen, survivors
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
def socket_server(
    listener_bind_address: str, xds_auth_key: Path | None = None
) -> Iterator[tuple[InProcessServer, Path]]:
    """An in-process appmesh-local whose xDS also listens on a unix socket in a fresh 0755 directory
    (authenticating its proxies with tokens from `xds_auth_key` when given)."""
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
        xds_socket_group=ENVOY_UID,  # the task's Envoy runs as uid and gid 1337
        xds_auth=xds_auth_key is not None,
        xds_auth_key=xds_auth_key,
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
        assert socket_path.is_socket() and socket_path.stat().st_mode & 0o777 == 0o660  # never world-writable
        assert socket_path.stat().st_gid == ENVOY_UID
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


def test_task_says_when_its_envoy_may_not_use_the_socket(tmp_path):
    """A 0600 socket of another user is refused up front, naming the serve option that fixes it."""
    import socket

    path = tmp_path / "xds.sock"
    with socket.socket(socket.AF_UNIX) as listener:
        listener.bind(str(path))
        path.chmod(0o600)
        refused = socket_refuses_envoy(str(path))
        assert refused is not None and "--xds-socket-group 1337" in refused and "0600" in refused
        if os.geteuid() == 0:
            os.chown(path, -1, ENVOY_UID)
        path.chmod(0o660)
        assert (socket_refuses_envoy(str(path)) is None) == (os.geteuid() == 0)
    assert socket_refuses_envoy(str(tmp_path / "missing")) is None  # not there yet: Envoy waits


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


@dataclass
class RunningTask:
    """A `python -m appmesh_local task` child process, up, with what it reported."""

    proc: subprocess.Popen
    name: str
    address: str
    output: list[str]
    envoy: Seen
    app: Seen
    workdir: Path
    lines: queue.Queue[str]

    def rest(self, timeout: float = 10) -> str:
        """Everything the command printed after its "up" line, up to its exit."""
        self.proc.wait(timeout)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                self.output.append(self.lines.get(timeout=0.2))
            except queue.Empty:
                if self.proc.stdout is None or self.proc.stdout.closed or self.proc.poll() is not None:
                    break
        return "".join(self.output)


def start_task(
    server: InProcessServer,
    socket_path: Path,
    name: str,
    address: str,
    *app: str,
    xds_auth_key: Path | None = None,
    image_env: dict[str, str] | None = None,
) -> RunningTask:
    """Start the task command (virtual node `color` of mesh `taskcmd`) and wait for its "up" line.

    With `image_env`, the node comes from APPMESH_RESOURCE_ARN in the command's own environment (as a
    task definition sets it) and each of `image_env` is passed with -e, instead of --mesh/--virtual-node."""
    node = (
        ["--mesh", "taskcmd", "--virtual-node", "color"]
        if image_env is None
        else [arg for key, value in image_env.items() for arg in ("-e", f"{key}={value}")]
    )
    environment = (
        None if image_env is None else {**os.environ, "APPMESH_RESOURCE_ARN": "mesh/taskcmd/virtualNode/color"}
    )
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "appmesh_local",
            "task",
            *node,
            "--address",
            address,
            "--app-port",
            "8080",
            "--xds-socket",
            str(socket_path),
            "--endpoint",
            server.endpoint,
            "--strict",
            "--name",
            name,
            "--envoy-log-level",
            "warning",
            *(["--xds-auth-key", str(xds_auth_key)] if xds_auth_key else []),
            "--",
            *(app or (app_python(), "-c", APP_SERVER, "8080")),
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=environment,
    )
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in proc.stdout or ()], daemon=True).start()
    output: list[str] = []
    deadline = time.monotonic() + 60
    while not any(" up: " in line for line in output):
        if time.monotonic() > deadline or proc.poll() is not None:
            while not lines.empty():
                output.append(lines.get())
            kill_task(proc, name)
            pytest.fail("the task did not come up:\n" + "".join(output))
        try:
            output.append(lines.get(timeout=0.5))
        except queue.Empty:
            pass
    try:
        pids = re.search(r"pids: Envoy (\d+), app (\d+); Envoy's files in (\S+);", output[-1])
        assert pids, output[-1]
        return RunningTask(
            proc, name, address, output, Seen.of(int(pids[1])), Seen.of(int(pids[2])), Path(pids[3]), lines
        )
    except BaseException:
        kill_task(proc, name)
        raise


def kill_task(proc: subprocess.Popen, name: str) -> None:
    """Last-resort clean-up when a test failed half-way (the command is killed: nothing of it may run on)."""
    if proc.poll() is None:
        proc.kill()
        proc.wait(10)
    subprocess.run(["ip", "netns", "del", f"aml-{name}"], capture_output=True)
    shutil.rmtree(f"/etc/netns/aml-{name}", ignore_errors=True)


def task_leftovers(task: RunningTask) -> list[str]:
    """What of the task still exists (empty once everything is gone)."""
    left = survivors([task.envoy, task.app], [task.workdir, Path(f"/etc/netns/aml-{task.name}")])
    left += [f"namespace aml-{task.name}"] if netns_exists(f"aml-{task.name}") else []
    left += [f"veth aml-{task.name}-h"] if link_exists(f"aml-{task.name}-h") else []
    left += [f"record of aml-{task.name}"] if ownership.read_record(f"aml-{task.name}") else []
    return left


def get_with_retries(url: str, output: list[str]) -> tuple[int, dict, bytes]:
    for _ in range(100):
        try:
            return get(url)
        except OSError:
            time.sleep(0.1)
    pytest.fail(f"{url} never answered:\n" + "".join(output))


@pytest.fixture
def color_server(task_requirements) -> Iterator[tuple[InProcessServer, Path]]:
    """The in-process server (xDS on a unix socket) with mesh `taskcmd` and its virtual node `color`."""
    with color_mesh_server() as running:
        yield running


@contextmanager
def color_mesh_server(xds_auth_key: Path | None = None) -> Iterator[tuple[InProcessServer, Path]]:
    with socket_server("0.0.0.0", xds_auth_key) as (server, socket_path):  # 0.0.0.0 inside the task's namespace
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
        yield server, socket_path
        delete_mesh_tree(appmesh, "taskcmd")


def bridge_stays() -> bool:
    """Whether aml-br0 must still exist after the test: it does now and is not a dead task's leftover
    (those are reclaimed by the next task start)."""
    if not link_exists(BRIDGE_NAME):
        return False
    record = ownership.read_record(BRIDGE_NAME)
    return record is None or not ownership.is_orphaned(record)


def fresh_name(prefix: str) -> str:
    name = f"{prefix}{os.getpid() % 100000}"
    if netns_exists(f"aml-{name}") or link_exists(f"aml-{name}-h"):
        pytest.skip(f"aml-{name} exists already")
    return name


def test_task_command_carries_traffic_through_envoy_and_cleans_up(color_server):
    server, socket_path = color_server
    name = fresh_name("tc")
    bridge_existed = bridge_stays()
    # The sidecar's App Mesh variables: the node from APPMESH_RESOURCE_ARN, the admin port from -e.
    task = start_task(server, socket_path, name, TASK_ADDRESS, image_env={"ENVOY_ADMIN_ACCESS_PORT": "9911"})
    try:
        assert f"at {TASK_ADDRESS}" in task.output[-1] and f"http://{TASK_ADDRESS}:9911" in task.output[-1]
        assert netns_exists(f"aml-{name}") and link_exists(BRIDGE_NAME)
        assert task.workdir.parent == private_dir() and task.workdir.stat().st_uid == 1337

        # From the host, through the bridge, to the app port: PREROUTING sends it to Envoy's 15000.
        status, headers, body = get_with_retries(f"http://{TASK_ADDRESS}:8080/hello", task.output)
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

        task.proc.send_signal(signal.SIGTERM)
        assert task.proc.wait(30) == 0
    finally:
        kill_task(task.proc, name)
    assert task_leftovers(task) == []
    assert link_exists(BRIDGE_NAME) == bridge_existed  # removed only if the command created it


def test_task_envoy_authenticates_with_its_token_when_the_server_asks(task_requirements, tmp_path):
    """serve --xds-auth: the task mints its proxy's token into Envoy's bootstrap, and traffic flows."""
    key = tmp_path / "xds-auth.key"
    with color_mesh_server(key) as (server, socket_path):
        name = fresh_name("ta")
        task = start_task(server, socket_path, name, TASK_ADDRESS, xds_auth_key=key)
        try:
            status, headers, _ = get_with_retries(f"http://{TASK_ADDRESS}:8080/auth", task.output)
            assert status == 200 and "x-envoy-upstream-service-time" in headers
            assert [p["name"] for p in server.status()["proxies"]] == ["color"]
            assert server.status()["refused"] == []
            task.proc.send_signal(signal.SIGTERM)
            assert task.proc.wait(30) == 0
        finally:
            kill_task(task.proc, name)
    assert task_leftovers(task) == []


@pytest.mark.parametrize(("how", "address"), [("SIGINT", "198.51.100.11"), ("SIGHUP", "198.51.100.12")])
def test_task_command_stops_cleanly_on_sigint_and_sighup(color_server, how, address):
    server, socket_path = color_server
    name = fresh_name("ts" + how[3].lower())
    task = start_task(server, socket_path, name, address)
    try:
        task.proc.send_signal(getattr(signal, how))
        assert task.proc.wait(30) == 0
    finally:
        kill_task(task.proc, name)
    assert task_leftovers(task) == []


def test_task_command_ends_with_its_app_and_cleans_up(color_server):
    server, socket_path = color_server
    name = fresh_name("te")
    task = start_task(
        server,
        socket_path,
        name,
        "198.51.100.14",
        app_python(),
        "-c",
        "import time; time.sleep(1); raise SystemExit(3)",
    )
    try:
        assert task.proc.wait(30) == 3  # the app's exit status is the command's
    finally:
        kill_task(task.proc, name)
    assert task_leftovers(task) == []


def test_task_command_cleans_up_when_its_envoy_dies(color_server):
    """The command's error path (an exception inside it): Envoy killed under it."""
    server, socket_path = color_server
    name = fresh_name("tv")
    task = start_task(server, socket_path, name, "198.51.100.15")
    try:
        os.kill(task.envoy.pid, signal.SIGKILL)
        assert task.proc.wait(30) == 1
        assert f"appmesh-local: Envoy of task {name} exited" in task.rest()
    finally:
        kill_task(task.proc, name)
    assert task_leftovers(task) == []


def test_sigkilled_task_can_be_started_again_at_once(color_server):
    server, socket_path = color_server
    name = fresh_name("tk")
    bridge_existed = bridge_stays()
    first = start_task(server, socket_path, name, "198.51.100.13")
    try:
        first.proc.kill()
        first.proc.wait(10)
        # The supervisors stop Envoy and the app at once and remove Envoy's files; the kernel keeps
        # the namespace, its NAT rules, the veth and the hosts file until the next start reclaims them.
        assert survivors([first.envoy, first.app], [first.workdir]) == []
        assert netns_exists(f"aml-{name}") and ownership.read_record(f"aml-{name}") is not None
    finally:
        if first.proc.poll() is None:
            kill_task(first.proc, name)
    started = time.monotonic()
    second = start_task(server, socket_path, name, "198.51.100.13")
    try:
        took = time.monotonic() - started
        assert any(f"reclaimed task namespace aml-{name}" in line for line in second.output), second.output
        assert took < 30
        status, headers, _ = get_with_retries("http://198.51.100.13:8080/again", second.output)
        assert status == 200 and "x-envoy-upstream-service-time" in headers
        second.proc.send_signal(signal.SIGTERM)
        assert second.proc.wait(30) == 0
    finally:
        kill_task(second.proc, name)
    assert task_leftovers(second) == [] and task_leftovers(first) == []
    assert link_exists(BRIDGE_NAME) == bridge_existed
