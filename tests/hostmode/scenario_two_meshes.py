"""Two colour-app meshes of the same shape on one machine, in host mode: the pytest plugin as a CI job uses it.

Each mesh: a gateway and five virtual nodes (front, blue, red, greeter, echo), every node an app with
its own Envoy (`appmesh_app`), all on loopback addresses of their own; no root, no network namespaces.

    test client ──▶ gw Envoy <gw>:8088 ──▶ front Envoy <front>:8080 ──▶ front app
    front app ── HTTP_PROXY ─────────▶ front Envoy ──▶ color.local: blue 80 / red 20 (their Envoys, then apps)
              ── HTTP <egress>:8080 ─▶ front Envoy ──▶ color.local (the same, without the proxy)
              ── gRPC, http_proxy ───▶ front Envoy ──▶ greeter.local:9090 ──▶ greeter Envoy ──▶ greeter app
              ── TCP <egress>:7000 ──▶ front Envoy ──▶ echo.local:7000 ──▶ echo Envoy ──▶ echo app

Not collected on its own (the name does not start with test_): `tests/hostmode/test_nonroot.py`
runs it as an unprivileged user and checks that it leaves no process behind. Run it directly with
`python -m pytest tests/hostmode/scenario_two_meshes.py`.
"""

from __future__ import annotations

import json
import os
import sys
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.hostmode import colourmesh
from tests.hostmode.colourmesh import GATEWAY_PORT, NODES

APPS = Path(__file__).parent / "apps" / "mesh_apps.py"
REQUESTS = 300  # through each mesh's gateway
RPCS = 20  # per mechanism (gRPC through CONNECT, gRPC direct, TCP)
MODES = {"blue": "colour", "red": "colour", "greeter": "greeter", "echo": "echo", "front": "front"}

pytestmark = pytest.mark.timeout(300)


def start_mesh(client: Any, appmesh_app: Any, appmesh_envoy: Any, mesh: str, logs: Path) -> dict[str, Any]:
    """Create the mesh, start its five apps with their Envoys, then its gateway: name → MeshApp / MeshEnvoy."""
    colourmesh.create(client, mesh)
    started: dict[str, Any] = {}
    for node in NODES:
        command = [sys.executable, str(APPS), MODES[node], *([] if node == "front" else [f"{node}@{mesh}"])]
        started[node] = appmesh_app(mesh, node, command, env={"APP_LOG": str(logs / f"{mesh}-{node}.log")})
    started["gw"] = appmesh_envoy(mesh, virtual_gateway="gw", host=True)
    return started


def logged(logs: Path, mesh: str, node: str) -> list[str]:
    path = logs / f"{mesh}-{node}.log"
    return [line for line in path.read_text().splitlines() if line] if path.exists() else []


def envoy_of(proxy: Any) -> Any:
    return getattr(proxy, "envoy", proxy)


def counter(proxy: Any, name: str) -> int:
    return envoy_of(proxy).stats(name).get(name, 0)


def test_two_colour_meshes_side_by_side_never_cross(appmesh_client, appmesh_app, appmesh_envoy, tmp_path):
    if os.environ.get("APPMESH_LOCAL_TEST_UID"):  # set by test_nonroot.py: prove who we are
        assert os.geteuid() == int(os.environ["APPMESH_LOCAL_TEST_UID"]) != 0
    run = uuid.uuid4().hex[:6]
    meshes = [f"colour-{run}-a", f"colour-{run}-b"]
    logs = tmp_path / "logs"
    logs.mkdir()
    proxies = {mesh: start_mesh(appmesh_client, appmesh_app, appmesh_envoy, mesh, logs) for mesh in meshes}
    for mesh in meshes:  # every proxy holds the mesh as it is now (the later ones' instances included)
        for proxy in proxies[mesh].values():
            envoy_of(proxy).wait_synced()

    addresses = [envoy_of(p).address for mesh in meshes for p in proxies[mesh].values()]
    assert len(set(addresses)) == len(addresses) == 12, addresses  # one loopback block per proxy

    session = requests.Session()
    session.trust_env = False  # the test client talks to the gateways directly
    colours: dict[str, Counter[str]] = {mesh: Counter() for mesh in meshes}
    sent: dict[str, dict[str, set[str]]] = {mesh: {"colour": set(), "grpc": set(), "tcp": set()} for mesh in meshes}
    for index in range(REQUESTS):
        for mesh in meshes:  # interleaved: both meshes busy at once
            test_id = f"{mesh}:colour:{index}"
            gateway = f"http://{proxies[mesh]['gw'].address}:{GATEWAY_PORT}"
            reply = session.get(f"{gateway}/colour", headers={"x-test-id": test_id}, timeout=10)
            assert reply.status_code == 200, reply.text
            body = reply.json()
            assert body["status"] == 200, body
            colour, _, owner = body["body"].partition("@")
            assert owner == mesh, f"{test_id} was answered by {body['body']}"
            colours[mesh][colour] += 1
            sent[mesh]["colour"].add(test_id)
    for mesh in meshes:
        gateway = f"http://{proxies[mesh]['gw'].address}:{GATEWAY_PORT}"
        for index in range(RPCS):
            for path, kind, expected in (
                ("/grpc", "grpc", "greeter"),
                ("/grpc-direct", "grpc", "greeter"),
                ("/tcp", "tcp", "echo"),
            ):
                test_id = f"{mesh}:{path.strip('/')}:{index}"
                reply = session.get(f"{gateway}{path}", headers={"x-test-id": test_id}, timeout=10)
                assert reply.status_code == 200, reply.text
                assert reply.json()["body"] == f"{expected}@{mesh}:{test_id}", reply.json()
                sent[mesh][kind].add(test_id)
            # HTTP without the proxy: the front app connects to its egress address's port 8080 itself.
            test_id = f"{mesh}:colour-direct:{index}"
            reply = session.get(f"{gateway}/colour-direct", headers={"x-test-id": test_id}, timeout=10)
            assert reply.status_code == 200 and reply.json()["body"].endswith(f"@{mesh}"), reply.text
            sent[mesh]["colour"].add(test_id)

    report: dict[str, Any] = {}
    for mesh in meshes:
        total = sum(colours[mesh].values())
        share = colours[mesh]["blue"] / total
        report[mesh] = {"colours": dict(colours[mesh]), "blue_share": round(share, 3)}
        assert set(colours[mesh]) == {"blue", "red"} and abs(share - 0.8) <= 0.08, colours[mesh]

        # Isolation, from the backends' own logs: every request each app saw came through its own mesh.
        seen = {node: logged(logs, mesh, node) for node in NODES}
        for node, ids in seen.items():
            strangers = [i for i in ids if not i.startswith(f"{mesh}:")]
            assert not strangers, f"{node} of {mesh} saw requests of another mesh: {strangers[:5]}"
        assert Counter(seen["blue"] + seen["red"]) == Counter(sent[mesh]["colour"])  # each once: no retries
        assert len(seen["blue"]) + len(seen["red"]) == REQUESTS + RPCS
        assert set(seen["greeter"]) == sent[mesh]["grpc"]
        assert set(seen["echo"]) == sent[mesh]["tcp"]

        # Traffic went through every sidecar: each Envoy's own counters.
        node = proxies[mesh]
        assert counter(node["gw"], "http.ingress.downstream_rq_total") >= REQUESTS + 3 * RPCS
        assert counter(node["front"], "http.ingress.downstream_rq_total") >= REQUESTS + 3 * RPCS
        assert counter(node["front"], "http.egress_http_proxy.downstream_rq_total") >= REQUESTS + RPCS
        assert counter(node["front"], "http.egress.downstream_rq_total") >= REQUESTS + 3 * RPCS
        assert counter(node["front"], "tcp.egress.downstream_cx_total") >= RPCS
        reached = {
            colour: counter(node["front"], f"cluster.cds_egress_{mesh}_{colour}_http_8080.upstream_rq_total")
            for colour in ("blue", "red")
        }
        for colour in ("blue", "red"):  # every request the front's Envoy sent a colour, that colour's Envoy took in
            assert reached[colour] == len(seen[colour]) == counter(node[colour], "http.ingress.downstream_rq_total")
        assert sum(reached.values()) == REQUESTS + RPCS
        assert counter(node["greeter"], "http.ingress.downstream_rq_total") == 2 * RPCS
        assert counter(node["echo"], "tcp.ingress.downstream_cx_total") >= RPCS
        report[mesh]["sidecars"] = {name: envoy_of(p).address for name, p in node.items()}
    print("host mode, two meshes:", json.dumps(report))
