"""serve_in_thread(): the in-process server starts on free loopback ports and stopping frees everything."""

from __future__ import annotations

import socket
import threading
import time
import urllib.request

import grpc
import pytest

import appmesh_local
from appmesh_local.testing import serve_in_thread

pytestmark = pytest.mark.timeout(60)


def accepts_connections(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def bindable(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # TIME_WAIT is not "in use"
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def server_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t is not threading.main_thread() and t.is_alive()}


def test_exported_from_the_package():
    assert appmesh_local.serve_in_thread is serve_in_thread


def test_stop_closes_both_ports_and_ends_every_thread():
    before = server_threads()
    with serve_in_thread() as server:
        client = server.client()
        client.create_mesh(meshName="m")  # a keep-alive connection stays open in the client's pool
        channel = grpc.insecure_channel(f"127.0.0.1:{server.xds_port}")
        grpc.channel_ready_future(channel).result(timeout=5)
        channel.close()
        ports = (server.api_port, server.xds_port)
        assert all(accepts_connections(p) for p in ports)
        assert server_threads() - before
    deadline = time.monotonic() + 5
    while server_threads() - before and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not server_threads() - before, [t.name for t in server_threads() - before]
    assert not any(accepts_connections(p) for p in ports)
    assert all(bindable(p) for p in ports)


def test_two_servers_side_by_side_have_separate_state():
    with serve_in_thread() as one, serve_in_thread() as two:
        assert len({one.api_port, one.xds_port, two.api_port, two.xds_port}) == 4
        one.client().create_mesh(meshName="only-in-one")
        assert two.client().list_meshes()["meshes"] == []


def test_api_only_mode_has_no_xds_port():
    with serve_in_thread(xds=False) as server:
        assert server.xds_port is None
        assert server.status() == {"xds": "disabled"}
        with urllib.request.urlopen(f"{server.endpoint}/_appmesh-local/health", timeout=5) as response:
            assert response.status == 200


def test_state_dir_keeps_state_across_restarts(tmp_path):
    with serve_in_thread(state_dir=tmp_path) as server:
        server.client().create_mesh(meshName="kept")
    with serve_in_thread(state_dir=tmp_path) as server:
        assert [m["meshName"] for m in server.client().list_meshes()["meshes"]] == ["kept"]


def test_client_account_follows_the_access_key():
    with serve_in_thread(xds=False) as server:
        server.client(access_key="111122223333").create_mesh(meshName="m")
        arn = server.client(access_key="111122223333").describe_mesh(meshName="m")["mesh"]["metadata"]["arn"]
        assert arn == "arn:aws:appmesh:us-east-1:111122223333:mesh/m"
        assert server.client().list_meshes()["meshes"] == []
