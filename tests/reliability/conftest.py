"""In-process servers with chosen limits, raw sockets and timing helpers for the reliability suite.

Everything binds 127.0.0.1 on free ports; every socket a test opens is closed when it ends.
"""

from __future__ import annotations

import contextlib
import socket
import time
from typing import Any, Iterator

import pytest

from appmesh_local.server import AppMeshServer, ServerConfig
from appmesh_local.web.limits import Limits
from tests.conftest import make_client


@contextlib.contextmanager
def running(limits: Limits | None = None, xds: bool = False, **config: Any) -> Iterator[AppMeshServer]:
    """An in-process server (API on a free loopback port, state in memory) for the block."""
    server = AppMeshServer(
        ServerConfig(
            host="127.0.0.1",
            port=0,
            xds_host="127.0.0.1",
            xds_port=0 if xds else None,
            state_dir=None,
            limits=limits or Limits(),
            listener_bind_address="127.0.0.1",
            **config,
        )
    ).start_background()
    try:
        yield server
    finally:
        server.stop()


@contextlib.contextmanager
def open_sockets(port: int, count: int, first_bytes: bytes = b"") -> Iterator[list[socket.socket]]:
    """`count` connections to 127.0.0.1:`port`, each having sent `first_bytes`; all closed afterwards."""
    sockets: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = socket.create_connection(("127.0.0.1", port), timeout=10)
            if first_bytes:
                sock.sendall(first_bytes)
            sockets.append(sock)
        yield sockets
    finally:
        for sock in sockets:
            sock.close()


def timed_calls(client: Any, seconds: float, call: str = "list_meshes") -> list[float]:
    """Call `client.<call>()` repeatedly for `seconds`; the latency of each call."""
    latencies = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        started = time.monotonic()
        getattr(client, call)()
        latencies.append(time.monotonic() - started)
    return latencies


def raw_exchange(port: int, data: bytes, timeout: float = 5.0) -> bytes:
    """Send `data` on a fresh connection; everything the server answers until it closes (or `timeout`)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        chunks = []
        with contextlib.suppress(TimeoutError, ConnectionResetError):
            while chunk := sock.recv(65536):
                chunks.append(chunk)
    return b"".join(chunks)


@pytest.fixture
def client_for():
    made: list[Any] = []

    def make(server: AppMeshServer, **config: Any) -> Any:
        client = make_client(f"http://127.0.0.1:{server.api_port}", **config)
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()
