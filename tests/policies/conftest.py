"""A small lab for proving App Mesh's resilience knobs with real traffic through real Envoys.

    client task (netns, App Mesh iptables)          root namespace (this test process)
      load.py (app uid) ─▶ Envoy :15001 ─EDS──────▶ Backend apps on bridge addresses :8080
                                          └───────▶ server task (netns, iptables)
                                                     Envoy :15000 ─▶ slow_app.py :8080

- appmesh-local runs in this process (API on loopback, xDS also on the bridge address);
  Cloud Map is its own (moto behind the API port), so instances registered with boto3
  become the EDS endpoints of the client's egress clusters.
- Backends are in-process HTTP servers on extra addresses of the bridge, each counting
  the attempts it receives (the tests' ground truth) and answering as its behaviour says.
- The server task runs a virtual node's Envoy with its ingress listener, for the knobs
  App Mesh applied on the server side (connection pool, listener timeout, ingress logs);
  the gRPC task does the same with a gRPC app (apps/grpc_app.py), for HTTP/2 connection pools.
Everything lives in one /28 of 198.51.100.0/24 (TEST-NET-2) and is removed at the end.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from contextlib import ExitStack
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable, Iterator

import boto3
import pytest
from botocore.config import Config

from appmesh_local.netns.iptables import Interception
from appmesh_local.netns.task import APP_UID, Bridge, Task, sh
from appmesh_local.proxy.bootstrap import render_bootstrap
from appmesh_local.server import AppMeshServer, ServerConfig
from appmesh_local.testing import InProcessServer, MeshEnvoy, delete_mesh_tree
from appmesh_local.xds.node_id import ProxyRef
from tests.support.tasks import app_python, require_task_capabilities
from tests.support.waiting import wait_until

ACCOUNT, REGION = "123456789012", "us-east-1"
APP_PORT = 8080  # every target node's listener port: EDS endpoints use it
CONTROL_PORT = 9000  # slow_app.py's counter, not an app port (so not intercepted)
ADMIN_PORT = 9901
HEALTH_PATH = "/health"
APPS = Path(__file__).parent / "apps"
BACKEND_SLOTS = range(3, 11)  # bridge.host(3..10) are backend addresses
Behaviour = Callable[[int], tuple[int, float]]  # attempt number (1-based) → (status, delay in s)


def ok(_: int) -> tuple[int, float]:
    return 200, 0.0


class Backend:
    """An app instance outside any Envoy: answers per `behaviour`, counts every attempt."""

    def __init__(self, name: str, address: str, behaviour: Behaviour = ok, port: int = APP_PORT) -> None:
        self.name, self.address, self.behaviour, self.port = name, address, behaviour, port
        self.healthy = True  # what HEALTH_PATH answers (200 / 503)
        self.passes: set[str] = set()  # other paths under HEALTH_PATH/ that answer 200 (the rest 503)
        self.attempts: list[dict[str, Any]] = []  # non-health requests, in arrival order
        self.health_checks = 0
        self._lock = threading.Lock()
        backend = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:  # noqa: N802
                if self.path == HEALTH_PATH or self.path.startswith(HEALTH_PATH + "/"):
                    with backend._lock:
                        backend.health_checks += 1
                    passes = backend.healthy if self.path == HEALTH_PATH else self.path in backend.passes
                    self._answer(200 if passes else 503)
                    return
                with backend._lock:
                    backend.attempts.append(
                        {
                            "path": self.path,
                            "at": time.monotonic(),
                            "headers": {k.lower(): v for k, v in self.headers.items()},
                        }
                    )
                    number = len(backend.attempts)
                status, delay = backend.behaviour(number)
                if delay:
                    time.sleep(delay)
                self._answer(status)

            def _answer(self, status: int) -> None:
                body = json.dumps({"backend": backend.name}).encode()
                try:
                    self.send_response(status)
                    self.send_header("content-length", str(len(body)))
                    self.send_header("x-backend", backend.name)
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:  # Envoy gave up on this attempt (timeout) and closed
                    pass

            def log_message(self, *args: Any) -> None:
                pass

        self.http = ThreadingHTTPServer((address, port), Handler)
        self.http.daemon_threads = True
        self._thread = threading.Thread(target=self.http.serve_forever, daemon=True)
        self._thread.start()

    @property
    def count(self) -> int:
        return len(self.attempts)

    def close(self) -> None:
        self.http.shutdown()
        self.http.server_close()


@dataclass
class PolicyLab:
    bridge: Bridge
    workdir: Path
    python: str
    server: InProcessServer | None = None
    client_task: Task | None = None
    server_task: Task | None = None
    grpc_task: Task | None = None
    clients: dict[str, Any] = field(default_factory=dict)

    # ---- addresses -------------------------------------------------------------------------
    @property
    def service_address(self) -> str:
        """Where the client app "connects": any non-local address; iptables hands it to Envoy."""
        return self.bridge.host(12)

    def backend_address(self, index: int) -> str:
        return self.bridge.host(BACKEND_SLOTS[index])

    # ---- API clients -----------------------------------------------------------------------
    def aws(self, service: str) -> Any:
        if service not in self.clients:
            assert self.server is not None
            self.clients[service] = boto3.client(
                service,
                endpoint_url=self.server.endpoint,
                region_name=REGION,
                aws_access_key_id=ACCOUNT,
                aws_secret_access_key="testing",
                config=Config(retries={"max_attempts": 1}, inject_host_prefix=False),
            )
        return self.clients[service]

    # ---- Cloud Map -------------------------------------------------------------------------
    def cloud_map_service(self, namespace: str, service: str, **options: Any) -> str:
        """Create an HTTP namespace and a service in it (CreateService `options`); return the service id."""
        sd = self.aws("servicediscovery")
        sd.create_http_namespace(Name=namespace)
        namespace_id = next(ns["Id"] for ns in sd.list_namespaces()["Namespaces"] if ns["Name"] == namespace)
        return sd.create_service(Name=service, NamespaceId=namespace_id, **options)["Service"]["Id"]

    def register(
        self, service_id: str, backend: Backend | str, instance_id: str | None = None, **attributes: str
    ) -> str:
        address = backend.address if isinstance(backend, Backend) else backend
        instance_id = instance_id or (backend.name if isinstance(backend, Backend) else address)
        self.aws("servicediscovery").register_instance(
            ServiceId=service_id, InstanceId=instance_id, Attributes={"AWS_INSTANCE_IPV4": address, **attributes}
        )
        return instance_id

    def deregister(self, service_id: str, instance_id: str) -> None:
        self.aws("servicediscovery").deregister_instance(ServiceId=service_id, InstanceId=instance_id)

    # ---- Envoys ----------------------------------------------------------------------------
    def start_envoy(self, task: Task, mesh: str, node: str, kind: str = "virtualNode") -> MeshEnvoy:
        """The Envoy of virtual node (or gateway) `node` in `task`, started and in sync with the server."""
        assert self.server is not None
        bootstrap = render_bootstrap(
            mesh,
            kind,
            node,
            self.bridge.address,
            self.server.xds_port,
            admin_port=ADMIN_PORT,
            admin_address=task.address,
            account=ACCOUNT,
            region=REGION,
            reconnect_base_ms=200,
        )
        process = task.envoy(bootstrap, log_level="warning")
        process.start(wait_live=False, timeout=30)
        envoy = MeshEnvoy(self.server, process, ProxyRef(ACCOUNT, REGION, mesh, kind, node))
        try:
            envoy.wait_synced(30)
            process.wait_live(30)
        except BaseException:
            process.stop()
            raise
        return envoy

    def hosts(self, envoy: MeshEnvoy, cluster: str) -> dict[str, dict[str, Any]]:
        """Envoy's view of `cluster`'s hosts: address → health flags (admin /clusters)."""
        data = json.loads(envoy.admin_get("/clusters?format=json"))
        for status in data.get("cluster_statuses", []):
            if status["name"] == cluster:
                return {
                    host["address"]["socket_address"]["address"]: host.get("health_status", {})
                    for host in status.get("host_statuses", [])
                }
        return {}

    def wait_hosts(self, envoy: MeshEnvoy, cluster: str, addresses: set[str], timeout: float = 15) -> None:
        """Wait until Envoy's `cluster` holds exactly `addresses` (EDS applied)."""
        wait_until(
            lambda: set(self.hosts(envoy, cluster)) == addresses,
            timeout,
            f"{cluster} did not get hosts {sorted(addresses)} (has {sorted(self.hosts(envoy, cluster))})",
        )

    # ---- traffic ---------------------------------------------------------------------------
    def load(
        self,
        host: str,
        count: int,
        *,
        path: str = "/",
        concurrency: int = 1,
        timeout: float = 10,
        headers: dict[str, str] | None = None,
    ) -> list[dict[str, Any]]:
        """`count` requests from the client task's app (uid 1001) to `host` (Host header), bounded."""
        assert self.client_task is not None
        plan = {
            "url": f"http://{self.service_address}:{APP_PORT}{path}",
            "host": host,
            "count": count,
            "concurrency": concurrency,
            "timeout": timeout,
            "headers": headers or {},
        }
        budget = timeout * (count / max(1, concurrency) + 1) + 10
        result = self.client_task.run(
            [self.python, str(APPS / "load.py"), json.dumps(plan)], uid=APP_UID, timeout=budget
        )
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)

    def to_server_task(
        self, path: str, count: int = 1, concurrency: int = 1, timeout: float = 10
    ) -> list[dict[str, Any]]:
        """`count` requests from this process to the server task's app port: its iptables hand
        them to the task Envoy's ingress listener (15000), which calls slow_app.py."""
        assert self.server_task is not None
        results: list[dict[str, Any]] = [{} for _ in range(count)]

        def one(index: int) -> None:
            started = time.monotonic()
            entry: dict[str, Any] = {"status": 0, "headers": {}, "body": None}
            try:
                connection = http.client.HTTPConnection(self.server_task.address, APP_PORT, timeout=timeout)
                connection.request("GET", path, headers={"Connection": "close"})
                response = connection.getresponse()
                body = response.read()
                entry.update(status=response.status, headers={k.lower(): v for k, v in response.getheaders()})
                try:
                    entry["body"] = json.loads(body)
                except ValueError:
                    entry["body"] = body.decode(errors="replace")
                connection.close()
            except OSError as exc:
                entry["error"] = repr(exc)
            entry["elapsed"] = time.monotonic() - started
            results[index] = entry

        for start in range(0, count, concurrency):
            threads = [threading.Thread(target=one, args=(i,)) for i in range(start, min(count, start + concurrency))]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout + 5)
        return results

    def server_app_count(self, reset: bool = False) -> int:
        assert self.server_task is not None
        url = f"http://{self.server_task.address}:{CONTROL_PORT}/"
        if reset:
            urllib.request.urlopen(urllib.request.Request(url, method="POST", data=b""), timeout=5).close()
            return 0
        with urllib.request.urlopen(url, timeout=5) as response:
            return int(json.loads(response.read())["count"])


@pytest.fixture(scope="package")
def lab() -> Iterator[PolicyLab]:
    """Bridge, server, client task and server task (with slow_app.py), shared by tests/policies."""
    require_task_capabilities("policy tests")
    with ExitStack() as stack:
        workdir = Path(tempfile.mkdtemp(prefix="appmesh-policies-"))
        workdir.chmod(0o777)  # Envoys (uid 1337) write access logs in here
        stack.callback(shutil.rmtree, workdir, ignore_errors=True)
        bridge = Bridge.free_slot(os.getpid() + 7).up()
        stack.callback(bridge.down)
        lab = PolicyLab(bridge, workdir, app_python())
        for index in range(len(BACKEND_SLOTS)):
            address = lab.backend_address(index)
            sh("ip", "addr", "add", f"{address}/{bridge.prefixlen}", "dev", bridge.name)
            stack.callback(sh, "ip", "addr", "del", f"{address}/{bridge.prefixlen}", "dev", bridge.name, check=False)

        server = AppMeshServer(ServerConfig(host="127.0.0.1", port=0, xds_host="127.0.0.1", xds_port=0, state_dir=None))
        server.xds.extra_hosts = (bridge.address,)  # the tasks' Envoys reach xDS on the bridge
        server.xds.reconciler.bind_address = "0.0.0.0"  # each Envoy is alone in its namespace
        server.start_background()
        lab.server = InProcessServer(server)
        stack.callback(lab.server.stop)
        stack.callback(lambda: [client.close() for client in lab.clients.values()])

        slot = bridge.name.removeprefix("aml-br")
        lab.client_task = Task(f"pc{slot}", bridge.host(1), bridge, interception=Interception()).up()
        stack.callback(lab.client_task.down)
        lab.server_task = Task(
            f"ps{slot}", bridge.host(2), bridge, interception=Interception(app_ports=(APP_PORT,))
        ).up()
        stack.callback(lab.server_task.down)
        log = open(workdir / "slow_app.log", "wb")
        stack.callback(log.close)
        lab.server_task.popen(
            [lab.python, str(APPS / "slow_app.py"), str(APP_PORT), str(CONTROL_PORT)],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        wait_until(lambda: _answers(lambda: lab.server_app_count() >= 0), 10, "slow_app.py did not start")
        # The gRPC server task: apps/grpc_app.py behind the server node's Envoy (HTTP/2 knobs).
        lab.grpc_task = Task(
            f"pg{slot}", bridge.host(11), bridge, interception=Interception(app_ports=(APP_PORT,))
        ).up()
        stack.callback(lab.grpc_task.down)
        lab.grpc_task.popen(
            [sys.executable, str(APPS / "grpc_app.py"), "server", str(APP_PORT), str(CONTROL_PORT)],
            uid=None,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        yield lab
    assert not bridge.exists(), "the bridge outlived the policies suite"


def _answers(check: Callable[[], bool]) -> bool:
    try:
        return check()
    except OSError:
        return False


@dataclass
class Scenario:
    """One test's mesh, Cloud Map namespace and backends; closed after the test."""

    lab: PolicyLab
    mesh: str
    namespace: str
    backends: list[Backend] = field(default_factory=list)
    envoys: list[MeshEnvoy] = field(default_factory=list)

    @property
    def appmesh(self) -> Any:
        return self.lab.aws("appmesh")

    def backend(self, behaviour: Behaviour = ok, port: int = APP_PORT, address: str | None = None) -> Backend:
        """A backend on the next free backend address (or `address`, e.g. a second port of one instance)."""
        index = len(self.backends)
        made = Backend(f"b{index}", address or self.lab.backend_address(index), behaviour, port)
        self.backends.append(made)
        return made

    def envoy(self, node: str = "client", task: Task | None = None, kind: str = "virtualNode") -> MeshEnvoy:
        started = self.lab.start_envoy(task or self.lab.client_task, self.mesh, node, kind)
        self.envoys.append(started)
        return started

    def cluster(self, node: str = "backend", port: int = APP_PORT) -> str:
        return f"cds_egress_{self.mesh}_{node}_http_{port}"

    def close(self) -> None:
        for envoy in self.envoys:
            envoy.stop()
        for backend in self.backends:
            backend.close()


@pytest.fixture
def scenario(lab: PolicyLab, request: pytest.FixtureRequest) -> Iterator[Scenario]:
    short = uuid.uuid4().hex[:6]
    made = Scenario(lab, mesh=f"p{short}", namespace=f"ns{short}.local")
    lab.aws("appmesh").create_mesh(meshName=made.mesh)
    try:
        yield made
    finally:
        made.close()
        delete_mesh_tree(lab.aws("appmesh"), made.mesh)  # App Mesh allows 15 meshes per account
