"""Cloud Map instances → EDS endpoints of the clients' egress clusters (translator level).

Traffic-level proofs (register/deregister reaching a running Envoy) are in test_cloudmap_traffic.py.
"""

from __future__ import annotations

from dataclasses import dataclass

from appmesh_local.bridge.build import MeshConfigBuilder
from appmesh_local.translate.loader import snapshot_from_document
from appmesh_local.xds.proxy_config import CLUSTER, CLUSTER_LOAD_ASSIGNMENT

CLUSTER_NAME = "cds_egress_m_backend_http_8080"


@dataclass(frozen=True)
class FakeInstance:
    instance_id: str
    ipv4: str | None
    ipv6: str | None = None


class FakeCloudMap:
    """Answers DiscoverInstances from a dict and records every call."""

    def __init__(self) -> None:
        self.instances: dict[tuple[str, str], list[FakeInstance]] = {}
        self.calls: list[tuple] = []

    def __call__(self, account, region, namespace, service, attributes):
        self.calls.append((account, region, namespace, service, dict(attributes)))
        return list(self.instances.get((namespace, service), []))


def document(ip_preference: str | None = None, node_preference: str | None = None) -> dict:
    cloud_map = {
        "namespaceName": "apps.local",
        "serviceName": "backend",
        "attributes": [{"key": "stage", "value": "blue"}],
    }
    if node_preference:
        cloud_map["ipPreference"] = node_preference
    mesh_spec = {"serviceDiscovery": {"ipPreference": ip_preference}} if ip_preference else {}
    return {
        "mesh": {"meshName": "m", "spec": mesh_spec},
        "virtualNodes": [
            {
                "virtualNodeName": "backend",
                "spec": {
                    "listeners": [{"portMapping": {"port": 8080, "protocol": "http"}}],
                    "serviceDiscovery": {"awsCloudMap": cloud_map},
                },
            },
            {
                "virtualNodeName": "client",
                "spec": {"backends": [{"virtualService": {"virtualServiceName": "backend.apps.local"}}]},
            },
        ],
        "virtualServices": [
            {
                "virtualServiceName": "backend.apps.local",
                "spec": {"provider": {"virtualNode": {"virtualNodeName": "backend"}}},
            }
        ],
    }


def endpoints(config) -> list[tuple[str, int]]:
    assignment = config.proxies[("virtualNode", "client")].resources[CLUSTER_LOAD_ASSIGNMENT][CLUSTER_NAME]
    return [
        (lb.endpoint.address.socket_address.address, lb.endpoint.address.socket_address.port_value)
        for group in assignment.endpoints
        for lb in group.lb_endpoints
    ]


def test_instances_become_endpoints_on_the_listener_port() -> None:
    cloud_map = FakeCloudMap()
    cloud_map.instances[("apps.local", "backend")] = [
        FakeInstance("a", "198.51.100.5"),
        FakeInstance("b", "198.51.100.6", "2001:db8::6"),
    ]
    config = MeshConfigBuilder(cloud_map=cloud_map).build(snapshot_from_document(document()))
    assert endpoints(config) == [("198.51.100.5", 8080), ("198.51.100.6", 8080)]
    # The node's attributes are the DiscoverInstances filter, asked in the mesh owner's account.
    assert ("123456789012", "us-east-1", "apps.local", "backend", {"stage": "blue"}) in cloud_map.calls
    cluster = config.proxies[("virtualNode", "client")].resources[CLUSTER][CLUSTER_NAME]
    assert cluster.type == cluster.EDS and cluster.eds_cluster_config.eds_config.HasField("ads")


def test_ip_preference_picks_the_family() -> None:
    cloud_map = FakeCloudMap()
    cloud_map.instances[("apps.local", "backend")] = [
        FakeInstance("a", "198.51.100.5"),
        FakeInstance("b", "198.51.100.6", "2001:db8::6"),
        FakeInstance("c", None, "2001:db8::7"),
    ]
    build = lambda doc: endpoints(MeshConfigBuilder(cloud_map=cloud_map).build(snapshot_from_document(doc)))  # noqa: E731
    assert [a for a, _ in build(document("IPv6_PREFERRED"))] == ["198.51.100.5", "2001:db8::6", "2001:db8::7"]
    assert [a for a, _ in build(document("IPv4_ONLY"))] == ["198.51.100.5", "198.51.100.6"]
    assert [a for a, _ in build(document("IPv6_ONLY"))] == ["2001:db8::6", "2001:db8::7"]
    # The node's own preference wins over the mesh's.
    assert [a for a, _ in build(document("IPv6_ONLY", node_preference="IPv4_PREFERRED"))] == [
        "198.51.100.5",
        "198.51.100.6",
        "2001:db8::7",
    ]


def test_a_changed_instance_list_rebuilds_only_the_assignment() -> None:
    cloud_map = FakeCloudMap()
    cloud_map.instances[("apps.local", "backend")] = [FakeInstance("a", "198.51.100.5")]
    builder = MeshConfigBuilder(cloud_map=cloud_map)
    snapshot = snapshot_from_document(document())
    first = builder.build(snapshot)
    assert builder.build(snapshot).proxies[("virtualNode", "client")] is first.proxies[("virtualNode", "client")]

    cloud_map.instances[("apps.local", "backend")].append(FakeInstance("b", "198.51.100.6"))
    second = builder.build(snapshot)
    assert endpoints(second) == [("198.51.100.5", 8080), ("198.51.100.6", 8080)]
    old, new = first.proxies[("virtualNode", "client")], second.proxies[("virtualNode", "client")]
    assert new.resources[CLUSTER][CLUSTER_NAME] == old.resources[CLUSTER][CLUSTER_NAME]  # no cluster re-warm
    assert second.proxies[("virtualNode", "backend")] is first.proxies[("virtualNode", "backend")]


def test_without_a_lookup_the_assignment_is_empty() -> None:
    config = MeshConfigBuilder().build(snapshot_from_document(document()))
    assert endpoints(config) == []
