"""Two ECS-like tasks with App Mesh interception, real Envoys fed by an in-process appmesh-local,
and TLS material from files, from a unix-socket SDS server and from the emulated ACM / ACM PCA.

front task (198.51.100.x)                             back task (same /28)
  app (uid 1001) ─OUTPUT nat─▶ Envoy :15001 ══TLS══▶ PREROUTING nat ─▶ Envoy :15000 ─▶ app :800x
                               (client policies)          ▲            (listener tls per port)
gw task: virtual gateway Envoy :8443 (ACM certificate) ═══╝ (backendDefaults client policy)

The back node has one listener per TLS case (ports below); the front node reaches each through
its own virtual service and router, so each case has its own client policy and egress cluster.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import boto3
import pytest
from botocore.config import Config

from appmesh_local.netns.iptables import Interception
from appmesh_local.netns.task import APP_UID, ENVOY_UID, Bridge, Task
from appmesh_local.proxy.bootstrap import render_bootstrap
from appmesh_local.proxy.process import EnvoyProcess
from appmesh_local.sds import SdsServer
from appmesh_local.server import AppMeshServer, ServerConfig
from appmesh_local.testing import InProcessServer
from appmesh_local.xds.node_id import ProxyRef
from appmesh_local.xds.snapshot import SHORT_TYPE_NAMES, WILDCARD_TYPES
from tests.support.pca import active_root_ca
from tests.support.tasks import app_python, require_task_capabilities
from tests.tls.certs import Authority, Pair, authority

ACCOUNT, REGION, MESH = "123456789012", "us-east-1", "tls"
BACK_HOST = "back.tls.local"
STRICT, PERMISSIVE, DISABLED, MTLS, SDS, ACM = 8001, 8002, 8003, 8004, 8005, 8006
PORTS = (STRICT, PERMISSIVE, DISABLED, MTLS, SDS, ACM)
GATEWAY_HOST, GATEWAY_PORT = "gw.tls.local", 8443
KINDS = {"back": "virtualNode", "front": "virtualNode", "gw": "virtualGateway"}

APP_SERVER = r"""
import http.server, json, sys, threading
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({"port": self.server.server_address[1], "path": self.path}).encode()
        self.send_response(200); self.send_header("content-length", str(len(body))); self.end_headers(); self.wfile.write(body)
    def log_message(self, *a): pass
servers = [http.server.ThreadingHTTPServer(("0.0.0.0", int(p)), H) for p in sys.argv[1:]]
for s in servers[1:]:
    threading.Thread(target=s.serve_forever, daemon=True).start()
servers[0].serve_forever()
"""
APP_CLIENT = r"""
import json, sys, urllib.error, urllib.request
try:
    with urllib.request.urlopen(sys.argv[1], timeout=8) as r:
        print(json.dumps({"status": r.status, "body": json.loads(r.read())}))
except urllib.error.HTTPError as e:
    print(json.dumps({"status": e.code, "body": e.read().decode(errors="replace")[:500]}))
except Exception as e:
    print(json.dumps({"status": None, "body": repr(e)}))
"""
WAIT_PORTS = r"""
import socket, sys, time
for port in sys.argv[1:]:
    for _ in range(250):
        try:
            socket.create_connection(("127.0.0.1", int(port)), 0.2).close(); break
        except OSError:
            time.sleep(0.02)
    else:
        sys.exit(1)
"""


def service(port: int) -> str:
    return f"s{port}.tls.local"


@dataclass
class Pki:
    ca: Authority  # signs the file certificates
    rogue: Authority  # a CA nobody trusts
    sds_ca: Authority  # signs what the SDS server hands out (SPIFFE-like identities)
    back: Pair  # back.tls.local
    front: Pair  # front.tls.local, client auth
    intruder: Pair  # signed by `ca`, but not the name the server accepts
    rogue_front: Pair  # front.tls.local signed by `rogue`
    back_sds: Pair  # back.tls.local + spiffe://tls.local/back
    front_sds: Pair  # spiffe://tls.local/front


def make_pki(directory: Path) -> Pki:
    directory.mkdir(mode=0o755)
    ca, rogue, sds_ca = (authority(directory, n) for n in ("Mesh Test CA", "Rogue CA", "SDS CA"))
    return Pki(
        ca=ca,
        rogue=rogue,
        sds_ca=sds_ca,
        back=ca.issue(directory, "back", dns_names=(BACK_HOST,)),
        front=ca.issue(directory, "front", dns_names=("front.tls.local",)),
        intruder=ca.issue(directory, "intruder", dns_names=("intruder.tls.local",)),
        rogue_front=rogue.issue(directory, "rogue-front", dns_names=("front.tls.local",)),
        back_sds=sds_ca.issue(directory, "back-sds", dns_names=(BACK_HOST,), uris=("spiffe://tls.local/back",)),
        front_sds=sds_ca.issue(directory, "front-sds", uris=("spiffe://tls.local/front",)),
    )


@dataclass
class TlsMesh:
    bridge: Bridge
    workdir: Path
    pki: Pki
    python: str
    sds_socket: Path
    tasks: dict[str, Task] = field(default_factory=dict)
    envoys: dict[str, EnvoyProcess] = field(default_factory=dict)
    server: InProcessServer | None = None
    pca_arn: str = ""
    cert_arn: str = ""
    gateway_cert_arn: str = ""

    # ---- AWS clients on the server's endpoint ------------------------------------------------
    def aws(self, service_name: str) -> Any:
        assert self.server is not None
        return boto3.client(
            service_name,
            endpoint_url=self.server.endpoint,
            region_name=REGION,
            aws_access_key_id=ACCOUNT,
            aws_secret_access_key="testing",
            config=Config(retries={"max_attempts": 1}),
        )

    @property
    def xds(self) -> Any:
        assert self.server is not None
        return self.server.server.xds

    # ---- mesh ------------------------------------------------------------------------------
    def back_listeners(self) -> list[dict[str, Any]]:
        pki = self.pki
        file_cert = {"file": {"certificateChain": str(pki.back.chain), "privateKey": str(pki.back.key)}}

        def listener(port: int, tls: dict[str, Any]) -> dict[str, Any]:
            return {"portMapping": {"port": port, "protocol": "http"}, "tls": tls}

        return [
            listener(STRICT, {"mode": "STRICT", "certificate": file_cert}),
            listener(PERMISSIVE, {"mode": "PERMISSIVE", "certificate": file_cert}),
            listener(DISABLED, {"mode": "DISABLED", "certificate": file_cert}),
            listener(
                MTLS,
                {
                    "mode": "STRICT",
                    "certificate": file_cert,
                    "validation": {
                        "trust": {"file": {"certificateChain": str(pki.ca.pem_path)}},
                        "subjectAlternativeNames": {"match": {"exact": ["front.tls.local"]}},
                    },
                },
            ),
            listener(
                SDS,
                {
                    "mode": "STRICT",
                    "certificate": {"sds": {"secretName": "back-cert"}},
                    "validation": {
                        "trust": {"sds": {"secretName": "sds-ca"}},
                        "subjectAlternativeNames": {"match": {"exact": ["spiffe://tls.local/front"]}},
                    },
                },
            ),
            listener(ACM, {"mode": "STRICT", "certificate": {"acm": {"certificateArn": self.cert_arn}}}),
        ]

    def baseline_policies(self) -> dict[int, dict[str, Any] | None]:
        """Front's client policy per back port: none where the server decides."""
        pki = self.pki
        return {
            STRICT: None,
            PERMISSIVE: None,
            DISABLED: None,
            MTLS: {
                "tls": {
                    "certificate": {
                        "file": {"certificateChain": str(pki.front.chain), "privateKey": str(pki.front.key)}
                    },
                    "validation": {"trust": {"file": {"certificateChain": str(pki.ca.pem_path)}}},
                }
            },
            SDS: {
                "tls": {
                    "certificate": {"sds": {"secretName": "front-cert"}},
                    "validation": {"trust": {"sds": {"secretName": "sds-ca"}}},
                }
            },
            ACM: {"tls": {"validation": {"trust": {"acm": {"certificateAuthorityArns": [self.pca_arn]}}}}},
        }

    def put_front(self, policies: dict[int, dict[str, Any] | None]) -> None:
        backends = []
        for port in PORTS:
            backend: dict[str, Any] = {"virtualServiceName": service(port)}
            if policies.get(port):
                backend["clientPolicy"] = policies[port]
            backends.append({"virtualService": backend})
        self.aws("appmesh").update_virtual_node(meshName=MESH, virtualNodeName="front", spec={"backends": backends})

    def create_mesh(self) -> None:
        appmesh = self.aws("appmesh")
        appmesh.create_mesh(meshName=MESH)
        appmesh.create_virtual_node(
            meshName=MESH,
            virtualNodeName="back",
            spec={"listeners": self.back_listeners(), "serviceDiscovery": {"dns": {"hostname": BACK_HOST}}},
        )
        for port in PORTS:
            router = f"r{port}"
            appmesh.create_virtual_router(
                meshName=MESH,
                virtualRouterName=router,
                spec={"listeners": [{"portMapping": {"port": port, "protocol": "http"}}]},
            )
            appmesh.create_route(
                meshName=MESH,
                virtualRouterName=router,
                routeName="all",
                spec={
                    "httpRoute": {
                        "match": {"prefix": "/"},
                        "action": {"weightedTargets": [{"virtualNode": "back", "weight": 1, "port": port}]},
                    }
                },
            )
            appmesh.create_virtual_service(
                meshName=MESH,
                virtualServiceName=service(port),
                spec={"provider": {"virtualRouter": {"virtualRouterName": router}}},
            )
        appmesh.create_virtual_node(meshName=MESH, virtualNodeName="front", spec={})
        self.put_front(self.baseline_policies())
        appmesh.create_virtual_gateway(
            meshName=MESH,
            virtualGatewayName="gw",
            spec={
                "listeners": [
                    {
                        "portMapping": {"port": GATEWAY_PORT, "protocol": "http"},
                        "tls": {"mode": "STRICT", "certificate": {"acm": {"certificateArn": self.gateway_cert_arn}}},
                    }
                ],
                "backendDefaults": {
                    "clientPolicy": {
                        "tls": {
                            "ports": [STRICT],
                            "validation": {"trust": {"file": {"certificateChain": str(self.pki.ca.pem_path)}}},
                        }
                    }
                },
            },
        )
        for name, port in (("strict", STRICT), ("acm", ACM)):
            appmesh.create_gateway_route(
                meshName=MESH,
                virtualGatewayName="gw",
                gatewayRouteName=name,
                spec={
                    "httpRoute": {
                        "match": {"prefix": f"/{name}"},
                        "action": {"target": {"virtualService": {"virtualServiceName": service(port)}}},
                    }
                },
            )

    def create_acm_material(self) -> None:
        """An ACTIVE root CA in ACM PCA and a private certificate for back.tls.local issued by it."""
        pca, acm = self.aws("acm-pca"), self.aws("acm")
        arn = active_root_ca(pca, "Mesh ACM PCA", years=1)
        self.pca_arn = arn
        self.cert_arn = acm.request_certificate(DomainName=BACK_HOST, CertificateAuthorityArn=arn)["CertificateArn"]
        self.gateway_cert_arn = acm.request_certificate(DomainName=GATEWAY_HOST, CertificateAuthorityArn=arn)[
            "CertificateArn"
        ]

    # ---- tasks -----------------------------------------------------------------------------
    def proxy(self, name: str) -> ProxyRef:
        return ProxyRef(ACCOUNT, REGION, MESH, KINDS[name], name)

    def start_envoy(self, name: str) -> EnvoyProcess:
        task = self.tasks[name]
        bootstrap = render_bootstrap(
            MESH,
            KINDS[name],
            name,
            self.bridge.address,
            int(self.xds.port),
            admin_port=9901,
            admin_address=task.address,
            account=ACCOUNT,
            region=REGION,
            reconnect_base_ms=200,
            sds_socket_path=str(self.sds_socket),
        )
        envoy = task.envoy(bootstrap, log_level="warning")
        envoy.start(wait_live=False, timeout=30)
        self.envoys[name] = envoy
        return envoy

    def converge(self, timeout: float = 20.0) -> None:
        """Every Envoy has ACKed the server's current snapshot of its proxy (all types, SDS included)."""
        assert self.xds.reconciler.flush(timeout), "the reconciler did not catch up"

        def wanted(name: str) -> dict[str, str]:
            snapshot = self.xds.cache.get(self.proxy(name))
            assert snapshot is not None, f"no configuration for {name}"
            return {
                SHORT_TYPE_NAMES[t]: ts.version
                for t, ts in snapshot.types.items()
                if t in WILDCARD_TYPES or ts.resources
            }

        def acked(name: str) -> dict[str, str | None]:
            for stream in reversed(self.xds.status.streams()):
                if stream.proxy == self.proxy(name) and stream.known:
                    return {short: ts.acked_version for short, ts in stream.types.items()}
            return {}

        def done(_: Any) -> bool:
            return all(acked(n).get(k) == v for n in self.envoys for k, v in wanted(n).items())

        if not self.xds.status.wait_for(done, timeout):
            detail = {n: {"wanted": wanted(n), "acked": acked(n)} for n in self.envoys}
            logs = {n: e.log_text()[-1500:] for n, e in self.envoys.items()}
            raise AssertionError(
                f"Envoys did not converge in {timeout}s: {detail}\n{logs}\n"
                f"{json.dumps(self.xds.status_snapshot(), indent=1)[:3000]}"
            )

    # ---- traffic ---------------------------------------------------------------------------
    def call(self, port: int, path: str = "/hello") -> dict[str, Any]:
        """The front app (uid 1001) calls s<port>.tls.local; its Envoy intercepts and originates."""
        result = self.tasks["front"].run(
            [self.python, "-c", APP_CLIENT, f"http://{service(port)}:{port}{path}"], uid=APP_UID, timeout=30
        )
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)

    def call_until(self, port: int, status: int, timeout: float = 15.0) -> dict[str, Any]:
        """Call until the answer has `status` (config is ACKed, but secrets may still be warming)."""
        deadline = time.monotonic() + timeout
        while True:
            reply = self.call(port)
            if reply["status"] == status or time.monotonic() > deadline:
                return reply
            time.sleep(0.2)

    def teardown(self) -> None:
        for task in self.tasks.values():
            task.down()
        self.envoys.clear()
        if self.server is not None:
            self.server.stop()
            self.server = None


@pytest.fixture(scope="module")
def tls_mesh() -> Iterator[TlsMesh]:
    require_task_capabilities("TLS traffic tests")
    with ExitStack() as stack:
        workdir = Path(tempfile.mkdtemp(prefix="appmesh-tls-"))
        workdir.chmod(0o755)  # Envoy (uid 1337) reads the certificates and the SDS socket in here
        stack.callback(shutil.rmtree, workdir, ignore_errors=True)
        pki = make_pki(workdir / "certs")
        sds_socket = workdir / "sds.sock"
        sds = SdsServer(
            sds_socket,
            {
                "back-cert": (pki.back_sds.chain, pki.back_sds.key),
                "front-cert": (pki.front_sds.chain, pki.front_sds.key),
                "sds-ca": pki.sds_ca.pem_path,
            },
            group=ENVOY_UID,  # the task's Envoy runs as uid and gid 1337
        ).start()
        stack.callback(sds.stop)
        bridge = Bridge.free_slot(os.getpid() + 7).up()
        stack.callback(bridge.down)
        mesh = TlsMesh(bridge, workdir, pki, app_python(), sds_socket)
        stack.callback(mesh.teardown)

        server = AppMeshServer(ServerConfig(host="127.0.0.1", port=0, xds_host="127.0.0.1", xds_port=0, state_dir=None))
        server.xds.extra_hosts = (bridge.address,)  # the tasks reach xDS through the bridge
        mesh.server = InProcessServer(server)
        server.start_background()

        slot = bridge.name.removeprefix("aml-br")
        back_ip, front_ip, gateway_ip = bridge.host(1), bridge.host(2), bridge.host(3)
        hosts = {BACK_HOST: back_ip, GATEWAY_HOST: gateway_ip, **{service(p): back_ip for p in PORTS}}
        mesh.tasks["back"] = Task(
            f"tlsb{slot}", back_ip, bridge, hosts=hosts, interception=Interception(app_ports=PORTS)
        ).up()
        mesh.tasks["front"] = Task(f"tlsf{slot}", front_ip, bridge, hosts=hosts, interception=Interception()).up()
        mesh.tasks["gw"] = Task(f"tlsg{slot}", gateway_ip, bridge, hosts=hosts).up()  # gateways: no iptables

        mesh.create_acm_material()
        mesh.create_mesh()
        assert mesh.xds.reconciler.flush(20)
        back = mesh.tasks["back"]
        back.popen([mesh.python, "-c", APP_SERVER, *map(str, PORTS)])
        assert back.run([mesh.python, "-c", WAIT_PORTS, *map(str, PORTS)], uid=None).returncode == 0
        for name in KINDS:
            mesh.start_envoy(name)
        for envoy in mesh.envoys.values():
            envoy.wait_live(30)
        mesh.converge(30)
        yield mesh
    assert not bridge.exists(), "the bridge outlived the suite"


@pytest.fixture
def baseline(tls_mesh: TlsMesh) -> Iterator[TlsMesh]:
    """The front node's baseline client policies, applied and ACKed; put back afterwards."""
    tls_mesh.put_front(tls_mesh.baseline_policies())
    tls_mesh.converge()
    yield tls_mesh
    tls_mesh.put_front(tls_mesh.baseline_policies())
