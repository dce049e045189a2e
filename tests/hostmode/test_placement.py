"""Host mode in the translation: placements, placed proxies, host-mode instances as endpoints, Envoy validation."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from appmesh_local.bridge.build import MeshConfigBuilder, build_mesh_config, dump_mesh_config, dump_proxy_config
from appmesh_local.ir.placement import METADATA_KEY, HostPlacement
from appmesh_local.translate.loader import snapshot_from_document
from appmesh_local.xds.node_id import NodeIdError, parse_node_id
from tests.hostmode.colourmesh import document
from tests.translate.envoy_check import ENVOY, ENVOY_MISSING, bootstrap_for

FRONT = HostPlacement.block("127.100.0.1")
BLUE = HostPlacement.block("127.100.0.5")
BLUE_TWIN = HostPlacement.block("127.100.0.9")
GATEWAY = HostPlacement.block("127.100.0.13")


def build(*placed: tuple[str, str, HostPlacement], mesh: str = "m1") -> dict[str, Any]:
    config = build_mesh_config(
        snapshot_from_document(document(mesh)), placements=[(k, n, p.key()) for k, n, p in placed]
    )
    assert config.problems == ()
    return dump_mesh_config(config)


def placed(dump: dict[str, Any], kind: str, name: str, placement: HostPlacement) -> dict[str, Any]:
    return dump["placed"][f"{kind}/{name} {placement.key()}"]


def addresses(listener: dict[str, Any]) -> list[tuple[str, int]]:
    items = [listener["address"]] + [a["address"] for a in listener.get("additionalAddresses", [])]
    return [(a["socketAddress"]["address"], a["socketAddress"]["portValue"]) for a in items]


def test_placement_keys_metadata_and_blocks():
    assert FRONT == HostPlacement("127.100.0.1", "127.100.0.2", "127.100.0.3")
    assert HostPlacement.from_key(FRONT.key()) == FRONT and HostPlacement.from_key("") is None
    assert HostPlacement.from_metadata(FRONT.metadata()) == FRONT
    with pytest.raises(ValueError, match="lacks egress_address"):
        HostPlacement.from_metadata({"address": "127.0.0.5", "app_address": "127.0.0.6"})
    with pytest.raises(ValueError, match="not an IP address"):
        HostPlacement("front.local", "127.0.0.6", "127.0.0.7")
    with pytest.raises(ValueError, match="must differ"):
        HostPlacement("127.0.0.5", "127.0.0.5", "127.0.0.7")


def test_node_metadata_places_the_proxy():
    ref = parse_node_id("mesh/m1/virtualNode/front", {METADATA_KEY: FRONT.metadata()})
    assert (ref.mesh, ref.name, ref.placement) == ("m1", "front", FRONT.key())
    assert ref.short_id() == "mesh/m1/virtualNode/front"  # App Mesh's id: unchanged
    assert parse_node_id("mesh/m1/virtualNode/front").placement == ""
    with pytest.raises(NodeIdError, match="appmesh_local.host lacks app_address"):
        parse_node_id("mesh/m1/virtualNode/front", {METADATA_KEY: {"address": "127.0.0.5"}})


def test_placed_node_keeps_app_meshs_names_and_listens_on_its_own_addresses():
    dump = build(("virtualNode", "front", FRONT))
    plain, front = dump["proxies"]["virtualNode/front"], placed(dump, "virtualNode", "front", FRONT)
    assert set(front["Listener"]) == set(plain["Listener"]) == {"lds_ingress_0.0.0.0_15000", "lds_egress_0.0.0.0_15001"}
    ingress, egress = front["Listener"]["lds_ingress_0.0.0.0_15000"], front["Listener"]["lds_egress_0.0.0.0_15001"]
    assert addresses(ingress) == [("127.100.0.1", 8080)] and "useOriginalDst" not in ingress
    assert addresses(egress) == [
        ("127.100.0.3", 15001),
        ("127.100.0.3", 7000),
        ("127.100.0.3", 8080),
        ("127.100.0.3", 9090),
    ]
    chains = {c["name"]: c["filterChainMatch"].get("destinationPort") for c in egress["filterChains"]}
    # App Mesh's chains by destination port, plus the HTTP proxy; no *.amazonaws.com pass-through.
    assert chains == {
        "egress_http_proxy": 15001,
        "egress_tcp_7000": 7000,
        "egress_http_8080": 8080,
        "egress_grpc_9090": 9090,
    }
    # The local app: its own address, its own listener port (App Mesh: 127.0.0.1:8080).
    app = front["Cluster"]["cds_ingress_m1_front_http_8080"]["loadAssignment"]["endpoints"][0]["lbEndpoints"]
    assert app[0]["endpoint"]["address"]["socketAddress"] == {"address": "127.100.0.2", "portValue": 8080}
    # Every App Mesh route configuration and egress cluster is there unchanged.
    for name, config in plain["RouteConfiguration"].items():
        assert front["RouteConfiguration"][name] == config
    for name in ("cds_egress_m1_blue_http_8080", "cds_egress_m1_greeter_grpc_9090", "cds_egress_m1_echo_tcp_7000"):
        assert front["Cluster"][name] == plain["Cluster"][name]
    assert "cds_egress_m1_amazonaws" not in front["Cluster"]


def test_the_http_proxy_hands_each_backend_port_to_the_same_envoys_egress():
    front = placed(build(("virtualNode", "front", FRONT)), "virtualNode", "front", FRONT)
    proxy = front["RouteConfiguration"]["rds_egress_http_15001"]
    routes = {v["name"]: (v["domains"], [r["name"] for r in v["routes"]]) for v in proxy["virtualHosts"]}
    assert routes == {
        "egress_7000": (["*:7000"], ["connect_7000"]),  # TCP: CONNECT tunnels only
        "egress_8080": (["*:8080"], ["connect_8080", "forward_8080"]),
        "egress_9090": (["*:9090"], ["connect_9090", "forward_9090"]),
    }
    redirect = front["Cluster"]["cds_egress_m1_front_self_redirect_9090"]["loadAssignment"]["endpoints"][0]
    assert redirect["lbEndpoints"][0]["endpoint"]["address"]["socketAddress"] == {
        "address": "127.100.0.3",
        "portValue": 9090,
    }


def test_host_mode_instances_are_where_clients_reach_a_dns_node():
    before = build()["proxies"]["virtualNode/front"]["Cluster"]["cds_egress_m1_blue_http_8080"]
    assert before["type"] == "LOGICAL_DNS"
    dump = build(("virtualNode", "blue", BLUE_TWIN), ("virtualNode", "blue", BLUE), ("virtualNode", "front", FRONT))
    for client in (dump["proxies"]["virtualNode/front"], placed(dump, "virtualNode", "front", FRONT)):
        cluster = client["Cluster"]["cds_egress_m1_blue_http_8080"]
        assert cluster["type"] == "EDS" and cluster["name"] == before["name"]
        endpoints = client["ClusterLoadAssignment"]["cds_egress_m1_blue_http_8080"]["endpoints"][0]["lbEndpoints"]
        assert [e["endpoint"]["address"]["socketAddress"] for e in endpoints] == [
            {"address": "127.100.0.5", "portValue": 8080},
            {"address": "127.100.0.9", "portValue": 8080},
        ]
    # red has no host-mode instance: still App Mesh's DNS cluster.
    assert dump["proxies"]["virtualNode/front"]["Cluster"]["cds_egress_m1_red_http_8080"]["type"] == "LOGICAL_DNS"


def test_two_meshes_of_the_same_shape_never_share_instances():
    first = build(("virtualNode", "blue", BLUE), mesh="m1")
    second = build(("virtualNode", "blue", BLUE_TWIN), mesh="m2")
    one = first["proxies"]["virtualNode/front"]["ClusterLoadAssignment"]["cds_egress_m1_blue_http_8080"]
    two = second["proxies"]["virtualNode/front"]["ClusterLoadAssignment"]["cds_egress_m2_blue_http_8080"]
    assert one["endpoints"][0]["lbEndpoints"][0]["endpoint"]["address"]["socketAddress"]["address"] == "127.100.0.5"
    assert two["endpoints"][0]["lbEndpoints"][0]["endpoint"]["address"]["socketAddress"]["address"] == "127.100.0.9"


def test_placed_gateway_binds_its_listener_on_its_address():
    gateway = placed(build(("virtualGateway", "gw", GATEWAY)), "virtualGateway", "gw", GATEWAY)
    assert addresses(gateway["Listener"]["lds_ingress_0.0.0.0_8088"]) == [("127.100.0.13", 8088)]
    assert gateway["Listener"]["lds_egress_0.0.0.0_15001"]["internalListener"] == {}


def test_a_placed_proxy_is_reused_while_its_source_is_unchanged():
    builder = MeshConfigBuilder()
    snapshot = snapshot_from_document(document("m1"))
    wanted = [("virtualNode", "front", FRONT.key())]
    first, second = builder.build(snapshot, wanted), builder.build(snapshot, wanted)
    key = ("virtualNode", "front", FRONT.key())
    assert second.placed[key] is first.placed[key]
    assert builder.build(snapshot, []).placed == {}


@pytest.mark.skipif(ENVOY is None, reason=str(ENVOY_MISSING))
def test_envoy_accepts_every_placed_proxy(tmp_path: Path):
    wanted = [
        ("virtualNode", n, HostPlacement.block(f"127.100.1.{4 * i + 1}"))
        for i, n in enumerate(("front", "blue", "red", "greeter", "echo"))
    ]
    config = build_mesh_config(
        snapshot_from_document(document("m1")),
        placements=[(k, n, p.key()) for k, n, p in [*wanted, ("virtualGateway", "gw", GATEWAY)]],
    )
    assert len(config.placed) == 6
    for (kind, name, _), proxy in sorted(config.placed.items()):
        resources = dump_proxy_config(proxy)
        for assignment in resources.get("ClusterLoadAssignment", {}).values():  # EDS inline, as ADS would send
            cluster = resources["Cluster"][assignment["clusterName"]]
            cluster.pop("edsClusterConfig")
            cluster["type"], cluster["loadAssignment"] = "STATIC", assignment
        path = tmp_path / f"{kind}-{name}.json"
        path.write_text(json.dumps(bootstrap_for(resources)))
        result = subprocess.run(
            [ENVOY, "--mode", "validate", "-c", str(path)], capture_output=True, text=True, timeout=60
        )
        assert result.returncode == 0, f"{kind}/{name}: {result.stdout[-2000:]}{result.stderr[-2000:]}"
