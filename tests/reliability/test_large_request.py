"""A huge request costs its own sender time, never everyone else's.

The probe's CreateVirtualNode with 100,000 listeners blocked every API call for ~78 s: a
quadratic duplicate-port check ran inside the store's write transaction. Now validation
and spec rules run before the transaction in linear time, the body is parsed on a worker
thread in a way that lets other threads run, and calls on other connections keep being
answered within 100 ms meanwhile. The server runs in its own process, as users run it.
"""

from __future__ import annotations

import http.client
import json
import threading
import time

import pytest

from tests.conftest import make_client
from tests.support.server import ServerProcess

pytestmark = pytest.mark.timeout(300)


def listeners_body(count: int, distinct: bool) -> bytes:
    listeners = [
        {"portMapping": {"port": 1 + (i if distinct else i % 65535), "protocol": "http"}} for i in range(count)
    ]
    spec = {"listeners": listeners, "serviceDiscovery": {"dns": {"hostname": "big.local"}}}
    return json.dumps({"virtualNodeName": f"big-{count}", "spec": spec}, separators=(",", ":")).encode()


def send_while_measuring(server: ServerProcess, body: bytes) -> tuple[int, list[float], bytes]:
    """PUT `body` from a thread; meanwhile another client's calls are timed. (status, latencies, answer)."""
    answer: dict[str, object] = {}

    def big() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=240)
        connection.request("PUT", "/v20190125/meshes/m/virtualNodes", body=body)
        response = connection.getresponse()
        answer["status"], answer["body"] = response.status, response.read()
        connection.close()

    client = make_client(server.endpoint)
    client.describe_mesh(meshName="m")  # connection open and warm
    sender = threading.Thread(target=big)
    latencies: list[float] = []
    sender.start()
    while sender.is_alive() and len(latencies) < 100_000:
        started = time.monotonic()
        client.describe_mesh(meshName="m")
        latencies.append(time.monotonic() - started)
    sender.join(240)
    client.close()
    return int(answer["status"]), latencies, answer["body"]  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def server():
    with ServerProcess() as process:
        make_client(process.endpoint).create_mesh(meshName="m")
        yield process


def test_a_100000_listener_request_leaves_other_calls_answered_within_100_ms(server):
    status, latencies, answer = send_while_measuring(server, listeners_body(100_000, distinct=False))
    assert status == 400
    assert b"listeners must use distinct ports" in answer
    assert len(latencies) >= 5, "the large request finished before any other call could be timed"
    assert max(latencies) < 0.1, f"slowest concurrent call {max(latencies) * 1e3:.0f} ms of {len(latencies)}"


def test_a_large_valid_request_is_stored_while_other_calls_stay_answered(server):
    status, latencies, _ = send_while_measuring(server, listeners_body(5_000, distinct=True))
    assert status == 200
    assert max(latencies) < 0.1, f"slowest concurrent call {max(latencies) * 1e3:.0f} ms of {len(latencies)}"
    node = make_client(server.endpoint).describe_virtual_node(meshName="m", virtualNodeName="big-5000")
    assert len(node["virtualNode"]["spec"]["listeners"]) == 5_000
