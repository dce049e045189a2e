"""A virtual gateway's connection pool: the self_redirect cluster's circuit breakers (docs/reference.md#virtual-gateway, #connection-pools).

The gateway's Envoy runs in the client task (no iptables act on it: App Mesh gateways have
none); requests come from this process to the task's gateway port.
"""

from __future__ import annotations

import http.client
import threading
import time

import pytest

from tests.policies.mesh import routed_service, target_node

pytestmark = pytest.mark.timeout(120)
GATEWAY_PORT = 8088


def gateway(sc, vs: str, **listener) -> None:
    sc.appmesh.create_virtual_gateway(
        meshName=sc.mesh,
        virtualGatewayName="gw",
        spec={"listeners": [{"portMapping": {"port": GATEWAY_PORT, "protocol": "http"}, **listener}]},
    )
    sc.appmesh.create_gateway_route(
        meshName=sc.mesh,
        virtualGatewayName="gw",
        gatewayRouteName="all",
        spec={
            "httpRoute": {
                "match": {"prefix": "/"},
                "action": {"target": {"virtualService": {"virtualServiceName": vs}}},
            }
        },
    )


def concurrent_gets(address: str, count: int) -> list[tuple[int, dict[str, str], float]]:
    results: list = [None] * count

    def one(index: int) -> None:
        started = time.monotonic()
        try:
            connection = http.client.HTTPConnection(address, GATEWAY_PORT, timeout=10)
            connection.request("GET", "/slow", headers={"Connection": "close"})
            response = connection.getresponse()
            response.read()
            results[index] = (
                response.status,
                {k.lower(): v for k, v in response.getheaders()},
                time.monotonic() - started,
            )
            connection.close()
        except OSError:
            results[index] = (0, {}, time.monotonic() - started)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(15)
    return results


@pytest.mark.parametrize("pool", [{"http": {"maxConnections": 1, "maxPendingRequests": 1}}, None])
def test_gateway_connection_pool(scenario, pool) -> None:
    backend = scenario.backend(lambda attempt: (200, 1.5))
    scenario.lab.register(scenario.lab.cloud_map_service(scenario.namespace, "backend"), backend)
    target_node(scenario)
    vs = routed_service(scenario)
    gateway(scenario, vs, **({"connectionPool": pool} if pool else {}))
    envoy = scenario.envoy("gw", kind="virtualGateway")
    scenario.lab.wait_hosts(envoy, scenario.cluster(), {backend.address})

    results = concurrent_gets(scenario.lab.client_task.address, 6)
    ok = [r for r in results if r[0] == 200]
    if pool is None:
        assert len(ok) == 6 and backend.count == 6, results
        return
    overloaded = [r for r in results if r[0] == 503 and r[1].get("x-envoy-overloaded") == "true"]
    assert len(ok) + len(overloaded) == 6 and 1 <= len(ok) <= 2, results
    assert backend.count == len(ok)
    assert all(r[2] < 1.0 for r in overloaded)
    name = f"cluster.cds_ingress_{scenario.mesh}_gw_self_redirect_http_15001.upstream_rq_pending_overflow"
    assert envoy.stats(name)[name] == len(overloaded)
