"""The plugin's host-mode fixtures: loud failures, instances that come and go, an app that binds the wrong address."""

from __future__ import annotations

import socket
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest

from appmesh_local.proxy.host import HostModeError, lease
from appmesh_local.testing import AddressInUse
from tests.hostmode.test_run_command import api_spec

APPS = Path(__file__).parent / "apps" / "mesh_apps.py"
pytestmark = pytest.mark.timeout(120)


@contextmanager
def listening(address: str, port: int) -> Iterator[int]:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((address, port))
        sock.listen()
        yield sock.getsockname()[1]


def test_a_taken_task_address_fails_at_once(appmesh_mesh, appmesh_client, appmesh_envoy):
    appmesh_client.create_virtual_node(meshName=appmesh_mesh, virtualNodeName="api", spec=api_spec(8080))
    with lease() as free:
        address = free.placement.address
    with listening(address, 8080):
        started = time.monotonic()
        with pytest.raises(HostModeError, match=f"something already listens on {address}:8080"):
            appmesh_envoy(appmesh_mesh, virtual_node="api", address=address)
        assert time.monotonic() - started < 2


def test_a_port_taken_on_every_address_fails_within_seconds(appmesh_mesh, appmesh_client, appmesh_envoy):
    with listening("0.0.0.0", 0) as port:  # nothing on our addresses as such: the bind check finds it
        appmesh_client.create_virtual_node(meshName=appmesh_mesh, virtualNodeName="api", spec=api_spec(port))
        started = time.monotonic()
        with pytest.raises(
            AddressInUse, match=rf"lds_ingress_0.0.0.0_15000 cannot bind 127\.[0-9.]+:{port}: it is in use"
        ):
            appmesh_envoy(appmesh_mesh, virtual_node="api")
        assert time.monotonic() - started < 6


def test_a_second_gateway_on_the_same_port_is_refused(appmesh_mesh, appmesh_client, appmesh_envoy):
    """Gateways keep App Mesh's placement (127.0.0.1:<port> here) unless asked: a clash is an error, never a share."""
    with listening("127.0.0.1", 0) as port:
        pass
    for name in ("first", "second"):
        appmesh_client.create_virtual_gateway(
            meshName=appmesh_mesh,
            virtualGatewayName=name,
            spec={"listeners": [{"portMapping": {"port": port, "protocol": "http"}}]},
        )
    appmesh_envoy(appmesh_mesh, virtual_gateway="first")
    with pytest.raises(AddressInUse, match=f"127.0.0.1:{port}: it is in use"):
        appmesh_envoy(appmesh_mesh, virtual_gateway="second")
    second = appmesh_envoy(appmesh_mesh, virtual_gateway="second", host=True)  # host mode: its own address
    assert second.address != "127.0.0.1"


def test_an_instance_is_reachable_while_it_runs(appmesh_mesh, appmesh_client, appmesh_app, appmesh_envoy, tmp_path):
    for name in ("blue", "front"):
        appmesh_client.create_virtual_node(
            meshName=appmesh_mesh,
            virtualNodeName=name,
            spec={
                **api_spec(8080),
                "serviceDiscovery": {"dns": {"hostname": f"{name}.local"}},
                "backends": [{"virtualService": {"virtualServiceName": "blue.local"}}] if name == "front" else [],
            },
        )
        if name == "blue":
            appmesh_client.create_virtual_service(
                meshName=appmesh_mesh,
                virtualServiceName="blue.local",
                spec={"provider": {"virtualNode": {"virtualNodeName": "blue"}}},
            )
    front = appmesh_envoy(appmesh_mesh, virtual_node="front")
    cluster = f"cds_egress_{appmesh_mesh}_blue_http_8080"
    assert cluster_type(front, cluster) == "LOGICAL_DNS"  # no instance: App Mesh's DNS name, which fails here
    blue = appmesh_app(
        appmesh_mesh, "blue", [sys.executable, str(APPS), "colour", "blue"], env={"APP_LOG": str(tmp_path / "b")}
    )
    front.wait_synced()
    assert cluster_type(front, cluster) == "EDS" and endpoints(front, cluster) == [f"{blue.address}:8080"]
    blue.stop()
    front.wait_synced()
    assert cluster_type(front, cluster) == "LOGICAL_DNS"


def test_an_app_that_binds_every_address_is_told_what_to_do(appmesh_mesh, appmesh_client, appmesh_app):
    appmesh_client.create_virtual_node(meshName=appmesh_mesh, virtualNodeName="api", spec=api_spec(8080))
    wrong = (
        "import http.server as h; h.ThreadingHTTPServer(('0.0.0.0', 8080), h.BaseHTTPRequestHandler).serve_forever()"
    )
    with pytest.raises(RuntimeError, match=r"exited with status 1 \(it must listen on \$APPMESH_LOCAL_APP_HOST="):
        appmesh_app(appmesh_mesh, "api", [sys.executable, "-c", wrong], timeout=15)


def cluster_type(envoy, name: str) -> str:
    for section in envoy.config_dump()["configs"]:
        for item in section.get("dynamic_active_clusters", []):
            if item["cluster"]["name"] == name:
                return item["cluster"].get("type", "EDS" if "eds_cluster_config" in item["cluster"] else "")
    return ""


def endpoints(envoy, name: str) -> list[str]:
    for section in envoy.config_dump(include_eds=True)["configs"]:
        for item in section.get("dynamic_endpoint_configs", []):
            config = item["endpoint_config"]
            if config["cluster_name"] == name:
                return [
                    f"{e['endpoint']['address']['socket_address']['address']}:"
                    f"{e['endpoint']['address']['socket_address']['port_value']}"
                    for group in config.get("endpoints", [])
                    for e in group.get("lb_endpoints", [])
                ]
    return []
