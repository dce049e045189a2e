"""Connection floods, slow and half-open clients: every other client stays answered within 1 s.

Replays the probe's failures: 1,100 idle connections to the xDS port followed by one API
request used to crash the server (waitress's select() above 1,023 descriptors), and 100
idle or half-open keep-alive connections used to block every other API client.
"""

from __future__ import annotations

import json
import socket
import threading
import time

import pytest

from appmesh_local.web.limits import Limits

from .conftest import open_sockets, raw_exchange, running, timed_calls

pytestmark = pytest.mark.timeout(120)

GET = b"GET /v20190125/meshes HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


def test_thousands_of_idle_connections_leave_a_client_answered(client_for):
    with running() as server, open_sockets(server.api_port, 3000) as idle:
        client = client_for(server)
        latencies = timed_calls(client, 2.0)
        assert max(latencies) < 1.0
        assert len(server.http.connections) >= len(idle)


def test_an_api_call_after_1100_idle_xds_connections_is_served(client_for):
    with running(xds=True) as server:
        with open_sockets(server.xds.port, 1100) as idle:
            client = client_for(server)
            started = time.monotonic()
            client.create_mesh(meshName="after-flood")
            assert time.monotonic() - started < 1.0
            assert max(sock.fileno() for sock in idle) > 1024  # descriptors past select()'s ceiling exist
        assert client.describe_mesh(meshName="after-flood")["mesh"]["status"]["status"] == "ACTIVE"


def test_slowloris_clients_are_cut_off_and_never_block_others(client_for):
    limits = Limits(head_timeout=1.0)
    with running(limits) as server, open_sockets(server.api_port, 100, b"GET / HTTP/1.1\r\nHost: x\r\n") as slow:
        stop = threading.Event()

        def trickle() -> None:
            while not stop.is_set():
                for sock in slow:
                    try:
                        sock.send(b"X")
                    except OSError:
                        pass
                stop.wait(0.2)

        trickler = threading.Thread(target=trickle)
        trickler.start()
        try:
            latencies = timed_calls(client_for(server), 2.5)
        finally:
            stop.set()
            trickler.join(5)
        assert max(latencies) < 1.0
        answers = []
        for sock in slow[:10]:
            sock.settimeout(5)
            answers.append(sock.recv(65536))
        assert all(answer.startswith(b"HTTP/1.1 408 ") for answer in answers), answers[:2]
        assert all(b'"__type": "RequestTimeoutException"' in answer for answer in answers)


def test_half_open_and_unread_keep_alive_connections_leave_a_client_answered(client_for):
    partial_body = (
        b"PUT /v20190125/meshes HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n\r\n" + b'{"meshName": '
    )
    with running() as server:
        with (
            open_sockets(server.api_port, 100, GET * 3) as unread,
            open_sockets(server.api_port, 100, partial_body) as half_open,
        ):
            latencies = timed_calls(client_for(server), 2.0)
            assert max(latencies) < 1.0
            assert len(unread) + len(half_open) == 200


def test_at_the_connection_limit_the_oldest_idle_connection_makes_room(client_for):
    with running(Limits(max_connections=40)) as server, open_sockets(server.api_port, 60) as idle:
        client = client_for(server)
        assert client.list_meshes()["meshes"] == []
        idle[0].settimeout(5)
        assert idle[0].recv(1) == b""  # closed by the server to make room
        assert server.http.evicted >= 20
        assert len(server.http.connections) <= 40


def test_an_idle_connection_is_closed_after_the_idle_timeout():
    with running(Limits(idle_timeout=0.5)) as server:
        with socket.create_connection(("127.0.0.1", server.api_port), timeout=5) as sock:
            started = time.monotonic()
            assert sock.recv(1) == b""
            assert 0.3 < time.monotonic() - started < 4.0


def _status_and_json(answer: bytes) -> tuple[int, dict, bytes]:
    head, _, body = answer.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    return status, json.loads(body) if body else {}, head


@pytest.mark.parametrize(
    ("request_bytes", "status", "code"),
    [
        (
            b"PUT /v20190125/meshes HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 99999999999\r\n\r\n",
            413,
            "RequestEntityTooLargeException",
        ),
        (
            b"GET /v20190125/meshes HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + b"a" * 70000 + b"\r\n\r\n",
            431,
            "RequestHeaderFieldsTooLargeException",
        ),
        (b"GET /v20190125/meshes HTTP/9.9\r\n\r\n", 400, "BadRequestException"),
        (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 40, 400, "BadRequestException"),
        (b"FROB /v20190125/meshes HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", 405, "UnknownOperationException"),
        (b"CONNECT 127.0.0.1:443 HTTP/1.1\r\nHost: 127.0.0.1:443\r\n\r\n", 405, "UnknownOperationException"),
        (b"TRACE /v20190125/meshes HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", 404, "UnknownOperationException"),
    ],
    ids=["body-too-large", "headers-too-large", "bad-version", "tls-hello", "unknown-method", "connect", "trace"],
)
def test_bad_http_is_answered_in_aws_shape(request_bytes, status, code):
    with running() as server:
        answered, document, head = _status_and_json(raw_exchange(server.api_port, request_bytes))
    assert answered == status
    assert document.get("__type", code) == code
    assert f"x-amzn-ErrorType: {code}".encode() in head


def test_a_chunked_body_over_the_limit_is_refused():
    chunk = b"%x\r\n%s\r\n" % (4096, b"a" * 4096)
    head = b"PUT /v20190125/meshes HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n"
    with running(Limits(max_body_bytes=32 * 1024)) as server:
        status, document, _ = _status_and_json(raw_exchange(server.api_port, head + chunk * 10))
    assert status == 413
    assert document["__type"] == "RequestEntityTooLargeException"


def test_expect_100_continue_is_honoured():
    body = b'{"meshName": "continued"}'
    head = b"PUT /v20190125/meshes HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: %d\r\nExpect: 100-continue\r\n\r\n"
    with running() as server, socket.create_connection(("127.0.0.1", server.api_port), timeout=5) as sock:
        sock.sendall(head % len(body))
        assert sock.recv(64).startswith(b"HTTP/1.1 100 Continue\r\n\r\n")
        sock.sendall(body)
        assert sock.recv(65536).startswith(b"HTTP/1.1 200 ")


def test_bodies_held_by_all_connections_together_are_bounded(client_for):
    head = b"PUT /v20190125/meshes HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100000\r\n\r\n"
    with running(Limits(max_buffered_bytes=64 * 1024)) as server:
        with socket.create_connection(("127.0.0.1", server.api_port), timeout=5) as first:
            first.sendall(head + b"a" * 40_000)
            time.sleep(0.2)
            answer = raw_exchange(server.api_port, head + b"b" * 40_000)
            status, document, _ = _status_and_json(answer)
            assert (status, document["__type"]) == (503, "ServiceUnavailableException")
        deadline = time.monotonic() + 5
        while server.http.buffered and time.monotonic() < deadline:
            time.sleep(0.05)
        assert server.http.buffered == 0  # released when the connections closed
        assert client_for(server).list_meshes()["meshes"] == []
