"""The HTTP server (web/serving.py) never stalls a request: keep-alive with pauses, pipelining, requests sent mid-service, many connections, clients closing mid-request."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from appmesh_local.web.serving import create_http_server, shutdown_http_server

pytestmark = pytest.mark.timeout(60)


def app(environ, start_response):
    body = environ["PATH_INFO"].encode()
    if environ["PATH_INFO"] == "/slow":
        time.sleep(0.05)
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


@pytest.fixture()
def port():
    http = create_http_server(app, host="127.0.0.1", port=0, threads=4)
    thread = threading.Thread(target=http.run, daemon=True)
    thread.start()
    yield http.effective_port
    shutdown_http_server(http)
    thread.join(10)


def read_response(sock: socket.socket, buffer: bytearray) -> bytes:
    """One response's body (Content-Length framing), leaving any following bytes in `buffer`."""
    while b"\r\n\r\n" not in buffer:
        chunk = sock.recv(65536)
        assert chunk, "connection closed before a response"
        buffer += chunk
    head, _, rest = bytes(buffer).partition(b"\r\n\r\n")
    length = int(
        next(line.split(b":")[1] for line in head.split(b"\r\n") if line.lower().startswith(b"content-length"))
    )
    while len(rest) < length:
        chunk = sock.recv(65536)
        assert chunk, "connection closed inside a body"
        rest += chunk
    buffer[:] = rest[length:]
    return rest[:length]


def request(path: str) -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode()


def test_sequential_keep_alive_requests_with_pauses_are_never_stalled(port):
    with socket.create_connection(("127.0.0.1", port)) as sock:
        buffer = bytearray()
        for i in range(60):
            started = time.monotonic()
            sock.sendall(request(f"/r{i}"))
            assert read_response(sock, buffer) == f"/r{i}".encode()
            assert time.monotonic() - started < 0.5  # a missed wake-up would show as a stall
            time.sleep(0.002 * (i % 3))


def test_pipelined_requests_are_answered_in_order(port):
    with socket.create_connection(("127.0.0.1", port)) as sock:
        buffer = bytearray()
        for round_ in range(10):
            started = time.monotonic()
            sock.sendall(request("/slow") + request(f"/a{round_}") + request(f"/b{round_}"))
            assert [read_response(sock, buffer) for _ in range(3)] == [
                b"/slow",
                f"/a{round_}".encode(),
                f"/b{round_}".encode(),
            ]
            assert time.monotonic() - started < 0.5


def test_request_sent_while_the_previous_one_is_served(port):
    with socket.create_connection(("127.0.0.1", port)) as sock:
        buffer = bytearray()
        for round_ in range(10):
            started = time.monotonic()
            sock.sendall(request("/slow"))
            time.sleep(0.01)  # the server is inside the slow request now
            sock.sendall(request(f"/next{round_}"))
            assert read_response(sock, buffer) == b"/slow"
            assert read_response(sock, buffer) == f"/next{round_}".encode()
            sock.sendall(request(f"/after{round_}"))
            assert read_response(sock, buffer) == f"/after{round_}".encode()
            assert time.monotonic() - started < 0.5


def test_many_connections_at_once(port):
    errors: list[BaseException] = []

    def client(n: int) -> None:
        try:
            with socket.create_connection(("127.0.0.1", port)) as sock:
                buffer = bytearray()
                for i in range(30):
                    sock.sendall(request(f"/c{n}-{i}"))
                    assert read_response(sock, buffer) == f"/c{n}-{i}".encode()
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    started = time.monotonic()
    threads = [threading.Thread(target=client, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not errors
    assert time.monotonic() - started < 10


def test_client_closing_mid_request_frees_the_connection(port):
    for _ in range(5):
        sock = socket.create_connection(("127.0.0.1", port))
        sock.sendall(request("/slow"))
        sock.close()
    with socket.create_connection(("127.0.0.1", port)) as sock:
        buffer = bytearray()
        sock.sendall(request("/still"))
        assert read_response(sock, buffer) == b"/still"
