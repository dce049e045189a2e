"""Knobs App Mesh applied in the *server's* Envoy or on both sides: connection pools (the
ingress cluster's circuit breakers, docs/reference.md#connection-pools) and access logs (ingress and egress
HCMs, docs/reference.md#access-logs). Traffic enters the server task through its iptables, as in App Mesh.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.policies.conftest import APP_PORT, wait_until
from tests.policies.mesh import client_node, routed_service, statuses, target_node

pytestmark = pytest.mark.timeout(120)


def server_node(sc, logging=None, protocol="http", **listener):
    """Node `server` (Cloud Map instance = the server task), its Envoy in the server task."""
    sc.lab.register(sc.lab.cloud_map_service(sc.namespace, "server"), sc.lab.server_task.address, "server-task")
    target_node(sc, "server", service="server", logging=logging, protocol=protocol, **listener)
    return sc.envoy("server", task=sc.lab.server_task)


def ingress_cluster(sc) -> str:
    return f"cds_ingress_{sc.mesh}_server_http_{APP_PORT}"


def test_http_connection_pool_overflows_with_503_overloaded(scenario) -> None:
    envoy = server_node(scenario, connectionPool={"http": {"maxConnections": 1, "maxPendingRequests": 1}})
    scenario.lab.server_app_count(reset=True)
    results = scenario.lab.to_server_task("/sleep/1500", count=6, concurrency=6)
    ok = [r for r in results if r["status"] == 200]
    overloaded = [r for r in results if r["status"] == 503 and r["headers"].get("x-envoy-overloaded") == "true"]
    assert len(ok) + len(overloaded) == 6, results
    # At most one request on the one connection plus one pending; the rest overflow at once.
    # (Two when the first request already has its connection as the second arrives; one when
    # the first still waits for the connection, counting as the pending one.)
    assert 1 <= len(ok) <= 2 and scenario.lab.server_app_count() == len(ok), results
    assert all(r["elapsed"] < 1.0 for r in overloaded)
    name = f"cluster.{ingress_cluster(scenario)}.upstream_rq_pending_overflow"
    assert envoy.stats(name)[name] == len(overloaded) >= 4


def test_tcp_connection_pool_refuses_connections_over_the_limit(scenario) -> None:
    """tcp{maxConnections}: the ingress tcp_proxy closes connections that would open a second one."""
    envoy = server_node(scenario, protocol="tcp", connectionPool={"tcp": {"maxConnections": 1}})
    scenario.lab.server_app_count(reset=True)
    results = scenario.lab.to_server_task("/sleep/1500", count=3, concurrency=3)
    ok = [r for r in results if r["status"] == 200]
    assert len(ok) == 1 and scenario.lab.server_app_count() == 1, results
    assert all(r["status"] == 0 and r["elapsed"] < 1.0 for r in results if r not in ok), results  # closed at once
    name = f"cluster.cds_ingress_{scenario.mesh}_server_tcp_{APP_PORT}.upstream_cx_overflow"
    assert envoy.stats(name)[name] == 2


def test_without_a_connection_pool_nothing_overflows(scenario) -> None:
    """The control: App Mesh's defaults (2147483647) let all six through."""
    server_node(scenario)
    scenario.lab.server_app_count(reset=True)
    results = scenario.lab.to_server_task("/sleep/1000", count=6, concurrency=6)
    assert statuses(results) == [200] * 6 and scenario.lab.server_app_count() == 6


def test_access_logs_in_text_and_json_on_egress_and_ingress(scenario) -> None:
    egress_log = scenario.lab.workdir / f"{scenario.mesh}-egress.log"
    ingress_log = scenario.lab.workdir / f"{scenario.mesh}-ingress.log"
    server = server_node(
        scenario,
        logging={
            "accessLog": {
                "file": {
                    "path": str(ingress_log),
                    "format": {
                        "json": [
                            {"key": "code", "value": "%RESPONSE_CODE%"},
                            {"key": "path", "value": "%REQ(:PATH)%"},
                            {"key": "direction", "value": "ingress"},
                        ]
                    },
                }
            }
        },
    )
    vs = routed_service(scenario, node="server")
    client_node(
        scenario,
        vs,
        logging={
            "accessLog": {
                "file": {
                    "path": str(egress_log),
                    "format": {"text": "EGRESS %REQ(:AUTHORITY)% %REQ(:PATH)% %RESPONSE_CODE% %UPSTREAM_CLUSTER%"},
                }
            }
        },
    )
    client = scenario.envoy()
    scenario.lab.wait_hosts(client, scenario.cluster("server"), {scenario.lab.server_task.address})

    results = scenario.lab.load(vs, 2, path="/sleep/0?probe=logs")
    assert statuses(results) == [200, 200]
    assert all(r["headers"].get("x-backend") == "server-task" for r in results)

    def lines(path: Path) -> list[str]:
        return path.read_text().splitlines() if path.exists() else []

    for envoy in (client, server):  # Envoy flushes access logs every 10 s; reopening flushes now
        envoy.admin_post("/reopen_logs")
    wait_until(lambda: len(lines(egress_log)) >= 2 and len(lines(ingress_log)) >= 2, 10, "access logs not written")
    expected = f"EGRESS {vs} /sleep/0?probe=logs 200 {scenario.cluster('server')}"
    assert lines(egress_log) == [expected, expected]
    entries = [json.loads(line) for line in lines(ingress_log)]
    assert [(str(e["code"]), e["path"], e["direction"]) for e in entries] == [
        ("200", "/sleep/0?probe=logs", "ingress")
    ] * 2


def test_access_log_default_format(scenario) -> None:
    """No `format`: Envoy's default access log line, as App Mesh left it."""
    egress_log = scenario.lab.workdir / f"{scenario.mesh}-default.log"
    backend = scenario.backend()
    scenario.lab.register(scenario.lab.cloud_map_service(scenario.namespace, "backend"), backend)
    target_node(scenario)
    vs = routed_service(scenario)
    client_node(scenario, vs, logging={"accessLog": {"file": {"path": str(egress_log)}}})
    client = scenario.envoy()
    scenario.lab.wait_hosts(client, scenario.cluster(), {backend.address})
    assert statuses(scenario.lab.load(vs, 1, path="/default-format")) == [200]
    client.admin_post("/reopen_logs")
    line = wait_until(lambda: egress_log.exists() and egress_log.read_text().strip(), 10, "no access log line")
    assert line.startswith("[") and '"GET /default-format HTTP/1.1" 200' in line and f'"{vs}"' in line, line
