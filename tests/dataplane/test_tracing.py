"""Traces from a request through a gateway and two virtual nodes reach a collector, with App Mesh's names.

    this process ──▶ gateway task (Envoy `gw`, :8088) ──▶ front task (iptables → Envoy `front` → app,
    which calls back.dp.local forwarding the tracing headers) ──▶ back task (Envoy `back` → app)

Every Envoy is bootstrapped from the App Mesh image's tracing variables, and every connection
manager carries `tracing: {}` as App Mesh's did:
- ENABLE_ENVOY_JAEGER_TRACING: Zipkin v2 spans (protobuf by default, the image's) POSTed to a
  Zipkin/Jaeger-compatible HTTP collector; a span's service is the Envoy's node cluster, App Mesh's
  resource id (`mesh/<mesh>/virtualNode/<name>` here, or APPMESH_RESOURCE_CLUSTER).
- ENABLE_ENVOY_XRAY_TRACING: segments sent with the X-Ray daemon's UDP protocol, named
  `<mesh>/<resource>` with origin `AWS::AppMesh::Proxy` (XRAY_SAMPLING_RATE=1.00 samples all).
"""

from __future__ import annotations

import json
import socket
import urllib.request

import pytest

from tests.dataplane.servers import UdpReceiver, ZipkinCollector, xray_segments
from tests.support.meshes import gateway_to_service
from tests.support.waiting import wait_until

GATEWAY_PORT, APP_PORT = 8088, 8080


def build_mesh(scenario, lab) -> dict[str, str]:
    """Gateway gw → front.dp.local (node front) → back.dp.local (node back); returns the task addresses."""
    appmesh, mesh = scenario.appmesh, scenario.mesh
    addresses = {"gw": lab.address(1), "front": lab.address(2), "back": lab.address(3)}
    for name, backends in (("back", []), ("front", ["back.dp.local"])):
        appmesh.create_virtual_node(
            meshName=mesh,
            virtualNodeName=name,
            spec={
                "listeners": [{"portMapping": {"port": APP_PORT, "protocol": "http"}}],
                "serviceDiscovery": {"dns": {"hostname": f"{name}.dp.local"}},
                "backends": [{"virtualService": {"virtualServiceName": b}} for b in backends],
            },
        )
        appmesh.create_virtual_service(
            meshName=mesh,
            virtualServiceName=f"{name}.dp.local",
            spec={"provider": {"virtualNode": {"virtualNodeName": name}}},
        )
    gateway_to_service(appmesh, mesh, GATEWAY_PORT, "front.dp.local", route="front")
    return addresses


def start_tasks(scenario, lab, addresses: dict[str, str], environment: dict[str, str]):
    hosts = {"front.dp.local": addresses["front"], "back.dp.local": addresses["back"]}
    back = scenario.task(3, app_ports=(APP_PORT,), hosts=hosts)
    scenario.serve(back, "serve", "back", "0.0.0.0", str(APP_PORT), port=APP_PORT)
    scenario.envoy(back, "back", environment=environment)
    front = scenario.task(2, app_ports=(APP_PORT,), hosts=hosts)
    scenario.serve(front, "front", str(APP_PORT), f"http://back.dp.local:{APP_PORT}", port=APP_PORT)
    scenario.envoy(front, "front", environment=environment)
    gateway = scenario.task(1, intercept=False, hosts=hosts)
    scenario.envoy(gateway, "gw", kind="virtualGateway", environment=environment)
    return gateway


def send(gateway, count: int) -> None:
    for index in range(count):
        with urllib.request.urlopen(f"http://{gateway.address}:{GATEWAY_PORT}/trace/{index}", timeout=10) as response:
            reply = json.loads(response.read())
        assert reply["status"] == 200 and json.loads(reply["body"])["name"] == "back", reply


@pytest.mark.timeout(180)
@pytest.mark.parametrize("encoding", ["proto", "json"])
def test_zipkin_spans_reach_a_jaeger_collector(scenario, lab, encoding):
    port = free_udp_tcp_port(lab.bridge.address)
    collector = scenario.close(ZipkinCollector(lab.bridge.address, port))
    addresses = build_mesh(scenario, lab)
    environment = {
        "ENABLE_ENVOY_JAEGER_TRACING": "1",
        "JAEGER_TRACER_ADDRESS": lab.bridge.address,
        "JAEGER_TRACER_PORT": str(port),
    }
    if encoding == "json":
        environment["JAEGER_TRACER_VERSION"] = "JSON"
    gateway = start_tasks(scenario, lab, addresses, environment)
    send(gateway, 3)
    mesh = scenario.mesh
    names = {f"mesh/{mesh}/virtualGateway/gw", f"mesh/{mesh}/virtualNode/front", f"mesh/{mesh}/virtualNode/back"}

    # Envoy's Zipkin tracer flushes every 5 s (or every 5 spans): wait for one whole trace.
    def traces() -> dict[str, set[str]]:
        by_trace: dict[str, set[str]] = {}
        for span in list(collector.spans):
            by_trace.setdefault(span.trace_id, set()).add(span.service)
        return by_trace

    wait_until(
        lambda: any(services == names for services in traces().values()),
        30,
        f"no trace holds spans from all of {names}: {traces()}",
    )  # one trace across the three (the front app forwards the tracing headers)
    expected_type = "application/json" if encoding == "json" else "application/x-protobuf"
    assert collector.content_types == {expected_type}


@pytest.mark.timeout(180)
def test_xray_segments_reach_the_daemon(scenario, lab):
    daemon = scenario.close(UdpReceiver(lab.bridge.address))
    addresses = build_mesh(scenario, lab)
    environment = {
        "ENABLE_ENVOY_XRAY_TRACING": "1",
        "AWS_XRAY_DAEMON_ADDRESS": f"{lab.bridge.address}:{daemon.port}",
        "XRAY_SAMPLING_RATE": "1.00",
    }
    gateway = start_tasks(scenario, lab, addresses, environment)
    send(gateway, 3)
    mesh = scenario.mesh
    names = {f"{mesh}/gw", f"{mesh}/front", f"{mesh}/back"}

    def traces() -> dict[str, set[str]]:
        by_trace: dict[str, set[str]] = {}
        for segment in xray_segments(daemon):
            by_trace.setdefault(segment["trace_id"], set()).add(segment["name"])
        return by_trace

    wait_until(
        lambda: any(found == names for found in traces().values()),
        30,
        f"no trace holds segments from all of {names}: {traces()}",
    )  # one trace across the three
    for segment in xray_segments(daemon):
        assert segment["origin"] == "AWS::AppMesh::Proxy"
        assert segment["aws"]["app_mesh"] == {"mesh_name": mesh, "virtual_node_name": segment["name"].split("/")[1]}


def free_udp_tcp_port(address: str) -> int:
    with socket.socket() as sock:
        sock.bind((address, 0))
        return sock.getsockname()[1]
