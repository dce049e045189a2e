"""The colour app as ECS-like tasks: network namespaces, App Mesh iptables, real Envoys, real apps.

One module-scoped `colorapp` builds everything once (a few seconds) and tears all
of it down even when set-up fails half way; `baseline` (per test) puts the mesh back
to the walk-through's shape and waits until every Envoy has ACKed it. docs/e2e.md
explains the model.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import pytest
import requests

from appmesh_local.netns.iptables import Interception
from appmesh_local.netns.task import APP_UID, Bridge, Task
from appmesh_local.proxy.bootstrap import render_bootstrap
from appmesh_local.proxy.process import EnvoyProcess, world_executable
from appmesh_local.server import AppMeshServer, ServerConfig
from appmesh_local.testing import InProcessServer
from appmesh_local.xds.node_id import ProxyRef
from appmesh_local.xds.snapshot import SHORT_TYPE_NAMES, WILDCARD_TYPES
from tests.e2e import colorapp
from tests.e2e.colorapp import GATEWAY_PORT, GRPC_PORT, HTTP_PORT, MESH, TCP_PORT
from tests.support.tasks import require_task_capabilities

ACCOUNT, REGION = "123456789012", "us-east-1"
APPS = Path(__file__).parent / "apps"
EXT_PORT = 9999  # a plain server outside the mesh
ADMIN_PORT = 9901
RECONNECT_BASE_MS = 200  # Envoy's ADS retry back-off: 0.2 s, at most 2 s (App Mesh's agent: 10 s)
# task → (interception app ports or None for no Envoy/iptables, proxy kind or None)
TASKS: dict[str, tuple[tuple[int, ...] | None, str | None]] = {
    "gw": (None, "virtualGateway"),  # a gateway: Envoy without iptables
    "front": ((HTTP_PORT,), "virtualNode"),
    "blue": ((HTTP_PORT,), "virtualNode"),
    "red": ((HTTP_PORT,), "virtualNode"),
    "greeter": ((GRPC_PORT,), "virtualNode"),
    "echo": ((TCP_PORT,), "virtualNode"),
    "ext": (None, None),  # not in the mesh: no Envoy
}
PROXIES = {"gw": "gw", "front": "front", "blue": "blue", "red": "red", "greeter": "greeter", "echo": "echo"}


def app_runtime(workdir: Path) -> tuple[str, dict[str, str]]:
    """A Python the app uid can run, and an environment in which it imports grpcio.

    The test's Python may live under a 0700 /root: then use the system python3 of the
    same minor version, with a world-readable copy of grpcio on PYTHONPATH.
    """
    import grpc

    python = sys.executable
    if not world_executable(Path(python)):
        python = (
            shutil.which(
                f"python{sys.version_info.major}.{sys.version_info.minor}", path="/usr/local/bin:/usr/bin:/bin"
            )
            or ""
        )
        if not python:
            pytest.fail(f"no python{sys.version_info.major}.{sys.version_info.minor} a non-root uid can run")
    site = workdir / "site"
    site.mkdir(parents=True)
    package = Path(grpc.__file__).parent
    shutil.copytree(package, site / "grpc")
    import typing_extensions  # grpcio's one dependency

    shutil.copy2(typing_extensions.__file__, site / "typing_extensions.py")
    for path in [workdir, *site.rglob("*")]:
        path.chmod(path.stat().st_mode | 0o755 if path.is_dir() else path.stat().st_mode | 0o644)
    workdir.chmod(0o755)
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "PYTHONPATH": str(site),
        "PYTHONDONTWRITEBYTECODE": "1",
        "LANG": "C.UTF-8",
    }
    return python, env


@dataclass
class ColorApp:
    """Everything the tests drive: the server, the tasks, their Envoys and the apps' runtime."""

    bridge: Bridge
    state_dir: Path
    python: str
    env: dict[str, str]
    tasks: dict[str, Task] = field(default_factory=dict)
    envoys: dict[str, EnvoyProcess] = field(default_factory=dict)
    server: InProcessServer | None = None
    api_port: int = 0
    xds_port: int = 0

    # ---- server ----------------------------------------------------------------------------
    def start_server(self) -> InProcessServer:
        """appmesh-local in this process: API on loopback, xDS on loopback + the bridge address.

        The tasks' Envoys reach the xDS port at the bridge address; the ports are kept
        so a restarted server comes back where the Envoys look for it.
        """
        config = ServerConfig(
            host="127.0.0.1",
            port=self.api_port,
            xds_host="127.0.0.1",
            xds_port=self.xds_port,
            state_dir=self.state_dir,
            xds_extra_hosts=(self.bridge.address,),
        )
        server = AppMeshServer(config)
        try:
            server.start_background()
        except BaseException:
            server.stop()
            raise
        self.server = InProcessServer(server)
        self.api_port, self.xds_port = self.server.api_port, int(server.xds.port)
        return self.server

    def stop_server(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None

    @property
    def xds(self) -> Any:
        assert self.server is not None, "the server is down"
        return self.server.server.xds

    def client(self) -> Any:
        assert self.server is not None, "the server is down"
        return self.server.client()

    @staticmethod
    def server_client(endpoint: str) -> Any:
        """A boto3 App Mesh client for a server running elsewhere (another process)."""
        import boto3
        from botocore.config import Config

        return boto3.client(
            "appmesh",
            endpoint_url=endpoint,
            region_name=REGION,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            config=Config(retries={"max_attempts": 1}),
        )

    # ---- tasks -----------------------------------------------------------------------------
    def address(self, task: str) -> str:
        return self.tasks[task].address

    def proxy(self, task: str) -> ProxyRef:
        kind = TASKS[task][1]
        assert kind is not None
        return ProxyRef(ACCOUNT, REGION, MESH, kind, PROXIES[task])

    def run(self, task: str, argv: list[str], timeout: float = 30) -> subprocess.CompletedProcess[str]:
        """Run an app command in `task` as the app uid (its traffic goes through the task's Envoy)."""
        return self.tasks[task].run([self.python, *argv], uid=APP_UID, timeout=timeout, env=self.env)

    def run_json(self, task: str, script: str, *args: str) -> dict[str, Any]:
        result = self.run(task, [str(APPS / script), *args])
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)

    def start_app(self, task: str, script: str, *args: str, port: int) -> None:
        with open(self.state_dir.parent / f"{task}-{script}.log", "wb") as log:
            self.tasks[task].popen(
                [self.python, str(APPS / script), *args], env=self.env, stdout=log, stderr=subprocess.STDOUT
            )
        waited = self.tasks[task].run([self.python, str(APPS / "wait_port.py"), str(port)], uid=None, env=self.env)
        if waited.returncode != 0:
            raise RuntimeError(f"{script} {args} did not listen on {port} in task {task}")

    def start_envoy(self, task: str) -> EnvoyProcess:
        proxy = self.proxy(task)
        bootstrap = render_bootstrap(
            MESH,
            proxy.kind,
            proxy.name,
            self.bridge.address,
            self.xds_port,
            admin_port=ADMIN_PORT,
            admin_address=self.address(task),
            account=ACCOUNT,
            region=REGION,
            reconnect_base_ms=RECONNECT_BASE_MS,
        )
        envoy = self.tasks[task].envoy(bootstrap, log_level="warning")
        envoy.start(wait_live=False, timeout=30)
        self.envoys[task] = envoy
        return envoy

    # ---- convergence -----------------------------------------------------------------------
    def wanted_versions(self, task: str) -> dict[str, str]:
        """Per type, the version of the server's current snapshot this proxy must ACK."""
        snapshot = self.xds.cache.get(self.proxy(task))
        assert snapshot is not None, f"the server has no configuration for {task}"
        return {
            SHORT_TYPE_NAMES[t]: ts.version for t, ts in snapshot.types.items() if t in WILDCARD_TYPES or ts.resources
        }

    def acked_versions(self, task: str) -> dict[str, str | None]:
        """Per type, what the live ADS stream of `task`'s proxy has ACKed (from the server's status)."""
        proxy = self.proxy(task)
        for stream in reversed(self.xds.status.streams()):
            if stream.proxy == proxy and stream.known:
                return {short: ts.acked_version for short, ts in stream.types.items()}
        return {}

    def converge(self, timeout: float = 20.0, tasks: tuple[str, ...] = tuple(PROXIES)) -> None:
        """Wait until every Envoy has ACKed the server's current snapshot of its proxy."""
        assert self.xds.reconciler.flush(timeout), "the reconciler did not catch up"

        def done(_: Any) -> bool:
            return all(self.acked_versions(t).get(k) == v for t in tasks for k, v in self.wanted_versions(t).items())

        if not self.xds.status.wait_for(done, timeout):
            detail = {t: {"wanted": self.wanted_versions(t), "acked": self.acked_versions(t)} for t in tasks}
            raise AssertionError(
                f"Envoys did not converge within {timeout}s: {detail}\n"
                f"{json.dumps(self.xds.status_snapshot(), indent=1)[:4000]}"
            )

    # ---- traffic ---------------------------------------------------------------------------
    @property
    def gateway_url(self) -> str:
        return f"http://{self.address('gw')}:{GATEWAY_PORT}"

    def through_gateway(
        self, session: requests.Session, path: str = "/", headers: dict[str, str] | None = None
    ) -> requests.Response:
        """One request from the test (outside every task) to the gateway's task address."""
        return session.get(self.gateway_url + path, headers=headers or {}, timeout=10)

    def colours(self, count: int, headers: dict[str, str] | None = None) -> dict[str, int]:
        """Send `count` requests gateway → front → color.local; count the colours front saw."""
        seen: dict[str, int] = {}
        with requests.Session() as session:
            for _ in range(count):
                response = self.through_gateway(session, "/", headers)
                assert response.status_code == 200, response.text
                reply = response.json()
                key = reply["body"] if reply.get("status") == 200 else f"HTTP {reply.get('status')}"
                seen[key] = seen.get(key, 0) + 1
        return seen

    def teardown(self) -> None:
        for task in self.tasks.values():
            task.down()  # Envoys, apps, namespace, veth, hosts file
        self.envoys.clear()
        self.stop_server()


@pytest.fixture(scope="module")
def e2e_requirements() -> None:
    require_task_capabilities("e2e tests")


@pytest.fixture(scope="module")
def colorapp_tasks(e2e_requirements: None) -> Iterator[ColorApp]:
    """The colour app, running: 7 tasks, 6 Envoys, the apps, and appmesh-local with the mesh."""
    with ExitStack() as stack:
        workdir = Path(tempfile.mkdtemp(prefix="appmesh-e2e-"))
        workdir.chmod(0o755)  # the app uid reads the grpcio copy in here
        stack.callback(shutil.rmtree, workdir, ignore_errors=True)
        python, env = app_runtime(workdir / "runtime")
        bridge = Bridge.free_slot(os.getpid()).up()
        stack.callback(bridge.down)
        state_dir = workdir / "state"
        app = ColorApp(bridge, state_dir, python, env)
        stack.callback(app.teardown)
        slot = bridge.name.removeprefix("aml-br")
        addresses = {name: bridge.host(index) for index, name in enumerate(TASKS, start=1)}
        # Per-task hosts files: every task resolves every name, as a VPC's DNS would.
        hosts = {f"{name}.local": address for name, address in addresses.items()}
        hosts["color.local"] = addresses["blue"]  # a virtual service name only has to resolve
        for name, (ports, _kind) in TASKS.items():
            interception = Interception(app_ports=ports) if ports is not None else None
            task = Task(f"{name[:6]}{slot}", addresses[name], bridge, hosts=hosts, interception=interception)
            app.tasks[name] = task.up()

        app.start_server()
        colorapp.put_baseline(app.client())
        assert app.xds.reconciler.flush(20)

        app.start_app("blue", "http_app.py", "colour", "blue", str(HTTP_PORT), port=HTTP_PORT)
        app.start_app("red", "http_app.py", "colour", "red", str(HTTP_PORT), port=HTTP_PORT)
        app.start_app(
            "front", "http_app.py", "front", str(HTTP_PORT), f"http://color.local:{HTTP_PORT}", port=HTTP_PORT
        )
        app.start_app("greeter", "grpc_app.py", "server", "greeter", str(GRPC_PORT), port=GRPC_PORT)
        app.start_app("echo", "tcp_echo.py", "server", "echo", str(TCP_PORT), port=TCP_PORT)
        app.start_app("ext", "http_app.py", "colour", "outside-the-mesh", str(EXT_PORT), port=EXT_PORT)
        for task in PROXIES:
            app.start_envoy(task)
        for envoy in app.envoys.values():
            envoy.wait_live(30)
        app.converge(30)
        yield app
    assert not bridge.exists(), "the bridge outlived the suite"
    assert not any(Path("/etc/netns", t.netns).exists() for t in app.tasks.values())


@pytest.fixture
def colorapp_baseline(colorapp_tasks: ColorApp) -> ColorApp:
    """The colour app with the walk-through's mesh (re-applied), every Envoy in sync."""
    colorapp.put_baseline(colorapp_tasks.client())
    colorapp_tasks.converge()
    return colorapp_tasks


def artifacts_dir() -> Path:
    """Where e2e tests write their numbers: $APPMESH_E2E_ARTIFACTS, else tests/e2e/artifacts (git-ignored)."""
    path = Path(os.environ.get("APPMESH_E2E_ARTIFACTS") or Path(__file__).parent / "artifacts")
    path.mkdir(parents=True, exist_ok=True)
    return path
