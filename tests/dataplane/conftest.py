"""A lab for App Mesh's data plane as its users knew it: real Envoys in ECS-like tasks, real traffic.

    tasks (network namespaces with App Mesh's iptables; Envoy as uid 1337, apps as uid 1001)
      ──bridge (one /28 of 198.51.100.0/24)──▶ receivers in this process on bridge addresses:
         HTTP/TCP/TLS servers outside the mesh, DogStatsD and X-Ray UDP, a Zipkin collector

- appmesh-local runs in this process; the Envoys reach its xDS on the bridge address, its Cloud
  Map (moto behind the API port) feeds EDS. Each Envoy is bootstrapped from an App Mesh image
  environment block (`environment=`), through the same code as `appmesh-local envoy` and `task`.
- Addresses: bridge.host(1..9) are tasks, bridge.host(10..13) "outside" servers in this process.
Everything is removed at the end of the test (tasks, Envoys, servers) or of the package (bridge).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import uuid
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Mapping

import boto3
import pytest
from botocore.config import Config

from appmesh_local.netns.iptables import Interception
from appmesh_local.netns.task import APP_UID, Bridge, Task, sh
from appmesh_local.proxy.bootstrap import render_bootstrap
from appmesh_local.proxy.image_env import ImageEnv
from appmesh_local.server import AppMeshServer, ServerConfig
from appmesh_local.testing import InProcessServer, MeshEnvoy, delete_mesh_tree
from appmesh_local.xds.node_id import ProxyRef
from tests.support.tasks import WAIT_PORT, app_python, require_task_capabilities

ACCOUNT, REGION = "123456789012", "us-east-1"
APP = Path(__file__).parent / "apps" / "dp_app.py"
OUTSIDE = range(10, 14)  # bridge.host(10..13): servers in this process
ADMIN_PORT = 9901


@dataclass
class Lab:
    bridge: Bridge
    workdir: Path
    python: str
    server: InProcessServer
    clients: dict[str, Any] = field(default_factory=dict)

    def address(self, index: int) -> str:
        return self.bridge.host(index)

    def aws(self, service: str) -> Any:
        if service not in self.clients:
            self.clients[service] = boto3.client(
                service,
                endpoint_url=self.server.endpoint,
                region_name=REGION,
                aws_access_key_id=ACCOUNT,
                aws_secret_access_key="testing",
                config=Config(retries={"max_attempts": 1}, inject_host_prefix=False),
            )
        return self.clients[service]


@dataclass
class Scenario:
    """One test's mesh, tasks, Envoys and servers; all closed after the test."""

    lab: Lab
    mesh: str
    stack: ExitStack

    @property
    def appmesh(self) -> Any:
        return self.lab.aws("appmesh")

    def task(
        self,
        index: int,
        *,
        app_ports: tuple[int, ...] = (),
        intercept: bool = True,
        hosts: Mapping[str, str] | None = None,
    ) -> Task:
        """A task at bridge.host(index): App Mesh's iptables unless `intercept` is False (a gateway)."""
        slot = self.lab.bridge.name.removeprefix("aml-br")
        interception = Interception(app_ports=app_ports) if intercept else None
        task = Task(
            f"d{slot}t{index}", self.lab.address(index), self.lab.bridge, hosts=hosts, interception=interception
        )
        self.stack.callback(task.down)
        return task.up()

    def envoy(
        self,
        task: Task,
        name: str,
        kind: str = "virtualNode",
        environment: Mapping[str, str] | None = None,
        admin_address: str = "0.0.0.0",
    ) -> MeshEnvoy:
        """The Envoy of `name` in `task`, bootstrapped from an App Mesh image environment block, in sync."""
        image = ImageEnv.from_environ(environment or {})
        bootstrap = render_bootstrap(
            self.mesh,
            kind,
            name,
            self.lab.bridge.address,
            self.lab.server.xds_port,
            admin_address=admin_address,  # inside the task's namespace, as App Mesh's 0.0.0.0:9901
            account=ACCOUNT,
            region=REGION,
            reconnect_base_ms=200,
            image=image,
        )
        process = task.envoy(bootstrap, log_level=image.log_level or "warning")
        process.start(wait_live=False, timeout=30)
        self.stack.callback(process.stop)
        envoy = MeshEnvoy(self.lab.server, process, ProxyRef(ACCOUNT, REGION, self.mesh, kind, name))
        envoy.wait_synced(30)
        process.wait_live(30)
        return envoy

    def app(self, task: Task, *args: str, timeout: float = 60) -> Any:
        """Run dp_app.py in `task` as the app uid and return what it printed (JSON)."""
        result = task.run([self.lab.python, str(APP), *args], uid=APP_UID, timeout=timeout)
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)

    def serve(self, task: Task, *args: str, port: int, host: str = "127.0.0.1") -> None:
        """Start a long-running dp_app.py mode in `task` (as the app uid) and wait for its port."""
        log = open(self.lab.workdir / f"{task.name}-{port}.log", "wb")
        self.stack.callback(log.close)
        task.popen([self.lab.python, str(APP), *args], stdout=log, stderr=subprocess.STDOUT)
        probe = WAIT_PORT.replace('"127.0.0.1"', repr(host))
        result = task.run([self.lab.python, "-c", probe, str(port)], uid=APP_UID, timeout=30)
        assert result.returncode == 0, f"app on {host}:{port} in {task.name} did not start"

    def close(self, closer: Any) -> Any:
        """Register something with a close() to be closed after the test; returns it."""
        self.stack.callback(closer.close)
        return closer


@pytest.fixture(scope="package")
def lab() -> Iterator[Lab]:
    require_task_capabilities("data-plane tests")
    with ExitStack() as stack:
        workdir = Path(tempfile.mkdtemp(prefix="appmesh-dataplane-"))
        workdir.chmod(0o777)  # Envoys (uid 1337) and apps (uid 1001) write here
        stack.callback(shutil.rmtree, workdir, ignore_errors=True)
        bridge = Bridge.free_slot(os.getpid() + 11).up()
        stack.callback(bridge.down)
        for index in OUTSIDE:
            address = f"{bridge.host(index)}/{bridge.prefixlen}"
            sh("ip", "addr", "add", address, "dev", bridge.name)
            stack.callback(sh, "ip", "addr", "del", address, "dev", bridge.name, check=False)
        server = AppMeshServer(ServerConfig(host="127.0.0.1", port=0, xds_host="127.0.0.1", xds_port=0, state_dir=None))
        server.xds.extra_hosts = (bridge.address,)  # the tasks' Envoys reach xDS on the bridge
        server.xds.reconciler.bind_address = "0.0.0.0"  # each Envoy is alone in its namespace
        server.start_background()
        running = InProcessServer(server)
        stack.callback(running.stop)
        made = Lab(bridge, workdir, app_python(), running)
        stack.callback(lambda: [client.close() for client in made.clients.values()])
        yield made
    assert not bridge.exists(), "the bridge outlived the data-plane suite"


@pytest.fixture
def scenario(lab: Lab) -> Iterator[Scenario]:
    with ExitStack() as stack:
        made = Scenario(lab, mesh=f"d{uuid.uuid4().hex[:6]}", stack=stack)
        lab.aws("appmesh").create_mesh(meshName=made.mesh)
        stack.callback(delete_mesh_tree, lab.aws("appmesh"), made.mesh)  # runs after the Envoys stop
        yield made
