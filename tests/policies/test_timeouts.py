"""Route and listener timeouts (docs/reference.md#timeouts), with a slow backend and real Envoys.

Client side (route `timeout`): the client Envoy's egress route. Server side (listener
`timeout`): the server task Envoy's ingress route. App Mesh's invisible default is 15 s on
both; Envoy tells every upstream its deadline in `x-envoy-expected-rq-timeout-ms`, which the
backends record, so the default is visible without waiting 15 s per request; one real
request still waits it out once.
"""

from __future__ import annotations

import pytest

from tests.policies.mesh import client_node, node_service, routed_service, statuses, target_node

pytestmark = pytest.mark.timeout(120)


def seconds(value: float) -> dict:
    return {"unit": "ms", "value": int(value * 1000)}


def one_slow_backend(sc, delay: float, **route):
    backend = sc.backend(lambda attempt: (200, delay))
    sc.lab.register(sc.lab.cloud_map_service(sc.namespace, "backend"), backend)
    target_node(sc)
    vs = routed_service(sc, **route)
    client_node(sc, vs)
    envoy = sc.envoy()
    sc.lab.wait_hosts(envoy, sc.cluster(), {backend.address})
    return backend, vs, envoy


def test_route_timeout_cuts_a_slow_backend_with_504(scenario) -> None:
    backend, vs, _ = one_slow_backend(scenario, 3.0, timeout={"perRequest": seconds(0.8)})
    [result] = scenario.lab.load(vs, 1)
    assert result["status"] == 504
    assert 0.75 <= result["elapsed"] < 2.5, result
    assert backend.count == 1  # a route timeout is final: the default retry policy does not retry it
    assert backend.attempts[0]["headers"]["x-envoy-expected-rq-timeout-ms"] == "800"


def test_route_idle_timeout(scenario) -> None:
    """`timeout.idle` → the route's idle_timeout: a silent backend is cut long before perRequest."""
    backend, vs, _ = one_slow_backend(scenario, 3.0, timeout={"perRequest": seconds(10), "idle": seconds(0.5)})
    [result] = scenario.lab.load(vs, 1)
    assert result["status"] == 504
    assert 0.45 <= result["elapsed"] < 2.5, result
    assert backend.attempts[0]["headers"]["x-envoy-expected-rq-timeout-ms"] == "10000"


def test_zero_disables_the_route_timeout(scenario) -> None:
    backend, vs, _ = one_slow_backend(scenario, 1.0, timeout={"perRequest": seconds(0)})
    [result] = scenario.lab.load(vs, 1)
    assert result["status"] == 200
    assert "x-envoy-expected-rq-timeout-ms" not in backend.attempts[0]["headers"]


def test_default_route_timeout_is_15_seconds(scenario) -> None:
    """No timeout on the route, and a node-provided service: both get App Mesh's 15 s."""
    backend, vs, envoy = one_slow_backend(scenario, 0.0)
    direct = node_service(scenario)
    scenario.appmesh.update_virtual_node(
        meshName=scenario.mesh,
        virtualNodeName="client",
        spec={"backends": [{"virtualService": {"virtualServiceName": name}} for name in (vs, direct)]},
    )
    envoy.wait_synced(15)
    assert statuses(scenario.lab.load(vs, 1) + scenario.lab.load(direct, 1)) == [200, 200]
    assert [a["headers"]["x-envoy-expected-rq-timeout-ms"] for a in backend.attempts] == ["15000", "15000"]
    routes = [
        route
        for section in envoy.config_dump()["configs"]
        for config in section.get("dynamic_route_configs", [])
        for vhost in config["route_config"].get("virtual_hosts", [])
        for route in vhost.get("routes", [])
    ]
    assert routes and {route["route"]["timeout"] for route in routes} == {"15s"}


def test_default_route_timeout_really_cuts_at_15_seconds(scenario) -> None:
    """The one slow proof: a backend that answers after 16 s gets the client a 504 at 15 s."""
    backend, vs, _ = one_slow_backend(scenario, 16.5)
    [result] = scenario.lab.load(vs, 1, timeout=25)
    assert result["status"] == 504
    assert 14.9 <= result["elapsed"] < 16.4, result
    assert backend.count == 1


def server_node(sc, **listener) -> None:
    """The node whose Envoy runs in the server task (its app is slow_app.py), and that Envoy."""
    sc.lab.register(sc.lab.cloud_map_service(sc.namespace, "server"), sc.lab.server_task.address, "server-task")
    target_node(sc, "server", service="server", **listener)
    return sc.envoy("server", task=sc.lab.server_task)


def test_listener_timeout_cuts_on_the_server_side(scenario) -> None:
    server_node(scenario, timeout={"http": {"perRequest": seconds(0.7)}})
    scenario.lab.server_app_count(reset=True)
    [result] = scenario.lab.to_server_task("/sleep/4000")
    assert result["status"] == 504 and result["headers"].get("server") == "envoy"
    assert 0.65 <= result["elapsed"] < 3.0, result
    assert scenario.lab.server_app_count() == 1
    [fast] = scenario.lab.to_server_task("/sleep/0")
    assert fast["status"] == 200 and fast["body"]["headers"]["x-envoy-expected-rq-timeout-ms"] == "700"


def test_listener_default_timeout_is_15_seconds(scenario) -> None:
    server_node(scenario)
    [result] = scenario.lab.to_server_task("/sleep/0")
    assert result["status"] == 200
    assert result["body"]["headers"]["x-envoy-expected-rq-timeout-ms"] == "15000"


def test_tcp_listener_idle_timeout_closes_a_silent_connection(scenario) -> None:
    """tcp listener `timeout.tcp.idle` → the ingress tcp_proxy's idle_timeout."""
    import socket
    import time

    lab = scenario.lab
    lab.register(lab.cloud_map_service(scenario.namespace, "server"), lab.server_task.address, "server-task")
    target_node(scenario, "server", service="server", protocol="tcp", timeout={"tcp": {"idle": seconds(0.7)}})
    scenario.envoy("server", task=lab.server_task)
    with socket.create_connection((lab.server_task.address, 8080), timeout=5) as sock:
        # Proof the connection goes through to the app: one request answered.
        sock.sendall(b"GET /sleep/0 HTTP/1.1\r\nHost: x\r\n\r\n")
        response = b""
        while b"\r\n\r\n" not in response:  # the app may write head and body separately
            chunk = sock.recv(4096)
            assert chunk, response
            response += chunk
        head, _, body = response.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200"), head
        length = next(
            int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")
        )
        while len(body) < length:
            chunk = sock.recv(4096)
            assert chunk, body
            body += chunk
        started = time.monotonic()
        assert sock.recv(4096) == b""  # then silence, until Envoy closes the idle connection
        waited = time.monotonic() - started
    assert 0.6 <= waited < 3.0, waited
