"""Shared by the export tests: run the CLI, and build a small mesh with a gateway in front of two apps."""

from __future__ import annotations

import socket
import subprocess
import sys
from typing import Any

from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.listener.v3 import listener_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import http_connection_manager_pb2 as hcm_pb2
from envoy.extensions.transport_sockets.tls.v3 import secret_pb2
from google.protobuf import json_format

from appmesh_local.xds.node_id import ProxyRef
from appmesh_local.xds.proxy_config import CLUSTER, CLUSTER_LOAD_ASSIGNMENT, LISTENER, ROUTE_CONFIGURATION, SECRET

ACCOUNT, REGION = "123456789012", "us-east-1"


def run_cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    """`python -m appmesh_local ARGS` as a user runs it."""
    return subprocess.run(
        [sys.executable, "-m", "appmesh_local", *args], capture_output=True, text=True, timeout=timeout
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def build_gateway_mesh(client: Any, mesh: str, v1_port: int, v2_port: int, gateway_port: int) -> None:
    """gw (gateway_port) → app.local (router: header x-version=2 → app-v2, else app-v1), plus
    a `/keep` route that keeps its prefix and a `/direct` route to a node-provided service."""
    for name, port in (("app-v1", v1_port), ("app-v2", v2_port)):
        client.create_virtual_node(
            meshName=mesh,
            virtualNodeName=name,
            spec={
                "listeners": [{"portMapping": {"port": port, "protocol": "http"}}],
                "serviceDiscovery": {"dns": {"hostname": "127.0.0.1"}},
            },
        )
    client.create_virtual_router(
        meshName=mesh,
        virtualRouterName="app-router",
        spec={"listeners": [{"portMapping": {"port": v1_port, "protocol": "http"}}]},
    )
    client.create_route(
        meshName=mesh,
        virtualRouterName="app-router",
        routeName="v2",
        spec={
            "priority": 1,
            "httpRoute": {
                "match": {"prefix": "/", "headers": [{"name": "x-version", "match": {"exact": "2"}}]},
                "action": {"weightedTargets": [{"virtualNode": "app-v2", "weight": 1}]},
            },
        },
    )
    client.create_route(
        meshName=mesh,
        virtualRouterName="app-router",
        routeName="default",
        spec={
            "priority": 2,
            "httpRoute": {
                "match": {"prefix": "/"},
                "action": {"weightedTargets": [{"virtualNode": "app-v1", "weight": 1}]},
            },
        },
    )
    client.create_virtual_service(
        meshName=mesh,
        virtualServiceName="app.local",
        spec={"provider": {"virtualRouter": {"virtualRouterName": "app-router"}}},
    )
    client.create_virtual_service(
        meshName=mesh, virtualServiceName="v2.local", spec={"provider": {"virtualNode": {"virtualNodeName": "app-v2"}}}
    )
    client.create_virtual_node(
        meshName=mesh,
        virtualNodeName="cloud-map",
        spec={
            "listeners": [{"portMapping": {"port": 9000, "protocol": "http"}}],
            "serviceDiscovery": {"awsCloudMap": {"namespaceName": "local", "serviceName": "cm"}},
        },
    )
    client.create_virtual_service(
        meshName=mesh,
        virtualServiceName="cm.local",
        spec={"provider": {"virtualNode": {"virtualNodeName": "cloud-map"}}},
    )
    client.create_virtual_node(
        meshName=mesh,
        virtualNodeName="client",
        spec={
            "backends": [
                {"virtualService": {"virtualServiceName": "app.local"}},
                {"virtualService": {"virtualServiceName": "cm.local"}},
            ]
        },
    )
    client.create_virtual_gateway(
        meshName=mesh,
        virtualGatewayName="gw",
        spec={"listeners": [{"portMapping": {"port": gateway_port, "protocol": "http"}}]},
    )
    routes = {
        "app": {
            "match": {"prefix": "/app"},
            "action": {"target": {"virtualService": {"virtualServiceName": "app.local"}}},
        },
        "keep": {
            "match": {"prefix": "/keep"},
            "action": {
                "target": {"virtualService": {"virtualServiceName": "app.local"}},
                "rewrite": {"prefix": {"defaultPrefix": "DISABLED"}},
            },
        },
        "direct": {
            "match": {"prefix": "/direct"},
            "action": {"target": {"virtualService": {"virtualServiceName": "v2.local"}}},
        },
    }
    for name, route in routes.items():
        client.create_gateway_route(
            meshName=mesh, virtualGatewayName="gw", gatewayRouteName=name, spec={"httpRoute": route}
        )


# (path, extra headers): what a user would send through the gateway
REQUESTS = [
    ("/app/hello", {}),
    ("/app/hello", {"x-version": "2"}),
    ("/app", {}),
    ("/keep/this", {}),
    ("/direct/x?q=1", {}),
    ("/nowhere", {}),
]


def served(server: Any, mesh: str, kind: str, name: str) -> dict:
    """What the xDS bridge of an in-process server holds for that proxy: type URL → name → message."""
    server.server.xds.reconciler.flush(5)
    snapshot = server.server.xds.cache.get(ProxyRef(ACCOUNT, REGION, mesh, kind, name))
    assert snapshot is not None
    return {t: {n: r.message for n, r in ts.resources.items()} for t, ts in snapshot.types.items()}


def assert_same_as_bridge(static: dict, bridge: dict) -> None:
    """An exported `static_resources` holds exactly the bridge's resources, with RDS, EDS and ADS
    secrets inlined: put each reference back and the result must equal what the bridge serves."""
    routes = bridge.get(ROUTE_CONFIGURATION, {})
    assignments = bridge.get(CLUSTER_LOAD_ASSIGNMENT, {})
    listeners = {d["name"]: json_format.ParseDict(d, listener_pb2.Listener()) for d in static["listeners"]}
    assert set(listeners) == set(bridge[LISTENER])
    inlined = set()
    for listener_name, listener in listeners.items():
        served_listener = bridge[LISTENER][listener_name]
        assert len(listener.filter_chains) == len(served_listener.filter_chains)
        for chain, served_chain in zip(listener.filter_chains, served_listener.filter_chains):
            for network_filter, served_filter in zip(chain.filters, served_chain.filters):
                if not network_filter.typed_config.Is(hcm_pb2.HttpConnectionManager.DESCRIPTOR):
                    continue
                hcm, served_hcm = hcm_pb2.HttpConnectionManager(), hcm_pb2.HttpConnectionManager()
                network_filter.typed_config.Unpack(hcm)
                served_filter.typed_config.Unpack(served_hcm)
                assert not hcm.HasField("rds") and served_hcm.HasField("rds")
                route_config = hcm.route_config
                assert route_config.name == served_hcm.rds.route_config_name
                assert route_config == routes[route_config.name]  # the RDS resource, inline
                inlined.add(route_config.name)
                hcm.rds.CopyFrom(served_hcm.rds)  # put the reference back: the rest is the bridge's HCM
                assert hcm == served_hcm
                network_filter.typed_config.Pack(served_hcm)
        assert listener == _static_secret_refs(served_listener), listener_name
    assert inlined == set(routes)

    clusters = {d["name"]: json_format.ParseDict(d, cluster_pb2.Cluster()) for d in static["clusters"]}
    assert set(clusters) == set(bridge[CLUSTER])
    for cluster_name, cluster in clusters.items():
        expected = _static_secret_refs(bridge[CLUSTER][cluster_name])
        if expected.type == cluster_pb2.Cluster.EDS:
            assert cluster.type in (cluster_pb2.Cluster.STATIC, cluster_pb2.Cluster.STRICT_DNS)
            expected.type = cluster.type
            expected.ClearField("eds_cluster_config")
            expected.load_assignment.CopyFrom(assignments[cluster_name])
        assert cluster == expected, cluster_name

    secrets = {d["name"]: json_format.ParseDict(d, secret_pb2.Secret()) for d in static.get("secrets", [])}
    assert secrets == dict(bridge.get(SECRET, {}))


def _static_secret_refs(message: Any) -> Any:
    """A copy of `message` whose ADS secret references name static secrets instead: the one
    change the export makes to transport sockets (`sds_config: {ads: {}}` dropped)."""
    from appmesh_local.export.static import _rewrite

    def detach(m: Any) -> bool:
        if (
            m.DESCRIPTOR.full_name == "envoy.extensions.transport_sockets.tls.v3.SdsSecretConfig"
            and m.HasField("sds_config")
            and m.sds_config.HasField("ads")
        ):
            m.ClearField("sds_config")
            return True
        return False

    copy = type(message)()
    copy.CopyFrom(message)
    _rewrite(copy, detach)
    return copy


def wait_until_free(address: str, port: int, timeout: float = 15.0) -> None:
    """Envoy binds with SO_REUSEPORT and would share a port someone else listens on: wait until
    nobody does (the Envoy a test just stopped), or fail saying who is in the way."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((address, port))
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise AssertionError(f"{address}:{port} stayed in use (another Envoy?)") from None
        time.sleep(0.1)
