"""Real Envoy 1.40 against our ADS server (SotW and delta): connect, update, NACK, unknown node, restart."""

from __future__ import annotations

import statistics
import time
import urllib.error
import urllib.request

import pytest

from appmesh_local.bridge.runtime import XdsRuntime
from appmesh_local.xds.proxy_config import LISTENER, ROUTE_CONFIGURATION
from tests.support.server import free_port
from tests.xds.conftest import proxy
from tests.xds.resources import simple_resources

pytestmark = pytest.mark.timeout(60)
API_TYPES = ["GRPC", "DELTA_GRPC"]


def get(port: int, timeout: float = 2.0) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=timeout) as response:
        return response.read().decode()


def acked(runtime: XdsRuntime, node_id: str, short_type: str, version: str) -> bool:
    return any(
        s.node_id == node_id and s.types.get(short_type) is not None and s.types[short_type].acked_version == version
        for s in runtime.status.streams()
    )


def wait_body(port: int, body: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = get(port)
            if last == body:
                return
        except (urllib.error.URLError, ConnectionError) as exc:
            last = repr(exc)
        time.sleep(0.02)
    raise AssertionError(f"listener on {port} answered {last!r}, wanted {body!r}")


@pytest.mark.parametrize("api_type", API_TYPES)
def test_envoy_connects_serves_and_acks(xds, envoy_factory, api_type):
    port = free_port()
    node = proxy("front")
    xds.cache.set_proxy(node, simple_resources(port, "hello"))
    envoy = envoy_factory(xds.port, "front", api_type=api_type)
    assert get(port) == "hello"
    snap = xds.cache.get(node)
    for short, version in snap.versions().items():
        if short != "sds":  # Envoy never asks for secrets nothing references
            assert xds.status.wait_for(
                lambda s, short=short, version=version: acked(xds, node.short_id(), short, version), 5
            ), short
    status = xds.status_snapshot()
    [entry] = status["proxies"]
    assert entry["stream"] == ("delta" if api_type == "DELTA_GRPC" else "sotw")
    assert entry["mesh"] == "m" and entry["name"] == "front" and entry["reason"] is None
    assert status["unknown_nodes"] == []
    dumped = envoy.wait_for_config(versions={"lds": snap.version(LISTENER)} if api_type == "GRPC" else None)
    assert any("ListenersConfigDump" in c["@type"] for c in dumped["configs"])


@pytest.mark.parametrize("api_type", API_TYPES)
def test_change_reaches_envoy_and_is_acked(xds, envoy_factory, api_type, capsys):
    port = free_port()
    node = proxy("front")
    xds.cache.set_proxy(node, simple_resources(port, "v0"))
    envoy_factory(xds.port, "front", api_type=api_type)
    latencies = []
    for i in range(1, 21):
        started = time.perf_counter()
        update = xds.cache.set_proxy(node, simple_resources(port, f"v{i}"))
        assert update.changed == [node]
        version = xds.cache.get(node).version(ROUTE_CONFIGURATION)
        assert xds.status.wait_for(lambda s, version=version: acked(xds, node.short_id(), "rds", version), 5)
        latencies.append((time.perf_counter() - started) * 1000)
        assert get(port) == f"v{i}"
    # Only RDS changed: the other types were pushed once, at connect time.
    [stream] = xds.status.streams()
    assert stream.types["rds"].sent_count == 21
    assert stream.types["lds"].sent_count == stream.types["cds"].sent_count == 1
    with capsys.disabled():
        print(
            f"\n[{api_type}] cache update → Envoy ACK: median {statistics.median(latencies):.1f} ms, "
            f"max {max(latencies):.1f} ms over {len(latencies)} changes"
        )
    # Printed, not bounded: benchmarks/convergence.py measures speed (docs/performance.md).


@pytest.mark.parametrize("api_type", API_TYPES)
def test_nack_is_recorded_and_not_resent(xds, envoy_factory, api_type):
    port = free_port()
    node = proxy("front")
    xds.cache.set_proxy(node, simple_resources(port, "good"))
    envoy_factory(xds.port, "front", api_type=api_type)
    [stream] = xds.status.streams()
    xds.cache.set_proxy(node, simple_resources(port, "good", access_log_format="%NOT_A_COMMAND%"))
    bad = xds.cache.get(node).version(LISTENER)
    assert xds.status.wait_for(lambda s: stream.types["lds"].nack is not None, 5)
    nack = stream.types["lds"].nack
    assert nack["version"] == bad
    assert "NOT_A_COMMAND" in nack["message"]
    sent = stream.types["lds"].sent_count
    time.sleep(1.0)
    assert stream.types["lds"].sent_count == sent, "a NACKed listener version was sent again"
    assert get(port) == "good"  # Envoy kept the last good listener
    entry = xds.status_snapshot()["proxies"][0]
    assert entry["types"]["lds"]["last_nack"]["message"] == nack["message"]
    # A new snapshot is answered again, and accepted.
    xds.cache.set_proxy(node, simple_resources(port, "fixed", access_log_format="%RESPONSE_CODE%"))
    fixed = xds.cache.get(node).version(LISTENER)
    assert xds.status.wait_for(lambda s: acked(xds, node.short_id(), "lds", fixed), 5)
    wait_body(port, "fixed")


@pytest.mark.parametrize("api_type", API_TYPES)
def test_unknown_node_gets_config_once_it_exists(xds, envoy_factory, api_type):
    port = free_port()
    envoy = envoy_factory(xds.port, "later", api_type=api_type, wait_live=False)
    node_id = proxy("later").short_id()

    def unknown(status) -> bool:
        return any(u["node_id"] == node_id for u in xds.status_snapshot()["unknown_nodes"])

    assert xds.status.wait_for(unknown, 10)
    [entry] = xds.status_snapshot()["unknown_nodes"]
    assert entry["reason"] == "no such mesh or proxy"
    assert entry["mesh"] == "m" and entry["name"] == "later"
    assert envoy.state() != "LIVE"  # App Mesh: no config, Envoy never gets ready
    xds.cache.set_proxy(proxy("later"), simple_resources(port, "now known"))
    envoy.wait_live(10)
    wait_body(port, "now known")
    status = xds.status_snapshot()
    assert status["unknown_nodes"] == [] and [p["name"] for p in status["proxies"]] == ["later"]


def test_malformed_node_id_is_unknown_and_harmless(xds, envoy_factory):
    envoy = envoy_factory(
        xds.port, "x", node_id="arn:aws:appmesh:us-east-1:123456789012:mesh/m/route/x", wait_live=False
    )
    assert xds.status.wait_for(lambda s: any(u["node_id"] for u in xds.status_snapshot()["unknown_nodes"]), 10)
    [entry] = xds.status_snapshot()["unknown_nodes"]
    assert "virtualNode or virtualGateway" in entry["reason"]
    assert envoy.alive()


@pytest.mark.parametrize("api_type", API_TYPES)
def test_envoy_survives_server_restart_and_converges(envoy_factory, api_type):
    port = free_port()
    node = proxy("front")
    first = XdsRuntime(port=0).start()
    xds_port = first.port
    try:
        first.cache.set_proxy(node, simple_resources(port, "before"))
        envoy = envoy_factory(xds_port, "front", api_type=api_type, reconnect_base_ms=100)
        assert get(port) == "before"
    finally:
        first.stop(grace=0)
    assert get(port) == "before"  # Envoy keeps serving without its control plane
    assert envoy.alive()
    second = XdsRuntime(port=xds_port).start()
    try:
        assert second.cache.boot_id != first.cache.boot_id
        second.cache.set_proxy(node, simple_resources(port, "after"))
        version = second.cache.get(node).version(ROUTE_CONFIGURATION)
        assert second.status.wait_for(lambda s: acked(second, node.short_id(), "rds", version), 20)
        wait_body(port, "after")
    finally:
        second.stop(grace=0)
