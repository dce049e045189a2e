"""The pytest plugin as a user meets it: only its fixtures (active through the pytest11 entry point)."""

from __future__ import annotations

import socket

import pytest

from tests.plugin.echo import echo_server, get_json, wait_for_json
from tests.support.meshes import gateway_to_service

pytestmark = pytest.mark.timeout(90)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_server_fixture_is_in_process_on_loopback(appmesh_server):
    assert appmesh_server.endpoint == f"http://127.0.0.1:{appmesh_server.api_port}"
    assert isinstance(appmesh_server.xds_port, int) and appmesh_server.xds_port > 0
    assert appmesh_server.xds_port != appmesh_server.api_port


def test_client_fixture_talks_to_the_server(appmesh_client, appmesh_server):
    assert appmesh_client.meta.endpoint_url == appmesh_server.endpoint
    appmesh_client.create_mesh(meshName="plugin-client-check")
    try:
        described = appmesh_client.describe_mesh(meshName="plugin-client-check")["mesh"]
        assert described["metadata"]["arn"] == "arn:aws:appmesh:us-east-1:123456789012:mesh/plugin-client-check"
    finally:
        appmesh_client.delete_mesh(meshName="plugin-client-check")


def test_mesh_fixture_is_fresh_and_named_after_the_test(appmesh_mesh, appmesh_client):
    assert appmesh_mesh.startswith("test_mesh_fixture_is_fresh_and_named_after_the_test-")
    assert appmesh_client.describe_mesh(meshName=appmesh_mesh)["mesh"]["status"]["status"] == "ACTIVE"
    assert appmesh_client.list_virtual_nodes(meshName=appmesh_mesh)["virtualNodes"] == []


@pytest.mark.parametrize("round_", [1, 2])
def test_mesh_fixture_gives_each_test_its_own_mesh(appmesh_mesh, appmesh_client, round_):
    # The same resource names in every round: they would conflict if meshes were shared.
    appmesh_client.create_virtual_node(meshName=appmesh_mesh, virtualNodeName="app", spec={})
    meshes = [m["meshName"] for m in appmesh_client.list_meshes()["meshes"]]
    assert not [m for m in meshes if m.startswith("test_mesh_fixture_gives_each_test") and m != appmesh_mesh]


def test_mesh_fixture_tolerates_a_test_that_deletes_its_mesh(appmesh_mesh, appmesh_client):
    appmesh_client.delete_mesh(meshName=appmesh_mesh)


def test_envoy_fixture_applies_the_nodes_config_and_follows_changes(appmesh_mesh, appmesh_client, appmesh_envoy):
    appmesh_client.create_virtual_node(
        meshName=appmesh_mesh,
        virtualNodeName="app",
        spec={
            "listeners": [{"portMapping": {"port": 8080, "protocol": "http"}}],
            "serviceDiscovery": {"dns": {"hostname": "127.0.0.1"}},
        },
    )
    envoy = appmesh_envoy(appmesh_mesh, virtual_node="app")
    dump = envoy.config_dump()
    listeners = _listeners(dump)
    # Host mode (a virtual node's default): App Mesh's names on the proxy's own loopback addresses.
    assert listeners["lds_ingress_0.0.0.0_15000"] == envoy.address == envoy.placement.address
    assert listeners["lds_egress_0.0.0.0_15001"] == envoy.placement.egress_address
    assert envoy.address.startswith("127.") and envoy.address != "127.0.0.1"
    assert f"cds_ingress_{appmesh_mesh}_app_http_8080" in _clusters(dump)

    appmesh_client.create_virtual_node(
        meshName=appmesh_mesh,
        virtualNodeName="db",
        spec={
            "listeners": [{"portMapping": {"port": 5432, "protocol": "tcp"}}],
            "serviceDiscovery": {"dns": {"hostname": "127.0.0.1"}},
        },
    )
    appmesh_client.create_virtual_service(
        meshName=appmesh_mesh,
        virtualServiceName="db.local",
        spec={"provider": {"virtualNode": {"virtualNodeName": "db"}}},
    )
    appmesh_client.update_virtual_node(
        meshName=appmesh_mesh,
        virtualNodeName="app",
        spec={
            "listeners": [{"portMapping": {"port": 8080, "protocol": "http"}}],
            "serviceDiscovery": {"dns": {"hostname": "127.0.0.1"}},
            "backends": [{"virtualService": {"virtualServiceName": "db.local"}}],
        },
    )
    envoy.wait_synced()
    assert f"cds_egress_{appmesh_mesh}_db_tcp_5432" in _clusters(envoy.config_dump())


def test_envoy_fixture_gateway_carries_traffic(appmesh_mesh, appmesh_client, appmesh_envoy):
    gateway_port = free_port()
    with echo_server("app") as app_port:
        appmesh_client.create_virtual_node(
            meshName=appmesh_mesh,
            virtualNodeName="app",
            spec={
                "listeners": [{"portMapping": {"port": app_port, "protocol": "http"}}],
                "serviceDiscovery": {"dns": {"hostname": "127.0.0.1"}},
            },
        )
        appmesh_client.create_virtual_service(
            meshName=appmesh_mesh,
            virtualServiceName="app.local",
            spec={"provider": {"virtualNode": {"virtualNodeName": "app"}}},
        )
        gateway_to_service(appmesh_client, appmesh_mesh, gateway_port, "app.local", route="to-app", prefix="/app")
        appmesh_envoy(appmesh_mesh, virtual_gateway="gw")
        body = wait_for_json(f"http://127.0.0.1:{gateway_port}/app/hello")
        assert body == {"server": "app", "path": "/hello", "host": "app.local"}
        status, _ = get_json(f"http://127.0.0.1:{gateway_port}/elsewhere")
        assert status == 404


def test_envoy_fixture_reports_a_proxy_the_server_does_not_know(appmesh_mesh, appmesh_envoy):
    from appmesh_local.testing import ProxyNotConfigured

    with pytest.raises(ProxyNotConfigured, match="no-such-node"):
        appmesh_envoy(appmesh_mesh, virtual_node="no-such-node", timeout=10)


def _listeners(dump: dict) -> dict[str, str]:
    out = {}
    for section in dump["configs"]:
        for item in section.get("dynamic_listeners", []):
            listener = item["active_state"]["listener"]
            out[listener["name"]] = listener["address"]["socket_address"]["address"]
    return out


def _clusters(dump: dict) -> set[str]:
    return {
        item["cluster"]["name"] for section in dump["configs"] for item in section.get("dynamic_active_clusters", [])
    }


def _gateway_mesh(client, mesh: str, app_port: int, gateway_port: int) -> None:
    """A gateway on `gateway_port` whose one route sends everything to a node on `app_port`."""
    client.create_virtual_node(
        meshName=mesh,
        virtualNodeName="app",
        spec={
            "listeners": [{"portMapping": {"port": app_port, "protocol": "http"}}],
            "serviceDiscovery": {"dns": {"hostname": "127.0.0.1"}},
        },
    )
    client.create_virtual_service(
        meshName=mesh, virtualServiceName="app.local", spec={"provider": {"virtualNode": {"virtualNodeName": "app"}}}
    )
    gateway_to_service(client, mesh, gateway_port, "app.local")


def test_two_gateways_of_two_meshes_each_reach_their_own_backend(appmesh_mesh, appmesh_client, appmesh_envoy):
    # Issue 11's reproduction: both gateways used to need 127.0.0.1:15001 for their way back into
    # themselves; the second one's LDS was NACKed and its traffic answered by the first mesh's backend.
    from appmesh_local.testing import delete_mesh_tree

    other = f"{appmesh_mesh}-b"
    appmesh_client.create_mesh(meshName=other)
    try:
        with echo_server("mesh-a") as port_a, echo_server("mesh-b") as port_b:
            gateway_a, gateway_b = free_port(), free_port()
            _gateway_mesh(appmesh_client, appmesh_mesh, port_a, gateway_a)
            _gateway_mesh(appmesh_client, other, port_b, gateway_b)
            envoys = [appmesh_envoy(appmesh_mesh, virtual_gateway="gw"), appmesh_envoy(other, virtual_gateway="gw")]
            for envoy in envoys:
                [egress] = [
                    item["active_state"]["listener"]
                    for section in envoy.config_dump()["configs"]
                    for item in section.get("dynamic_listeners", [])
                    if item["name"] == "lds_egress_0.0.0.0_15001"
                ]
                assert "internal_listener" in egress and "address" not in egress  # binds no port at all
            wait_for_json(f"http://127.0.0.1:{gateway_a}/ready")
            wait_for_json(f"http://127.0.0.1:{gateway_b}/ready")
            for round_ in range(50):
                assert get_json(f"http://127.0.0.1:{gateway_a}/r{round_}")[1]["server"] == "mesh-a"
                assert get_json(f"http://127.0.0.1:{gateway_b}/r{round_}")[1]["server"] == "mesh-b"
            for envoy in envoys:
                assert envoy.stats("http.egress.downstream_rq_total")["http.egress.downstream_rq_total"] >= 50
    finally:
        delete_mesh_tree(appmesh_client, other)
