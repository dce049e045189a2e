"""Health checks, outlier detection and service discovery as App Mesh's client Envoys ran them.

- HTTP health checks carry `Host: <service-discovery hostname>:<port>`, not Envoy's default (the
  cluster name `cds_egress_...`), so apps that route or check on Host answer them.
- A host outlier detection ejected stays ejected while its health check passes: App Mesh kept
  Envoy's `successful_active_health_check_uneject_host` off, so a host that fails real requests
  but answers /health is not brought back by the next check (Envoy's default would).
- Ejections are logged as they happen on Envoy's stdout (App Mesh's image set the outlier event
  log to /dev/stdout).
- A Cloud Map instance that is deregistered leaves the client's cluster at once, even while its
  health check passes (Envoy's default keeps a removed host until it fails a check).
"""

from __future__ import annotations

import json
import time

import pytest

from tests.dataplane.servers import HttpRecorder
from tests.support.waiting import wait_until

PORT = 8080
HEALTH = {
    "protocol": "http",
    "path": "/health",
    "healthyThreshold": 2,
    "unhealthyThreshold": 2,
    "intervalMillis": 5000,  # the API's minimum
    "timeoutMillis": 2000,
}


def hosts_of(envoy, cluster: str) -> dict[str, dict]:
    """Envoy's view of `cluster`: address → health flags (admin /clusters)."""
    data = json.loads(envoy.admin_get("/clusters?format=json"))
    for status in data.get("cluster_statuses", []):
        if status["name"] == cluster:
            return {
                host["address"]["socket_address"]["address"]: host.get("health_status", {})
                for host in status.get("host_statuses", [])
            }
    return {}


def client_of(scenario, service: str, hosts: dict[str, str]):
    scenario.appmesh.create_virtual_node(
        meshName=scenario.mesh,
        virtualNodeName="client",
        spec={"backends": [{"virtualService": {"virtualServiceName": service}}]},
    )
    task = scenario.task(1, hosts=hosts)
    return task, scenario.envoy(task, "client")


def provide(scenario, service: str, node: str) -> None:
    scenario.appmesh.create_virtual_service(
        meshName=scenario.mesh,
        virtualServiceName=service,
        spec={"provider": {"virtualNode": {"virtualNodeName": node}}},
    )


def cloud_map(scenario, lab, *backends: HttpRecorder) -> str:
    """A Cloud Map service named after the mesh with one instance per backend; returns its id."""
    sd = lab.aws("servicediscovery")
    namespace = f"{scenario.mesh}.ns"
    sd.create_http_namespace(Name=namespace)
    namespace_id = next(ns["Id"] for ns in sd.list_namespaces()["Namespaces"] if ns["Name"] == namespace)
    service_id = sd.create_service(Name="api", NamespaceId=namespace_id)["Service"]["Id"]
    for backend in backends:
        address = backend.http.server_address[0]
        sd.register_instance(ServiceId=service_id, InstanceId=backend.name, Attributes={"AWS_INSTANCE_IPV4": address})
    scenario.stack.callback(_delete_cloud_map, sd, service_id, namespace_id)
    return service_id


def _delete_cloud_map(sd, service_id: str, namespace_id: str) -> None:
    for instance in sd.list_instances(ServiceId=service_id)["Instances"]:
        sd.deregister_instance(ServiceId=service_id, InstanceId=instance["Id"])
    sd.delete_service(Id=service_id)
    sd.delete_namespace(Id=namespace_id)


def test_health_checks_carry_the_hostname_and_port(scenario, lab):
    api = scenario.close(HttpRecorder("api", lab.address(10), PORT))
    scenario.appmesh.create_virtual_node(
        meshName=scenario.mesh,
        virtualNodeName="api",
        spec={
            "listeners": [{"portMapping": {"port": PORT, "protocol": "http"}, "healthCheck": HEALTH}],
            "serviceDiscovery": {"dns": {"hostname": "api.dp.local"}},
        },
    )
    provide(scenario, "api.dp.local", "api")
    client_of(scenario, "api.dp.local", {"api.dp.local": lab.address(10)})
    checks = wait_until(lambda: api.hosts("/health"), 15, "the client's Envoy sent no health check")
    assert set(checks) == {"api.dp.local:8080"}  # not cds_egress_<mesh>_api_http_8080


@pytest.mark.timeout(240)
def test_an_ejected_host_stays_ejected_while_its_health_check_passes(scenario, lab):
    bad = scenario.close(
        HttpRecorder("bad", lab.address(10), PORT, answer=lambda path: 200 if path == "/health" else 500)
    )
    good = scenario.close(HttpRecorder("good", lab.address(11), PORT))
    cloud_map(scenario, lab, bad, good)
    scenario.appmesh.create_virtual_node(
        meshName=scenario.mesh,
        virtualNodeName="api",
        spec={
            "listeners": [
                {
                    "portMapping": {"port": PORT, "protocol": "http"},
                    "healthCheck": HEALTH,
                    "outlierDetection": {
                        "maxServerErrors": 2,
                        "interval": {"unit": "s", "value": 1},
                        "baseEjectionDuration": {"unit": "s", "value": 180},
                        "maxEjectionPercent": 50,
                    },
                }
            ],
            "serviceDiscovery": {"awsCloudMap": {"namespaceName": f"{scenario.mesh}.ns", "serviceName": "api"}},
        },
    )
    provide(scenario, "api.dp.local", "api")
    client, envoy = client_of(scenario, "api.dp.local", {"api.dp.local": lab.address(12)})
    cluster = f"cds_egress_{scenario.mesh}_api_http_{PORT}"
    wait_until(lambda: len(hosts_of(envoy, cluster)) == 2, 15, "Envoy did not get both instances")

    def call(count: int) -> list[int]:
        return [scenario.app(client, "get", f"http://api.dp.local:{PORT}/work")["status"] for _ in range(count)]

    call(12)  # 500 is not retried: the bad host takes consecutive errors until it is ejected
    assert bad.count("/work") == 2  # maxServerErrors
    wait_until(
        lambda: hosts_of(envoy, cluster)[bad.http.server_address[0]].get("failed_outlier_check"),
        5,
        "the failing host was not ejected",
    )
    # Envoy armed its first timer before any traffic, with the no-traffic interval (60 s): the next
    # check of the ejected host comes within about a minute, and it passes.
    checks = bad.count("/health")
    wait_until(lambda: bad.count("/health") > checks, 75, "the ejected host got no further health check")
    time.sleep(0.5)  # the check's answer reaches Envoy
    assert all(status == 200 for status in call(10))
    assert bad.count("/work") == 2  # still ejected: a passing health check did not bring it back
    flags = hosts_of(envoy, cluster)[bad.http.server_address[0]]
    assert flags.get("failed_outlier_check") and not flags.get("failed_active_health_check")
    # The ejection was logged on Envoy's stdout as it happened (the image's outlier event log).
    events = [json.loads(line) for line in envoy.log_text().splitlines() if line.startswith("{")]
    assert any(e.get("action") == "EJECT" and e.get("cluster_name") == cluster for e in events), events


def test_a_deregistered_instance_leaves_at_once_while_its_health_check_passes(scenario, lab):
    first = scenario.close(HttpRecorder("first", lab.address(10), PORT))
    second = scenario.close(HttpRecorder("second", lab.address(11), PORT))
    service_id = cloud_map(scenario, lab, first, second)
    scenario.appmesh.create_virtual_node(
        meshName=scenario.mesh,
        virtualNodeName="api",
        spec={
            "listeners": [{"portMapping": {"port": PORT, "protocol": "http"}, "healthCheck": HEALTH}],
            "serviceDiscovery": {"awsCloudMap": {"namespaceName": f"{scenario.mesh}.ns", "serviceName": "api"}},
        },
    )
    provide(scenario, "api.dp.local", "api")
    client, envoy = client_of(scenario, "api.dp.local", {"api.dp.local": lab.address(12)})
    cluster = f"cds_egress_{scenario.mesh}_api_http_{PORT}"
    both = {lab.address(10), lab.address(11)}
    wait_until(lambda: set(hosts_of(envoy, cluster)) == both, 15, "Envoy did not get both instances")
    wait_until(lambda: second.count("/health") > 0, 15, "no health check reached the second instance")
    lab.aws("servicediscovery").deregister_instance(ServiceId=service_id, InstanceId="second")
    wait_until(lambda: set(hosts_of(envoy, cluster)) == {lab.address(10)}, 10, "the deregistered host stayed")
    before = second.count("/work")
    for _ in range(6):
        assert scenario.app(client, "get", f"http://api.dp.local:{PORT}/work")["status"] == 200
    assert second.count("/work") == before and first.count("/work") >= 6
