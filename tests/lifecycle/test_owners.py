"""No Envoy and no temporary directory outlive their owner, however the owner stops.

Owners: `appmesh-local envoy`, a script using `serve_in_thread` + `start_envoy`, and a
pytest run using the plugin's `appmesh_envoy`. Ways to stop: SIGTERM, SIGINT, SIGHUP,
an exception, and SIGKILL. Each owner runs with its own TMPDIR, so "no temporary
directory left" is checked exactly (an empty directory), and Envoy is followed by pid
(with its start time: a recycled pid does not count as a survivor). Every Envoy carries a
real configuration (a virtual node whose listeners bind a loopback address of its own).
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Iterator

import psutil
import pytest

from appmesh_local.testing import InProcessServer, serve_in_thread
from tests.support.processes import Seen, random_loopback, survivors

pytestmark = pytest.mark.timeout(120)
STOPS = ["SIGTERM", "SIGINT", "SIGHUP", "exception", "SIGKILL"]
NODE_SPEC = {
    "listeners": [{"portMapping": {"port": 8080, "protocol": "http"}}],
    "serviceDiscovery": {"dns": {"hostname": "app.life.local"}},
}


def owner_env(tmp: Path, **extra: str) -> dict[str, str]:
    tmp.mkdir(exist_ok=True)
    return {**os.environ, "TMPDIR": str(tmp), "PYTHONUNBUFFERED": "1", **extra}


def processes_using(tmp: Path) -> list[Seen]:
    """Every process whose command line names a path under `tmp`: the owner's Envoys and their supervisors."""
    found = []
    for process in psutil.process_iter(["pid", "cmdline"]):
        if any(str(tmp) in part for part in process.info["cmdline"] or ()):
            try:
                found.append(Seen.of(process.info["pid"]))
            except psutil.NoSuchProcess:
                pass
    return found


def assert_nothing_left(tmp: Path, envoy: Seen | None) -> None:
    """Within 15 s: Envoy gone, every process naming `tmp` gone, `tmp` empty."""
    left = survivors([*([envoy] if envoy else []), *processes_using(tmp)], [])
    deadline = time.monotonic() + 10
    while any(tmp.iterdir()) and time.monotonic() < deadline:
        time.sleep(0.05)
    left += [str(path) for path in tmp.iterdir()]
    assert left == [], f"left behind: {left}"


def stop(owner: subprocess.Popen, how: str) -> int:
    """Stop the owner as asked (an exception is the owner's own doing) and return its exit status."""
    if how != "exception":
        owner.send_signal(getattr(signal, how))
    return owner.wait(30)


@pytest.fixture
def owner_tmp(tmp_path: Path) -> Path:
    return tmp_path / "owner-tmp"


# ---- appmesh-local envoy -------------------------------------------------------------------
@pytest.fixture(scope="module")
def mesh_server() -> Iterator[InProcessServer]:
    with serve_in_thread(listener_bind_address=random_loopback()) as server:
        client = server.client()
        client.create_mesh(meshName="life")
        client.create_virtual_node(meshName="life", virtualNodeName="app", spec=NODE_SPEC)
        yield server


def acked_by(server: InProcessServer, name: str) -> bool:
    return any(p["name"] == name and p["types"].get("lds", {}).get("acked_version") for p in server.status()["proxies"])


@pytest.mark.parametrize("how", STOPS)
def test_envoy_command(mesh_server: InProcessServer, owner_tmp: Path, how: str):
    admin_port = 0
    taken = socket.socket()
    if how == "exception":  # Envoy cannot start: its admin port is taken
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        admin_port = taken.getsockname()[1]
    owner = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "appmesh_local",
            "envoy",
            "--mesh",
            "life",
            "--virtual-node",
            "app",
            "--endpoint",
            mesh_server.endpoint,
            "--xds-port",
            str(mesh_server.xds_port),
            "--admin-port",
            str(admin_port),
            "--envoy-log-level",
            "error",
        ],
        stderr=subprocess.PIPE,
        text=True,
        env=owner_env(owner_tmp),
    )
    envoy = None
    try:
        assert owner.stderr is not None
        first = owner.stderr.readline()
        if how == "exception":
            code = owner.wait(30)
            rest = first + owner.stderr.read()
            assert code != 0 and "appmesh-local: envoy: error: Envoy exited" in rest, rest
        else:
            started = re.search(r"envoy \(pid (\d+)\).* files in (\S+)", first)
            assert started, first
            envoy = Seen.of(int(started.group(1)))
            assert Path(started.group(2)).parent == owner_tmp
            deadline = time.monotonic() + 20
            while not acked_by(mesh_server, "app"):
                assert time.monotonic() < deadline, "Envoy never ACKed its listeners"
                time.sleep(0.05)
            code = stop(owner, how)
            assert code == (-signal.SIGKILL if how == "SIGKILL" else 0)
        assert_nothing_left(owner_tmp, envoy)
    finally:
        taken.close()
        if owner.poll() is None:
            owner.kill()
            owner.wait(10)


# ---- serve_in_thread + start_envoy -------------------------------------------------------
SCRIPT = """
import json, sys, time
from appmesh_local.testing import serve_in_thread, start_envoy

how, bind, spec = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
with serve_in_thread(listener_bind_address=bind) as server:
    client = server.client()
    client.create_mesh(meshName="life")
    client.create_virtual_node(meshName="life", virtualNodeName="app", spec=spec)
    envoy = start_envoy(server, "life", virtual_node="app")  # returns once Envoy applied its config
    print(json.dumps({"pid": envoy.pid, "workdir": str(envoy.workdir)}), flush=True)
    # Deliberately no envoy.stop(): code that forgets it, or never gets there, must not leak either.
    if how == "exception":
        raise RuntimeError("the script fails")
    time.sleep(60)
"""


@pytest.mark.parametrize("how", STOPS)
def test_serve_in_thread_script(owner_tmp: Path, how: str):
    owner = subprocess.Popen(
        [sys.executable, "-c", SCRIPT, how, random_loopback(), json.dumps(NODE_SPEC)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=owner_env(owner_tmp),
    )
    try:
        assert owner.stdout is not None
        line = owner.stdout.readline()
        assert line, owner.stderr.read() if owner.stderr else ""
        info = json.loads(line)
        assert Path(info["workdir"]).parent == owner_tmp
        envoy = Seen.of(info["pid"])
        code = stop(owner, how)
        assert code != 0 if how == "exception" else True
        assert_nothing_left(owner_tmp, envoy)
    finally:
        if owner.poll() is None:
            owner.kill()
            owner.wait(10)


# ---- the pytest plugin ---------------------------------------------------------------------
USER_TEST = """
import json, os, time
import pytest
from appmesh_local.testing import serve_in_thread


@pytest.fixture(scope="session")
def appmesh_server():  # the plugin's server, its Envoys' listeners on an address of this run's own
    with serve_in_thread(listener_bind_address=os.environ["LIFE_BIND"]) as server:
        yield server


def test_with_envoy(appmesh_client, appmesh_mesh, appmesh_envoy):
    appmesh_client.create_virtual_node(meshName=appmesh_mesh, virtualNodeName="app", spec=json.loads(os.environ["LIFE_SPEC"]))
    envoy = appmesh_envoy(appmesh_mesh, virtual_node="app")
    with open(os.environ["LIFE_REPORT"], "w") as report:
        json.dump({"pid": envoy.pid, "workdir": str(envoy.workdir)}, report)
    if os.environ["LIFE_HOW"] == "exception":
        raise RuntimeError("the test fails")
    time.sleep(60)
"""


@pytest.mark.parametrize("how", STOPS)
def test_pytest_plugin(tmp_path: Path, owner_tmp: Path, how: str):
    project = tmp_path / "project"
    project.mkdir()
    (project / "test_user.py").write_text(textwrap.dedent(USER_TEST))
    report = tmp_path / "report.json"
    env = owner_env(
        owner_tmp,
        LIFE_BIND=random_loopback(),
        LIFE_SPEC=json.dumps(NODE_SPEC),
        LIFE_REPORT=str(report),
        LIFE_HOW=how,
    )
    owner = subprocess.Popen(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "test_user.py"],
        cwd=project,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    try:
        deadline = time.monotonic() + 60
        while not (report.exists() and report.read_text()):
            assert owner.poll() is None and time.monotonic() < deadline, owner.stdout.read() if owner.stdout else ""
            time.sleep(0.05)
        info = json.loads(report.read_text())
        assert Path(info["workdir"]).parent == owner_tmp
        envoy = Seen.of(info["pid"])
        code = stop(owner, how)
        output = owner.stdout.read() if owner.stdout else ""
        if how == "exception":
            assert code == 1 and "the test fails" in output, output
        assert_nothing_left(owner_tmp, envoy)
    finally:
        if owner.poll() is None:
            owner.kill()
            owner.wait(10)
