"""gRPC and HTTP/2 knobs: grpcRetryEvents (client side) and the http2/grpc connection pool
(`maxRequests`, server side), with a gRPC service that counts its calls (apps/grpc_app.py).
"""

from __future__ import annotations

import json
import sys

import pytest

from tests.policies.conftest import APP_PORT, APPS, CONTROL_PORT, wait_until
from tests.policies.mesh import client_node, target_node

sys.path.insert(0, str(APPS))
import grpc_app  # noqa: E402  (a script, also importable)

pytestmark = pytest.mark.timeout(120)
CALLS = 10


def grpc_service(sc, retry_policy=None) -> str:
    """gRPC virtual service → router (grpc listener) → route for demo.Policy → node `backend` (grpc)."""
    router, vs = "grpc-router", f"grpc.{sc.namespace}"
    sc.appmesh.create_virtual_router(
        meshName=sc.mesh,
        virtualRouterName=router,
        spec={"listeners": [{"portMapping": {"port": APP_PORT, "protocol": "grpc"}}]},
    )
    route = {
        "match": {"serviceName": grpc_app.SERVICE},
        "action": {"weightedTargets": [{"virtualNode": "backend", "weight": 1}]},
    }
    if retry_policy:
        route["retryPolicy"] = retry_policy
    sc.appmesh.create_route(meshName=sc.mesh, virtualRouterName=router, routeName="policy", spec={"grpcRoute": route})
    sc.appmesh.create_virtual_service(
        meshName=sc.mesh, virtualServiceName=vs, spec={"provider": {"virtualRouter": {"virtualRouterName": router}}}
    )
    return vs


@pytest.fixture
def grpc_backend(scenario):
    """One gRPC backend (in this process, on a bridge address) registered in Cloud Map."""
    policy = grpc_app.Policy()
    address = scenario.lab.backend_address(0)
    server = grpc_app.make_server([f"{address}:{APP_PORT}"], policy)
    scenario.lab.register(scenario.lab.cloud_map_service(scenario.namespace, "backend"), address, "grpc-0")
    target_node(scenario, protocol="grpc")
    yield policy, address
    server.stop(0)


def client_calls(sc, vs: str, request: str, count: int = CALLS) -> list[str]:
    """gRPC calls from the client task (root there: iptables redirects every uid but Envoy's)."""
    result = sc.lab.client_task.run(
        [
            sys.executable,
            str(APPS / "grpc_app.py"),
            "client",
            f"{sc.lab.service_address}:{APP_PORT}",
            vs,
            request,
            str(count),
            "1",
        ],
        uid=None,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def start_client(sc, vs: str, address: str):
    client_node(sc, vs)
    envoy = sc.envoy()
    sc.lab.wait_hosts(envoy, f"cds_egress_{sc.mesh}_backend_grpc_{APP_PORT}", {address})
    return envoy


def test_default_policy_retries_grpc_unavailable(scenario, grpc_backend) -> None:
    policy, address = grpc_backend
    vs = grpc_service(scenario)
    start_client(scenario, vs, address)
    assert client_calls(scenario, vs, "flaky") == ["OK"] * CALLS
    assert policy.calls == 2 * CALLS - 1


@pytest.mark.parametrize("events, hidden", [(["unavailable"], True), (["cancelled"], False)])
def test_grpc_retry_events(scenario, grpc_backend, events, hidden) -> None:
    policy, address = grpc_backend
    vs = grpc_service(
        scenario, {"maxRetries": 2, "perRetryTimeout": {"unit": "s", "value": 2}, "grpcRetryEvents": events}
    )
    start_client(scenario, vs, address)
    codes = client_calls(scenario, vs, "flaky")
    if hidden:
        assert codes == ["OK"] * CALLS and policy.calls == 2 * CALLS - 1
    else:
        assert codes == ["OK", "UNAVAILABLE"] * (CALLS // 2) and policy.calls == CALLS


@pytest.mark.parametrize("protocol", ["grpc", "http2"])
def test_http2_connection_pool_max_requests(scenario, protocol) -> None:
    """`connectionPool.<grpc|http2>.maxRequests` on the server's ingress cluster: calls over it get 503
    from Envoy, which gRPC clients see as UNAVAILABLE; the app only sees the allowed ones."""
    lab, task = scenario.lab, scenario.lab.grpc_task
    wait_until(lambda: _answers(lambda: _count(task.address) >= 0), 15, "grpc_app.py did not start")
    before = _count(task.address)
    lab.register(lab.cloud_map_service(scenario.namespace, "server"), task.address, "grpc-task")
    target_node(scenario, "server", service="server", protocol=protocol, connectionPool={protocol: {"maxRequests": 1}})
    envoy = scenario.envoy("server", task=task)
    codes = grpc_app.calls(f"{task.address}:{APP_PORT}", "", b"sleep:1500", 4, 4)
    assert sorted(codes) == ["OK", "UNAVAILABLE", "UNAVAILABLE", "UNAVAILABLE"], codes
    assert _count(task.address) - before == 1
    name = f"cluster.cds_ingress_{scenario.mesh}_server_{protocol}_{APP_PORT}.upstream_rq_active_overflow"
    assert envoy.stats(name)[name] == 3  # the requests (max_requests) circuit breaker


def test_without_a_connection_pool_every_grpc_call_reaches_the_app(scenario) -> None:
    lab, task = scenario.lab, scenario.lab.grpc_task
    wait_until(lambda: _answers(lambda: _count(task.address) >= 0), 15, "grpc_app.py did not start")
    before = _count(task.address)
    lab.register(lab.cloud_map_service(scenario.namespace, "server"), task.address, "grpc-task")
    target_node(scenario, "server", service="server", protocol="grpc")
    scenario.envoy("server", task=task)
    assert grpc_app.calls(f"{task.address}:{APP_PORT}", "", b"sleep:1000", 4, 4) == ["OK"] * 4
    assert _count(task.address) - before == 4


def _count(address: str) -> int:
    import grpc

    with grpc.insecure_channel(f"{address}:{CONTROL_PORT}") as channel:
        stub = channel.unary_unary(
            f"/{grpc_app.SERVICE}/Count", request_serializer=grpc_app.identity, response_deserializer=grpc_app.identity
        )
        return int(stub(b"", timeout=2))


def _answers(check) -> bool:
    try:
        return check()
    except Exception:  # noqa: BLE001 - grpc.RpcError while the server starts
        return False
