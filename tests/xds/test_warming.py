"""No push leaves Envoy waiting: what a new or changed listener or cluster awaits always follows it.

Envoy warms a cluster or listener that arrives new or changed until the resources it names
over ADS arrive (xDS protocol, "Resource warming"); for names it already subscribes to it
asks for nothing, so a server that sends only what changed leaves it warming until the
15 s initial fetch timeout (issue 12: an `awsCloudMap` node's spec change took 15 s).
Checked for state-of-the-world and delta ADS with a scripted Envoy model (every step of a
sequence of changes must end with nothing warming), by exact responses, by the snapshot
check, and with real Envoy.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from envoy.config.core.v3 import base_pb2, config_source_pb2
from envoy.extensions.transport_sockets.tls.v3 import common_pb2, secret_pb2, tls_pb2
from google.protobuf.message import Message

from appmesh_local.xds.cache import SnapshotCache
from appmesh_local.xds.proxy_config import CLUSTER, CLUSTER_LOAD_ASSIGNMENT, LISTENER, ROUTE_CONFIGURATION, SECRET
from tests.support.server import free_port
from tests.xds.ads_client import AdsClient
from tests.xds.conftest import proxy
from tests.xds.model_envoy import ModelEnvoy
from tests.xds.resources import (
    cluster_route_config,
    direct_route_config,
    eds_cluster,
    http_listener,
    load_assignment,
    pack,
)

pytestmark = pytest.mark.timeout(60)
NODE_ID = "mesh/m/virtualNode/a"
PROTOCOLS = [pytest.param(False, id="sotw"), pytest.param(True, id="delta")]
Resources = dict[str, dict[str, Message]]


def ads_secret_config(name: str, fetch_timeout_ms: int | None = None) -> secret_pb2.SdsSecretConfig:
    source = config_source_pb2.ConfigSource(
        resource_api_version=config_source_pb2.V3, ads=config_source_pb2.AggregatedConfigSource()
    )
    if fetch_timeout_ms is not None:
        source.initial_fetch_timeout.FromMilliseconds(fetch_timeout_ms)
    return secret_pb2.SdsSecretConfig(name=name, sds_config=source)


def with_server_certificate(listener, secret: str, fetch_timeout_ms: int | None = None):
    context = tls_pb2.DownstreamTlsContext()
    context.common_tls_context.tls_certificate_sds_secret_configs.append(ads_secret_config(secret, fetch_timeout_ms))
    listener.filter_chains[0].transport_socket.CopyFrom(
        base_pb2.TransportSocket(name="envoy.transport_sockets.tls", typed_config=pack(context))
    )
    return listener


def with_trust(cluster, secret: str):
    context = tls_pb2.UpstreamTlsContext(sni="backend.local")
    context.common_tls_context.combined_validation_context.validation_context_sds_secret_config.CopyFrom(
        ads_secret_config(secret)
    )
    cluster.transport_socket.CopyFrom(
        base_pb2.TransportSocket(name="envoy.transport_sockets.tls", typed_config=pack(context))
    )
    return cluster


def certificate(name: str, marker: str) -> secret_pb2.Secret:
    return secret_pb2.Secret(
        name=name,
        tls_certificate=common_pb2.TlsCertificate(
            certificate_chain=base_pb2.DataSource(inline_string=f"chain {marker}"),
            private_key=base_pb2.DataSource(inline_string=f"key {marker}"),
        ),
    )


def trust(name: str) -> secret_pb2.Secret:
    return secret_pb2.Secret(
        name=name,
        validation_context=common_pb2.CertificateValidationContext(trusted_ca=base_pb2.DataSource(inline_string="ca")),
    )


def mesh_state(
    *,
    cluster_timeout_ms: int = 1000,
    listener_prefix: str = "l1",
    endpoint_port: int = 8080,
    body: str = "one",
    second_cluster: bool = False,
    absent_secret_listener: bool = False,
) -> Resources:
    """A proxy with a TLS listener (RDS + an ADS certificate) and a TLS EDS cluster (ADS trust)."""
    listener = with_server_certificate(http_listener(listener_prefix, "127.0.0.1", 8443, rds_name="r1"), "cert")
    listener.name = "l1"
    cluster = with_trust(eds_cluster("c1"), "trust")
    cluster.connect_timeout.FromMilliseconds(cluster_timeout_ms)
    resources: Resources = {
        LISTENER: {"l1": listener},
        CLUSTER: {"c1": cluster},
        CLUSTER_LOAD_ASSIGNMENT: {"c1": load_assignment("c1", "127.0.0.1", endpoint_port)},
        ROUTE_CONFIGURATION: {"r1": direct_route_config("r1", body)},
        SECRET: {"cert": certificate("cert", "1"), "trust": trust("trust")},
    }
    if second_cluster:
        resources[CLUSTER]["c2"] = eds_cluster("c2")
        resources[CLUSTER_LOAD_ASSIGNMENT]["c2"] = load_assignment("c2", "127.0.0.1", 9090)
    if absent_secret_listener:
        # An ACM certificate not issued yet: named, not in the snapshot, marked as not awaited.
        resources[LISTENER]["l2"] = with_server_certificate(
            http_listener("l2", "127.0.0.1", 8444, body="two"), "not-issued", fetch_timeout_ms=1
        )
    return resources


STEPS = [
    ("start", {}),
    ("a cluster changes, its endpoints do not", {"cluster_timeout_ms": 2000}),
    ("a listener changes, its routes and certificate do not", {"cluster_timeout_ms": 2000, "listener_prefix": "l1b"}),
    ("a new EDS cluster", {"cluster_timeout_ms": 2000, "listener_prefix": "l1b", "second_cluster": True}),
    ("only endpoints change", {"cluster_timeout_ms": 2000, "listener_prefix": "l1b", "endpoint_port": 8081}),
    ("only routes change", {"cluster_timeout_ms": 2000, "listener_prefix": "l1b", "endpoint_port": 8081, "body": "2"}),
    ("a listener on a certificate not issued yet", {"absent_secret_listener": True}),
    ("everything back", {}),
]


@pytest.fixture
def models(xds):
    made: list[ModelEnvoy] = []

    def make(delta: bool) -> ModelEnvoy:
        made.append(ModelEnvoy(xds.port, NODE_ID, delta))
        return made[-1]

    yield make
    for model in made:
        model.close()


@pytest.mark.parametrize("delta", PROTOCOLS)
def test_no_push_leaves_envoy_warming(xds, models, delta):
    node = proxy("a")
    model = models(delta)
    for step, (label, state) in enumerate(STEPS):
        update = xds.cache.set_proxy(node, mesh_state(**state))
        assert update.problems == [], label
        if step == 0:
            model.start()
        model.settle()
        assert model.waiting() == {}, f"after '{label}' Envoy would still be warming {model.waiting()}"
    held_types = {t for t, named in model.held.items() if named}
    assert held_types == {CLUSTER, CLUSTER_LOAD_ASSIGNMENT, LISTENER, ROUTE_CONFIGURATION, SECRET}


@pytest.mark.parametrize("delta", PROTOCOLS)
def test_a_changed_cluster_is_followed_by_its_unchanged_endpoints_and_secret(xds, models, delta):
    node = proxy("a")
    model = models(delta)
    xds.cache.set_proxy(node, mesh_state())
    model.start()
    model.settle()
    eds_version = xds.cache.get(node).version(CLUSTER_LOAD_ASSIGNMENT)
    xds.cache.set_proxy(node, mesh_state(cluster_timeout_ms=2000))
    assert xds.cache.get(node).version(CLUSTER_LOAD_ASSIGNMENT) == eds_version  # the endpoints did not change
    pushed = model.settle()
    types = [r.type_url for r in pushed if r.resources]
    assert types == [CLUSTER, CLUSTER_LOAD_ASSIGNMENT, SECRET]
    eds = next(r for r in pushed if r.type_url == CLUSTER_LOAD_ASSIGNMENT)
    if delta:
        assert [r.name for r in eds.resources] == ["c1"]
        assert eds.system_version_info == eds_version
    else:
        assert eds.version_info == eds_version and len(eds.resources) == 1
    secrets = next(r for r in pushed if r.type_url == SECRET)
    assert (sorted(r.name for r in secrets.resources) == ["trust"]) if delta else len(secrets.resources) == 2


@pytest.mark.parametrize("delta", PROTOCOLS)
def test_a_changed_listener_is_followed_by_its_routes_and_certificate(xds, models, delta):
    node = proxy("a")
    model = models(delta)
    xds.cache.set_proxy(node, mesh_state())
    model.start()
    model.settle()
    xds.cache.set_proxy(node, mesh_state(listener_prefix="l1b"))
    pushed = model.settle()
    assert [r.type_url for r in pushed if r.resources] == [LISTENER, ROUTE_CONFIGURATION, SECRET]
    if delta:
        secrets = next(r for r in pushed if r.type_url == SECRET)
        assert [r.name for r in secrets.resources] == ["cert"]


@pytest.mark.parametrize("delta", PROTOCOLS)
def test_what_did_not_move_is_not_resent(xds, models, delta):
    """Only a listener or cluster that changed brings its dependencies again: endpoint and route
    changes push exactly their own type."""
    node = proxy("a")
    model = models(delta)
    xds.cache.set_proxy(node, mesh_state())
    model.start()
    model.settle()
    xds.cache.set_proxy(node, mesh_state(endpoint_port=9999))
    assert [r.type_url for r in model.settle()] == [CLUSTER_LOAD_ASSIGNMENT]
    xds.cache.set_proxy(node, mesh_state(endpoint_port=9999, body="other"))
    assert [r.type_url for r in model.settle()] == [ROUTE_CONFIGURATION]


def test_sotw_cluster_answer_to_a_request_brings_the_endpoints_too(xds):
    """The same rule on the request path: a CDS response sent because Envoy asked (here a
    reconnect that subscribed to endpoints first) is followed by the endpoints it awaits."""
    xds.cache.set_proxy(proxy("a"), mesh_state())
    ads = AdsClient(xds.port)
    try:
        ads.request(CLUSTER_LOAD_ASSIGNMENT, node=AdsClient.node(NODE_ID), names=("c1",))
        eds = ads.recv()
        ads.request(CLUSTER_LOAD_ASSIGNMENT, names=("c1",), version=eds.version_info, nonce=eds.nonce)
        assert ads.recv(0.3) is None
        ads.request(CLUSTER)
        assert [ads.recv().type_url, ads.recv().type_url] == [CLUSTER, CLUSTER_LOAD_ASSIGNMENT]
    finally:
        ads.close()


def test_a_snapshot_that_would_leave_envoy_waiting_is_refused():
    """The check behind every push: a secret, route configuration or endpoint set that a
    listener or cluster awaits must be in the snapshot, unless the reference says Envoy need
    not wait (a short initial fetch timeout)."""
    cache = SnapshotCache()
    node = proxy("a")
    assert cache.set_proxy(node, mesh_state()).problems == []
    missing = mesh_state()
    del missing[SECRET]["trust"]
    update = cache.set_proxy(node, missing)
    assert update.changed == []
    assert update.problems == [
        "mesh/m/virtualNode/a: cluster c1 awaits secret trust that the server does not have (kept the previous snapshot)"
    ]
    not_awaited = mesh_state(absent_secret_listener=True)
    assert cache.set_proxy(node, not_awaited).problems == []
    awaited_absent = mesh_state()
    awaited_absent[LISTENER]["l2"] = with_server_certificate(http_listener("l2", "127.0.0.1", 8444), "gone", 15000)
    assert "listener l2 awaits secret gone" in cache.set_proxy(node, awaited_absent).problems[0]


# ---- real Envoy ---------------------------------------------------------------------------
def wait_until(check, timeout: float, what: str) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if check():
            return time.monotonic() - started
        time.sleep(0.005)
    raise AssertionError(f"{what} not within {timeout} s")


def clusters_dump(envoy) -> dict:
    dump = json.loads(envoy.admin_get("/config_dump?resource=dynamic_active_clusters"))
    return {c["cluster"]["name"]: c["cluster"] for c in dump.get("configs", [])}


def warming_clusters(envoy) -> int:
    return envoy.stats("cluster_manager.warming_clusters")["cluster_manager.warming_clusters"]


@pytest.mark.parametrize("api_type", ["GRPC", "DELTA_GRPC"])
def test_envoy_applies_a_changed_eds_cluster_at_once(xds, envoy_factory, api_type, capsys):
    """The issue's case: the cluster changes, its endpoints do not. Envoy used to keep the new
    cluster warming for its 15 s initial fetch timeout while the old one served."""

    class Answer(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            self.send_response(200)
            self.send_header("content-length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args) -> None:
            pass

    app = ThreadingHTTPServer(("127.0.0.1", 0), Answer)
    threading.Thread(target=app.serve_forever, daemon=True).start()
    port = free_port()

    def state(timeout_ms: int) -> Resources:
        cluster = eds_cluster("c1")
        cluster.connect_timeout.FromMilliseconds(timeout_ms)
        return {
            LISTENER: {"l": http_listener("l", "127.0.0.1", port, rds_name="r")},
            CLUSTER: {"c1": cluster},
            CLUSTER_LOAD_ASSIGNMENT: {"c1": load_assignment("c1", "127.0.0.1", app.server_address[1])},
            ROUTE_CONFIGURATION: {"r": cluster_route_config("r", "c1")},
        }

    try:
        node = proxy("front")
        xds.cache.set_proxy(node, state(1000))
        envoy = envoy_factory(xds.port, "front", api_type=api_type)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as response:
            assert response.read() == b"ok"
        timings = []
        for timeout_ms in (2000, 3000, 4000):
            xds.cache.set_proxy(node, state(timeout_ms))
            timings.append(
                wait_until(
                    lambda t=timeout_ms: (
                        clusters_dump(envoy).get("c1", {}).get("connect_timeout") == f"{t // 1000}s"
                        and warming_clusters(envoy) == 0
                    ),
                    5,
                    "the changed cluster going active",
                )
            )
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as response:
                assert response.read() == b"ok"
        assert "initial fetch timed out" not in envoy.log_text()
        with capsys.disabled():
            print(f"\n[{api_type}] changed EDS cluster active after {[round(t * 1000) for t in timings]} ms")
    finally:
        app.shutdown()
        app.server_close()
