"""Retry policies, proven by counting attempts at the backend (docs/reference.md#retries).

App Mesh semantics reproduced here:
- A route without `retryPolicy` (and a service whose provider is a virtual node) gets App
  Mesh's invisible default: 503 / connect-failure / reset / refused-stream retried twice.
  So "no retries" in App Mesh is a policy whose events exclude the failure (or maxRetries 0),
  not the absence of a policy; both are tested.
- `maxRetries` N allows N+1 attempts; `perRetryTimeout` bounds each attempt, and an attempt
  that times out is retried for server-error/gateway-error (they include Envoy's `reset`).
"""

from __future__ import annotations

import pytest

from tests.policies.conftest import BACKEND_SLOTS
from tests.policies.mesh import client_node, node_service, retry_policy, routed_service, statuses, target_node

pytestmark = pytest.mark.timeout(120)
REQUESTS = 10


def every_second(status: int):
    """Attempts 2, 4, 6, ... fail with `status`: a backend failing half the time, deterministically."""
    return lambda attempt: (status if attempt % 2 == 0 else 200, 0.0)


def start(sc, vs: str, backend_count: int = 1):
    client_node(sc, vs)
    envoy = sc.envoy()
    sc.lab.wait_hosts(envoy, sc.cluster(), {b.address for b in sc.backends[:backend_count]})
    return envoy


def setup_flaky(sc, status: int, **route):
    backend = sc.backend(every_second(status))
    service = sc.lab.cloud_map_service(sc.namespace, "backend")
    sc.lab.register(service, backend)
    target_node(sc)
    return backend, routed_service(sc, **route)


def test_default_policy_hides_a_flaky_503_backend(scenario) -> None:
    backend, vs = setup_flaky(scenario, 503)  # route without retryPolicy: App Mesh's default applies
    start(scenario, vs)
    results = scenario.lab.load(vs, REQUESTS)
    assert statuses(results) == [200] * REQUESTS
    # Each failed attempt was retried once: REQUESTS successes + the failures in between.
    assert backend.count == 2 * REQUESTS - 1


def test_default_policy_on_a_node_provided_service(scenario) -> None:
    """A virtual service whose provider is a virtual node gets the default retries too."""
    backend = scenario.backend(every_second(503))
    scenario.lab.register(scenario.lab.cloud_map_service(scenario.namespace, "backend"), backend)
    target_node(scenario)
    vs = node_service(scenario)
    start(scenario, vs)
    assert statuses(scenario.lab.load(vs, REQUESTS)) == [200] * REQUESTS
    assert backend.count == 2 * REQUESTS - 1


def test_default_policy_does_not_retry_500(scenario) -> None:
    """The default only retries 503: a 500 reaches the client after one attempt."""
    backend, vs = setup_flaky(scenario, 500)
    start(scenario, vs)
    got = statuses(scenario.lab.load(vs, REQUESTS))
    assert got == [200, 500] * (REQUESTS // 2)
    assert backend.count == REQUESTS


def test_a_policy_without_the_event_exposes_the_failures(scenario) -> None:
    """client-error retries 409 only: the 503s are no longer hidden."""
    backend, vs = setup_flaky(scenario, 503, retryPolicy=retry_policy(3, 1000, "client-error"))
    start(scenario, vs)
    assert statuses(scenario.lab.load(vs, REQUESTS)) == [200, 503] * (REQUESTS // 2)
    assert backend.count == REQUESTS


def test_max_retries_zero_exposes_and_n_hides(scenario) -> None:
    backend, vs = setup_flaky(scenario, 503, retryPolicy=retry_policy(0, 1000, "server-error"))
    start(scenario, vs)
    assert statuses(scenario.lab.load(vs, REQUESTS)) == [200, 503] * (REQUESTS // 2)
    assert backend.count == REQUESTS

    scenario.appmesh.update_route(
        meshName=scenario.mesh,
        virtualRouterName="backend-router",
        routeName="all",
        spec={
            "httpRoute": {
                "match": {"prefix": "/"},
                "action": {"weightedTargets": [{"virtualNode": "backend", "weight": 1}]},
                "retryPolicy": retry_policy(1, 1000, "server-error"),
            }
        },
    )
    scenario.envoys[0].wait_synced(15)
    backend.attempts.clear()
    assert statuses(scenario.lab.load(vs, REQUESTS)) == [200] * REQUESTS
    assert backend.count == 2 * REQUESTS - 1


def test_client_error_retries_409(scenario) -> None:
    backend, vs = setup_flaky(scenario, 409, retryPolicy=retry_policy(2, 1000, "client-error"))
    start(scenario, vs)
    assert statuses(scenario.lab.load(vs, REQUESTS)) == [200] * REQUESTS
    assert backend.count == 2 * REQUESTS - 1


def test_max_retries_and_per_retry_timeout_bound_the_attempts(scenario) -> None:
    """A backend that never answers in time: exactly 1 + maxRetries attempts, each cut at perRetryTimeout."""
    backend = scenario.backend(lambda attempt: (200, 3.0))
    scenario.lab.register(scenario.lab.cloud_map_service(scenario.namespace, "backend"), backend)
    target_node(scenario)
    vs = routed_service(
        scenario, retryPolicy=retry_policy(2, 300, "gateway-error"), timeout={"perRequest": {"unit": "s", "value": 10}}
    )
    start(scenario, vs)
    [result] = scenario.lab.load(vs, 1, timeout=15)
    assert result["status"] == 504
    assert backend.count == 3
    # Each attempt told the backend its own deadline: the per-try timeout, not the route's 10 s.
    assert {a["headers"].get("x-envoy-expected-rq-timeout-ms") for a in backend.attempts} == {"300"}
    # Three attempts of 0.3 s plus Envoy's back-off (25 ms base, jittered): far below the 10 s route timeout.
    assert 0.9 <= result["elapsed"] < 3.0, result
    gaps = [b["at"] - a["at"] for a, b in zip(backend.attempts, backend.attempts[1:])]
    assert all(0.2 <= gap < 1.0 for gap in gaps), gaps  # arrival times, so a little scheduling noise


@pytest.mark.parametrize(
    "policy, hidden",
    [
        (None, True),  # App Mesh's default includes connect-failure
        (dict(retry_policy(2, 1000, "client-error"), tcpRetryEvents=["connection-error"]), True),
        (retry_policy(2, 1000, "client-error"), False),
    ],
)
def test_connection_errors_are_retried_on_another_endpoint(scenario, policy, hidden) -> None:
    """One of two Cloud Map instances refuses connections (nothing listens there)."""
    alive = scenario.backend()
    dead = scenario.lab.backend_address(len(BACKEND_SLOTS) - 1)
    service = scenario.lab.cloud_map_service(scenario.namespace, "backend")
    scenario.lab.register(service, alive)
    scenario.lab.register(service, dead, "dead")
    target_node(scenario)
    vs = routed_service(scenario, **({"retryPolicy": policy} if policy else {}))
    client_node(scenario, vs)
    envoy = scenario.envoy()
    scenario.lab.wait_hosts(envoy, scenario.cluster(), {alive.address, dead})
    got = statuses(scenario.lab.load(vs, REQUESTS))
    if hidden:  # the retry went to the other host (previous_hosts predicate)
        assert got == [200] * REQUESTS and alive.count == REQUESTS
    else:
        assert got.count(503) >= REQUESTS // 2 - 1 and got.count(200) == alive.count
    name = f"cluster.{scenario.cluster()}.upstream_cx_connect_fail"
    assert envoy.stats(name)[name] >= 1
