"""A gateway lab for applied templates and manifests: real traffic through a real gateway Envoy.

    this test process ──HTTP──▶ gateway task (netns, Envoy of the applied VirtualGateway)
                                   │ routes the mesh's apply made, EDS (Cloud Map) or DNS (hosts file)
                                   ▼
                                 colour backends on bridge addresses (in this process)

appmesh-local runs in this process with xDS on the bridge too; `apply` is the real CLI
(`appmesh_local.cli.main`) against its endpoint. Backends answer with their colour and
count what they receive; Cloud Map instances are registered the way ECS registered
tasks (RegisterInstance with the task family attribute), DNS names resolve through the
gateway task's hosts file. Everything lives in one /28 of 198.51.100.0/24 and goes away.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import threading
from contextlib import ExitStack
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Iterator

import boto3
import pytest
import requests
from botocore.config import Config

from appmesh_local.cli import main as cli_main
from appmesh_local.netns.task import Bridge, Task, sh
from appmesh_local.proxy.bootstrap import render_bootstrap
from appmesh_local.server import AppMeshServer, ServerConfig
from appmesh_local.testing import InProcessServer, MeshEnvoy
from appmesh_local.xds.node_id import ProxyRef
from tests.support.tasks import require_task_capabilities
from tests.support.waiting import wait_until

ACCOUNT, REGION = "123456789012", "us-east-1"
MATERIAL = Path(__file__).parent / "material"
BACKEND_SLOTS = range(3, 11)  # bridge.host(3..10) are backend addresses
ADMIN_PORT = 9901
# DNS names the manifests' VirtualNodes use, resolved in the gateway task (as cluster DNS would).
K8S_HOSTS = (
    "color-white.howto-k8s.svc.cluster.local",
    "color-blue.howto-k8s.svc.cluster.local",
    "color-red.howto-k8s.svc.cluster.local",
)


@dataclass
class Cli:
    """What `appmesh-local ...` printed and returned."""

    code: int
    out: str
    err: str


def run_cli(*argv: str) -> Cli:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli_main(list(argv))
    return Cli(code, out.getvalue(), err.getvalue())


class Backend:
    """An app instance: answers `{"colour": ..., "path": ...}` and counts requests."""

    def __init__(self, colour: str, address: str, port: int) -> None:
        self.colour, self.address, self.port = colour, address, port
        self.paths: list[str] = []
        backend = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:  # noqa: N802
                backend.paths.append(self.path)
                body = json.dumps({"colour": backend.colour, "path": self.path}).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.http = ThreadingHTTPServer((address, port), Handler)
        self.http.daemon_threads = True
        self._thread = threading.Thread(target=self.http.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.http.shutdown()
        self.http.server_close()


@dataclass
class GatewayLab:
    bridge: Bridge
    server: InProcessServer
    task: Task
    backends: list[Backend] = field(default_factory=list)
    envoys: list[MeshEnvoy] = field(default_factory=list)

    @property
    def endpoint(self) -> str:
        return self.server.endpoint

    def apply(self, *argv: str) -> Cli:
        """`appmesh-local <argv> --endpoint <this server>`; fails the test on a non-zero exit."""
        result = run_cli(*argv, "--endpoint", self.endpoint)
        assert result.code == 0, f"{' '.join(argv)} failed:\n{result.out}\n{result.err}"
        return result

    def aws(self, service: str) -> Any:
        return boto3.client(
            service,
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id=ACCOUNT,
            aws_secret_access_key="testing",
            config=Config(retries={"max_attempts": 1}, inject_host_prefix=False),
        )

    def backend(self, colour: str, slot: int, port: int) -> Backend:
        made = Backend(colour, self.bridge.host(BACKEND_SLOTS[slot]), port)
        self.backends.append(made)
        return made

    def register(self, namespace: str, service: str, backend: Backend, **attributes: str) -> None:
        """What ECS did for a task of a service with a Cloud Map registry."""
        sd = self.aws("servicediscovery")
        namespace_id = next(ns["Id"] for ns in sd.list_namespaces()["Namespaces"] if ns["Name"] == namespace)
        service_id = next(
            s["Id"]
            for s in sd.list_services(Filters=[{"Name": "NAMESPACE_ID", "Values": [namespace_id]}])["Services"]
            if s["Name"] == service
        )
        sd.register_instance(
            ServiceId=service_id,
            InstanceId=f"{backend.colour}-{backend.address}",
            Attributes={"AWS_INSTANCE_IPV4": backend.address, "AWS_INSTANCE_PORT": str(backend.port), **attributes},
        )

    def deregister_all(self, namespace: str) -> None:
        """ECS stopping the tasks: instances leave Cloud Map (so the stack's services can go)."""
        sd = self.aws("servicediscovery")
        for ns in sd.list_namespaces()["Namespaces"]:
            if ns["Name"] != namespace:
                continue
            for service in sd.list_services(Filters=[{"Name": "NAMESPACE_ID", "Values": [ns["Id"]]}])["Services"]:
                for instance in sd.list_instances(ServiceId=service["Id"])["Instances"]:
                    sd.deregister_instance(ServiceId=service["Id"], InstanceId=instance["Id"])

    def gateway(self, mesh: str, name: str) -> MeshEnvoy:
        """The gateway's Envoy in the task, started and in sync with the server."""
        bootstrap = render_bootstrap(
            mesh,
            "virtualGateway",
            name,
            self.bridge.address,
            self.server.xds_port,
            admin_port=ADMIN_PORT,
            admin_address=self.task.address,
            account=ACCOUNT,
            region=REGION,
            reconnect_base_ms=200,
        )
        process = self.task.envoy(bootstrap, log_level="warning")
        process.start(wait_live=False, timeout=30)
        envoy = MeshEnvoy(self.server, process, ProxyRef(ACCOUNT, REGION, mesh, "virtualGateway", name))
        self.envoys.append(envoy)
        envoy.wait_synced(30)
        process.wait_live(30)
        return envoy

    def get(self, port: int, path: str, headers: dict[str, str] | None = None) -> dict[str, Any]:
        response = requests.get(f"http://{self.task.address}:{port}{path}", headers=headers or {}, timeout=10)
        assert response.status_code == 200, f"GET {path}: {response.status_code} {response.text[:300]}"
        return response.json()

    def colours(self, port: int, path: str, count: int, headers: dict[str, str] | None = None) -> dict[str, int]:
        """`count` requests through the gateway; how many each colour answered."""
        seen: dict[str, int] = {}
        for _ in range(count):
            colour = self.get(port, path, headers)["colour"]
            seen[colour] = seen.get(colour, 0) + 1
        return seen

    def wait_colours(
        self,
        port: int,
        path: str,
        expected: set[str],
        headers: dict[str, str] | None = None,
        count: int = 30,
        timeout: float = 20,
    ) -> dict[str, int]:
        """Until `count` requests are answered by exactly the colours `expected` (bounded)."""
        last: dict[str, dict[str, int]] = {}

        def check() -> bool:
            try:
                last["seen"] = self.colours(port, path, count, headers)
            except (AssertionError, requests.RequestException):
                return False
            return set(last["seen"]) == expected

        wait_until(check, timeout, f"{path} never answered by exactly {sorted(expected)} (last: {last})", 0.2)
        return last["seen"]

    def sync(self) -> None:
        """Every gateway Envoy has ACKed the server's current configuration."""
        for envoy in self.envoys:
            envoy.wait_synced(30)

    def finish(self) -> None:
        for envoy in self.envoys:
            envoy.stop()
        self.envoys.clear()
        for backend in self.backends:
            backend.close()
        self.backends.clear()


@pytest.fixture(scope="module")
def gateway_lab() -> Iterator[GatewayLab]:
    require_task_capabilities("apply traffic tests")
    with ExitStack() as stack:
        bridge = Bridge.free_slot(os.getpid() + 11).up()
        stack.callback(bridge.down)
        for slot in BACKEND_SLOTS:
            address = bridge.host(slot)
            sh("ip", "addr", "add", f"{address}/{bridge.prefixlen}", "dev", bridge.name)
            stack.callback(sh, "ip", "addr", "del", f"{address}/{bridge.prefixlen}", "dev", bridge.name, check=False)
        server = AppMeshServer(ServerConfig(host="127.0.0.1", port=0, xds_host="127.0.0.1", xds_port=0, state_dir=None))
        server.xds.extra_hosts = (bridge.address,)  # the task's Envoy reaches xDS on the bridge
        server.xds.reconciler.bind_address = "0.0.0.0"  # the Envoy is alone in its namespace
        server.start_background()
        running = InProcessServer(server)
        stack.callback(running.stop)
        slot = bridge.name.removeprefix("aml-br")
        # The gateway task resolves the manifests' cluster DNS names to the first three backend slots.
        hosts = {name: bridge.host(BACKEND_SLOTS[index]) for index, name in enumerate(K8S_HOSTS)}
        task = Task(f"ag{slot}", bridge.host(1), bridge, hosts=hosts).up()
        stack.callback(task.down)
        lab = GatewayLab(bridge, running, task)
        yield lab
    assert not bridge.exists(), "the bridge outlived the apply suite"


@pytest.fixture
def lab(gateway_lab: GatewayLab) -> Iterator[GatewayLab]:
    yield gateway_lab
    gateway_lab.finish()
