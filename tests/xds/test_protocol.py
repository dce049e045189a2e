"""The ADS protocol, driven by a scripted client: ordering, subscriptions, ACK/NACK, stale nonces, garbage."""

from __future__ import annotations

import grpc
import pytest
from envoy.service.discovery.v3 import discovery_pb2

from appmesh_local.xds.proxy_config import (
    CLUSTER,
    CLUSTER_LOAD_ASSIGNMENT,
    LISTENER,
    ROUTE_CONFIGURATION,
)
from tests.xds.ads_client import AdsClient
from tests.xds.conftest import proxy
from tests.xds.resources import direct_route_config, eds_cluster, http_listener, load_assignment, simple_resources

pytestmark = pytest.mark.timeout(30)
NODE = AdsClient.node("mesh/m/virtualNode/a")


def two_routes(body: str = "x") -> dict:
    resources = simple_resources(8080, body)
    resources[LISTENER]["second"] = http_listener("second", "127.0.0.1", 8081, rds_name="rds_two")
    resources[ROUTE_CONFIGURATION]["rds_two"] = direct_route_config("rds_two", "two")
    resources[CLUSTER]["c2"] = eds_cluster("c2")
    resources[CLUSTER_LOAD_ASSIGNMENT]["c2"] = load_assignment("c2", "127.0.0.1", 2)
    return resources


@pytest.fixture
def client(xds):
    clients: list[AdsClient] = []

    def make(delta: bool = False) -> AdsClient:
        clients.append(AdsClient(xds.port, delta=delta))
        return clients[-1]

    yield make
    for c in clients:
        c.close()


def test_sotw_answers_wildcards_whole_and_named_types_by_name(xds, client):
    xds.cache.set_proxy(proxy("a"), two_routes())
    ads = client()
    ads.request(CLUSTER, node=NODE)
    cds = ads.recv()
    assert cds.type_url == CLUSTER and len(cds.resources) == 2
    ads.request(ROUTE_CONFIGURATION, names=("rds_two",))
    rds = ads.recv()
    assert [r.type_url for r in rds.resources] == [ROUTE_CONFIGURATION] and len(rds.resources) == 1
    # ACK: nothing more to say.
    ads.request(ROUTE_CONFIGURATION, names=("rds_two",), version=rds.version_info, nonce=rds.nonce)
    assert ads.recv(0.3) is None
    # The subscription grows at the same version: answered with both names.
    ads.request(
        ROUTE_CONFIGURATION, names=("rds_two", "rds_ingress_http_8080"), version=rds.version_info, nonce=rds.nonce
    )
    grown = ads.recv()
    assert grown.version_info == rds.version_info and len(grown.resources) == 2


def test_sotw_pushes_changed_types_in_envoy_order(xds, client):
    xds.cache.set_proxy(proxy("a"), simple_resources(8080, "x"))
    ads = client()
    acks = {}
    for type_url, names in (
        (LISTENER, ()),
        (CLUSTER, ()),
        (CLUSTER_LOAD_ASSIGNMENT, ("cds_egress_test_backend_http_9",)),
        (ROUTE_CONFIGURATION, ("rds_ingress_http_8080",)),
    ):
        ads.request(type_url, node=NODE, names=names)
        response = ads.recv()
        acks[type_url] = (names, response)
        ads.request(type_url, names=names, version=response.version_info, nonce=response.nonce)
    changed = two_routes("y")
    changed[LISTENER].pop("second")
    changed[ROUTE_CONFIGURATION].pop("rds_two")
    changed[CLUSTER_LOAD_ASSIGNMENT]["cds_egress_test_backend_http_9"] = load_assignment(
        "cds_egress_test_backend_http_9", "127.0.0.1", 10
    )
    xds.cache.set_proxy(proxy("a"), changed)  # CDS, EDS and RDS change; LDS does not
    order = [ads.recv().type_url for _ in range(3)]
    assert order == [CLUSTER, CLUSTER_LOAD_ASSIGNMENT, ROUTE_CONFIGURATION]
    assert ads.recv(0.3) is None


def test_sotw_stale_nonce_is_ignored_and_nack_never_resent(xds, client):
    xds.cache.set_proxy(proxy("a"), simple_resources(8080, "x"))
    ads = client()
    ads.request(LISTENER, node=NODE)
    first = ads.recv()
    xds.cache.set_proxy(proxy("a"), simple_resources(8081, "x"))
    second = ads.recv()
    assert second.version_info != first.version_info
    # An ACK of the first response arrives late: stale, ignored.
    ads.request(LISTENER, version=first.version_info, nonce=first.nonce)
    assert ads.recv(0.3) is None
    # NACK of the second: recorded, never answered with that version again.
    ads.request(LISTENER, version=first.version_info, nonce=second.nonce, error="bad listener")
    assert ads.recv(0.3) is None
    ads.request(LISTENER, version=first.version_info, nonce=second.nonce)  # even if Envoy asks again
    assert ads.recv(0.3) is None
    [stream] = xds.status.streams()
    assert stream.types["lds"].nack["version"] == second.version_info
    assert stream.types["lds"].nack["message"] == "bad listener"
    # A reconnecting Envoy (it holds a config) does not get the NACKed version either...
    again = client()
    again.request(LISTENER, node=NODE, version=first.version_info)
    assert again.recv(0.3) is None
    # ...until the snapshot changes.
    xds.cache.set_proxy(proxy("a"), simple_resources(8082, "x"))
    assert ads.recv().version_info not in (first.version_info, second.version_info)
    assert again.recv() is not None


def test_unknown_type_and_unknown_node_do_not_break_the_stream(xds, client):
    ads = client()
    ads.request("type.googleapis.com/not.a.Type", node=AdsClient.node("mesh/m/virtualNode/later"))
    ads.request(LISTENER)
    assert ads.recv(0.3) is None
    [stream] = xds.status.streams()
    assert "unsupported type" in stream.errors[0] and not stream.known
    xds.cache.set_proxy(proxy("later"), simple_resources(8080))
    assert ads.recv().type_url == LISTENER
    assert stream.known


def test_garbage_bytes_end_only_that_stream(xds, client):
    channel = grpc.insecure_channel(f"127.0.0.1:{xds.port}")
    raw = channel.stream_stream(
        "/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources",
        request_serializer=lambda b: b,
        response_deserializer=lambda b: b,
    )
    with pytest.raises(grpc.RpcError):
        list(raw(iter([b"\xff\xff\xff\xff not a protobuf"]), timeout=5))
    channel.close()
    xds.cache.set_proxy(proxy("a"), simple_resources(8080))
    ads = client()
    ads.request(LISTENER, node=NODE)
    assert ads.recv().type_url == LISTENER


def test_delta_sends_only_differences_and_removals(xds, client):
    xds.cache.set_proxy(proxy("a"), two_routes())
    ads = client(delta=True)
    ads.send(discovery_pb2.DeltaDiscoveryRequest(node=NODE, type_url=CLUSTER))
    cds = ads.recv()
    assert sorted(r.name for r in cds.resources) == ["c2", "cds_egress_test_backend_http_9"]
    ads.send(discovery_pb2.DeltaDiscoveryRequest(type_url=CLUSTER, response_nonce=cds.nonce))
    assert ads.recv(0.3) is None
    ads.send(discovery_pb2.DeltaDiscoveryRequest(type_url=ROUTE_CONFIGURATION, resource_names_subscribe=["rds_two"]))
    rds = ads.recv()
    assert [r.name for r in rds.resources] == ["rds_two"]
    # Drop cluster c2: only a removal is sent.
    smaller = two_routes()
    del smaller[CLUSTER]["c2"], smaller[CLUSTER_LOAD_ASSIGNMENT]["c2"]
    xds.cache.set_proxy(proxy("a"), smaller)
    removal = ads.recv()
    assert removal.type_url == CLUSTER and list(removal.removed_resources) == ["c2"] and not removal.resources


def test_delta_reconnect_with_current_versions_gets_nothing_resent(xds, client):
    xds.cache.set_proxy(proxy("a"), simple_resources(8080))
    ads = client(delta=True)
    ads.send(discovery_pb2.DeltaDiscoveryRequest(node=NODE, type_url=LISTENER))
    lds = ads.recv()
    held = {r.name: r.version for r in lds.resources}
    again = client(delta=True)
    again.send(discovery_pb2.DeltaDiscoveryRequest(node=NODE, type_url=LISTENER, initial_resource_versions=held))
    reply = again.recv()  # the first request of a type is always answered, here with nothing new
    assert reply.type_url == LISTENER and not reply.resources and not reply.removed_resources
