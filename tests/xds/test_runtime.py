"""XdsRuntime: a background gRPC loop a sync program can start and stop; bind failures are reported."""

from __future__ import annotations

import socket
import threading

import pytest

from appmesh_local.bridge.runtime import XdsRuntime
from tests.xds.ads_client import AdsClient
from tests.xds.conftest import proxy
from tests.xds.resources import simple_resources

pytestmark = pytest.mark.timeout(30)


def test_start_serve_stop_leaves_no_thread():
    before = {t.name for t in threading.enumerate()}
    runtime = XdsRuntime(port=0).start()
    assert runtime.port and runtime.status_snapshot()["server"]["port"] == runtime.port
    runtime.cache.set_proxy(proxy("a"), simple_resources(8080))
    client = AdsClient(runtime.port)
    client.request("type.googleapis.com/envoy.config.listener.v3.Listener", node=AdsClient.node("mesh/m/virtualNode/a"))
    assert client.recv() is not None
    runtime.stop(grace=0.1)
    client.close()
    assert "appmesh-xds-grpc" not in {t.name for t in threading.enumerate()} - before
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", runtime.port), timeout=1).close()


def test_a_taken_port_is_an_error():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with pytest.raises(RuntimeError, match="xDS server failed to start"):
            XdsRuntime(port=taken.getsockname()[1]).start()
