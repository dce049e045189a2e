"""Knobs that choose among several Cloud Map endpoints: outlier detection, active health checks,
and the instance list itself (register / deregister reach a running Envoy, no restart).

As in App Mesh (docs/reference.md#outlier-detection, #health-checks), the *server* node's listener declares them, the *clients'* egress
cluster for that node enforces them. Every count below is taken at the backends.
"""

from __future__ import annotations

import pytest

from tests.policies.conftest import HEALTH_PATH, wait_until
from tests.policies.mesh import client_node, routed_service, statuses, target_node

pytestmark = pytest.mark.timeout(120)


def three_backends(sc, bad_behaviour=None, **listener):
    """Backends b0, b1 (healthy) and b2 (`bad_behaviour`), all instances of one Cloud Map service."""
    service = sc.lab.cloud_map_service(sc.namespace, "backend")
    made = [sc.backend(), sc.backend(), sc.backend(bad_behaviour) if bad_behaviour else sc.backend()]
    for backend in made:
        sc.lab.register(service, backend)
    target_node(sc, **listener)
    vs = routed_service(sc)
    client_node(sc, vs)
    return service, made, vs


def test_outlier_detection_ejects_the_failing_endpoint(scenario) -> None:
    outlier = {
        "maxServerErrors": 2,
        "interval": {"unit": "s", "value": 1},
        "baseEjectionDuration": {"unit": "s", "value": 60},
        "maxEjectionPercent": 50,
    }
    _, (good1, good2, bad), vs = three_backends(scenario, lambda attempt: (500, 0.0), outlierDetection=outlier)
    envoy = scenario.envoy()
    scenario.lab.wait_hosts(envoy, scenario.cluster(), {good1.address, good2.address, bad.address})

    got = statuses(scenario.lab.load(vs, 30))
    # 500 is not in App Mesh's default retry events: each of the bad host's answers reaches the
    # client, and after maxServerErrors consecutive ones the host is ejected.
    assert bad.count == 2 and got.count(500) == 2
    assert got.count(200) == 28 and good1.count + good2.count == 28
    assert got[-20:] == [200] * 20
    assert scenario.lab.hosts(envoy, scenario.cluster())[bad.address].get("failed_outlier_check") is True
    stats = envoy.stats(f"cluster.{scenario.cluster()}.outlier_detection.ejections_enforced_consecutive_5xx")
    assert stats[f"cluster.{scenario.cluster()}.outlier_detection.ejections_enforced_consecutive_5xx"] == 1


def test_without_outlier_detection_the_failing_endpoint_keeps_its_share(scenario) -> None:
    """The control: the same backends, no outlierDetection, and b2 keeps getting a third."""
    _, (good1, good2, bad), vs = three_backends(scenario, lambda attempt: (500, 0.0))
    envoy = scenario.envoy()
    scenario.lab.wait_hosts(envoy, scenario.cluster(), {good1.address, good2.address, bad.address})
    got = statuses(scenario.lab.load(vs, 30))
    assert bad.count >= 6 and got.count(500) == bad.count


def test_health_check_keeps_traffic_off_an_unhealthy_endpoint(scenario) -> None:
    health = {
        "protocol": "http",
        "path": HEALTH_PATH,
        "intervalMillis": 5000,
        "timeoutMillis": 2000,
        "healthyThreshold": 2,
        "unhealthyThreshold": 2,
    }
    service = scenario.lab.cloud_map_service(scenario.namespace, "backend")
    good1, good2, sick = scenario.backend(), scenario.backend(), scenario.backend()
    sick.healthy = False  # answers 503 on the health path, 200 on everything else
    for backend in (good1, good2, sick):
        scenario.lab.register(service, backend)
    target_node(scenario, healthCheck=health)
    vs = routed_service(scenario)
    client_node(scenario, vs)
    envoy = scenario.envoy()
    scenario.lab.wait_hosts(envoy, scenario.cluster(), {good1.address, good2.address, sick.address})
    wait_until(
        lambda: scenario.lab.hosts(envoy, scenario.cluster())[sick.address].get("failed_active_health_check"),
        10,
        "the sick endpoint was never marked unhealthy",
    )

    assert statuses(scenario.lab.load(vs, 20)) == [200] * 20
    assert sick.count == 0 and good1.count + good2.count == 20 and good1.count > 0 and good2.count > 0
    # The client's Envoy ran the checks (on the configured path) against every endpoint.
    assert sick.health_checks >= 1 and good1.health_checks >= 1 and good2.health_checks >= 1
    name = f"cluster.{scenario.cluster()}.health_check.failure"
    assert envoy.stats(name)[name] >= 1


def test_registering_and_deregistering_instances_changes_the_rotation(scenario) -> None:
    service = scenario.lab.cloud_map_service(scenario.namespace, "backend")
    first, second = scenario.backend(), scenario.backend()
    scenario.lab.register(service, first)
    target_node(scenario)
    vs = routed_service(scenario)
    client_node(scenario, vs)
    envoy = scenario.envoy()
    pid = envoy.process.proc.pid
    scenario.lab.wait_hosts(envoy, scenario.cluster(), {first.address})
    assert statuses(scenario.lab.load(vs, 6)) == [200] * 6
    assert (first.count, second.count) == (6, 0)

    scenario.lab.register(service, second)  # boto3 servicediscovery against appmesh-local's port
    scenario.lab.wait_hosts(envoy, scenario.cluster(), {first.address, second.address})
    assert statuses(scenario.lab.load(vs, 10)) == [200] * 10
    assert first.count + second.count == 16 and 4 <= second.count <= 6  # round robin over both

    scenario.lab.deregister(service, first.name)
    scenario.lab.wait_hosts(envoy, scenario.cluster(), {second.address})
    before = (first.count, second.count)
    assert statuses(scenario.lab.load(vs, 6)) == [200] * 6
    assert (first.count, second.count) == (before[0], before[1] + 6)

    # The last instance gone: no endpoint, Envoy answers 503 itself and no backend is called.
    scenario.lab.deregister(service, second.name)
    scenario.lab.wait_hosts(envoy, scenario.cluster(), set())
    [result] = scenario.lab.load(vs, 1)
    assert result["status"] == 503 and (first.count, second.count) == (before[0], before[1] + 6)

    # Only endpoints moved: same Envoy process, the cluster itself was never replaced (no re-warm).
    assert envoy.process.proc.pid == pid and envoy.process.alive()
    name = f"cluster.{scenario.cluster()}.membership_change"
    assert envoy.stats(name)[name] >= 3
    added = envoy.stats("cluster_manager.cluster_added")["cluster_manager.cluster_added"]
    modified = envoy.stats("cluster_manager.cluster_modified")["cluster_manager.cluster_modified"]
    assert modified == 0, "a Cloud Map change re-created clusters instead of only pushing endpoints"
    assert added >= 1


def test_attributes_filter_instances(scenario) -> None:
    """awsCloudMap `attributes`: only instances carrying every listed pair become endpoints."""
    service = scenario.lab.cloud_map_service(scenario.namespace, "backend")
    blue, green = scenario.backend(), scenario.backend()
    scenario.lab.register(service, blue, stage="blue")
    scenario.lab.register(service, green, stage="green")
    scenario.appmesh.create_virtual_node(
        meshName=scenario.mesh,
        virtualNodeName="backend",
        spec={
            "listeners": [{"portMapping": {"port": 8080, "protocol": "http"}}],
            "serviceDiscovery": {
                "awsCloudMap": {
                    "namespaceName": scenario.namespace,
                    "serviceName": "backend",
                    "attributes": [{"key": "stage", "value": "green"}],
                }
            },
        },
    )
    vs = routed_service(scenario)
    client_node(scenario, vs)
    envoy = scenario.envoy()
    scenario.lab.wait_hosts(envoy, scenario.cluster(), {green.address})
    assert statuses(scenario.lab.load(vs, 4)) == [200] * 4
    assert (blue.count, green.count) == (0, 4)


def test_cloud_map_custom_health_status_removes_and_restores_an_endpoint(scenario) -> None:
    """Only HEALTHY/UNKNOWN instances are discovered (DiscoverInstances' default, docs/reference.md#uncertain)."""
    service = scenario.lab.cloud_map_service(
        scenario.namespace, "backend", HealthCheckCustomConfig={"FailureThreshold": 1}
    )
    first, second = scenario.backend(), scenario.backend()
    for backend in (first, second):
        scenario.lab.register(service, backend)
    target_node(scenario)
    vs = routed_service(scenario)
    client_node(scenario, vs)
    envoy = scenario.envoy()
    scenario.lab.wait_hosts(envoy, scenario.cluster(), {first.address, second.address})

    sd = scenario.lab.aws("servicediscovery")
    sd.update_instance_custom_health_status(ServiceId=service, InstanceId=second.name, Status="UNHEALTHY")
    scenario.lab.wait_hosts(envoy, scenario.cluster(), {first.address})
    before = second.count
    assert statuses(scenario.lab.load(vs, 6)) == [200] * 6
    assert second.count == before

    sd.update_instance_custom_health_status(ServiceId=service, InstanceId=second.name, Status="HEALTHY")
    scenario.lab.wait_hosts(envoy, scenario.cluster(), {first.address, second.address})
    assert statuses(scenario.lab.load(vs, 6)) == [200] * 6
    assert second.count > before


def test_a_cloud_map_change_reaches_only_the_proxies_that_use_it(scenario) -> None:
    """Only EDS changes, and only for proxies reaching the node; no Envoy is needed to see it."""
    from appmesh_local.xds.node_id import ProxyRef

    service = scenario.lab.cloud_map_service(scenario.namespace, "backend")
    first, second = scenario.backend(), scenario.backend()
    scenario.lab.register(service, first)
    target_node(scenario)
    vs = routed_service(scenario)
    client_node(scenario, vs)
    client_node(scenario, name="bystander")  # same mesh, no backends
    xds = scenario.lab.server.server.xds
    ref = lambda name: ProxyRef("123456789012", "us-east-1", scenario.mesh, "virtualNode", name)  # noqa: E731
    assert xds.reconciler.flush(10)
    before = {name: xds.cache.get(ref(name)).versions() for name in ("client", "bystander", "backend")}

    scenario.lab.register(service, second)
    wait_until(
        lambda: xds.reconciler.flush(1) and xds.cache.get(ref("client")).versions() != before["client"],
        10,
        "the registration never reached the client's snapshot",
    )
    after = {name: xds.cache.get(ref(name)).versions() for name in ("client", "bystander", "backend")}
    assert after["bystander"] == before["bystander"] and after["backend"] == before["backend"]
    changed = {kind for kind, version in after["client"].items() if version != before["client"][kind]}
    assert changed == {"eds"}, (before["client"], after["client"])


def test_an_ejected_endpoint_returns_after_base_ejection_duration(scenario) -> None:
    """baseEjectionDuration 1 s, interval 1 s: ejected, then back in rotation within about 2 s."""
    import time

    failing = {"now": True}
    outlier = {
        "maxServerErrors": 2,
        "interval": {"unit": "ms", "value": 1000},
        "baseEjectionDuration": {"unit": "ms", "value": 1000},
        "maxEjectionPercent": 50,
    }
    _, (good1, good2, flaky), vs = three_backends(
        scenario, lambda attempt: (500 if failing["now"] else 200, 0.0), outlierDetection=outlier
    )
    envoy = scenario.envoy()
    scenario.lab.wait_hosts(envoy, scenario.cluster(), {good1.address, good2.address, flaky.address})
    scenario.lab.load(vs, 12)
    assert flaky.count == 2
    assert scenario.lab.hosts(envoy, scenario.cluster())[flaky.address].get("failed_outlier_check") is True

    failing["now"] = False  # the instance recovers; Envoy only learns of it by trying again
    ejected_at = time.monotonic()
    wait_until(
        lambda: not scenario.lab.hosts(envoy, scenario.cluster())[flaky.address].get("failed_outlier_check"),
        5,
        "the endpoint was never brought back",
    )
    assert time.monotonic() - ejected_at < 3.5
    assert statuses(scenario.lab.load(vs, 9)) == [200] * 9
    assert flaky.count >= 4  # back in the round robin
