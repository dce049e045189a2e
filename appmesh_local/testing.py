"""appmesh-local inside the caller's process: for test suites and notebooks.

    from appmesh_local import serve_in_thread

    with serve_in_thread() as mesh_server:
        appmesh = mesh_server.client()
        appmesh.create_mesh(meshName="demo")

The API and the xDS server listen on free loopback ports, state lives in memory,
and leaving the block closes both ports and ends every thread the server started.
"""
from __future__ import annotations

import json
import threading
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from appmesh_local.server import AppMeshServer, ServerConfig

LOOPBACK = "127.0.0.1"
TEST_ACCESS_KEY = "testing"
TEST_SECRET_KEY = "testing"


@dataclass
class InProcessServer:
    """A running in-process appmesh-local: where to reach it, and how to stop it."""

    server: AppMeshServer

    @property
    def host(self) -> str:
        return self.server.config.host

    @property
    def api_port(self) -> int:
        return int(self.server.api_port)  # waitress reports the bound port as a string

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.api_port}"

    @property
    def xds_host(self) -> str:
        return self.server.config.xds_host

    @property
    def xds_port(self) -> int | None:
        """The port the ADS server bound (None when started without xDS)."""
        return self.server.xds.port if self.server.xds is not None else None

    @property
    def listener_bind_address(self) -> str:
        """Where the Envoys this server configures bind their listeners."""
        reconciler = getattr(self.server.xds, "reconciler", None)
        return getattr(reconciler, "bind_address", LOOPBACK)

    def client(self, region: str = "us-east-1", access_key: str = TEST_ACCESS_KEY, **config: Any) -> Any:
        """A boto3 App Mesh client bound to this server (any credentials work).

        A 12-digit `access_key` selects that account, as the server derives the
        account from the access key id. Extra keyword arguments go to botocore's Config.
        """
        import boto3
        from botocore.config import Config

        config.setdefault("retries", {"max_attempts": 1})
        return boto3.client("appmesh", endpoint_url=self.endpoint, region_name=region,
                            aws_access_key_id=access_key, aws_secret_access_key=TEST_SECRET_KEY,
                            config=Config(**config))

    def status(self) -> dict[str, Any]:
        """The xDS status document (connected proxies, ACK/NACK, problems) as JSON data."""
        with urllib.request.urlopen(f"{self.endpoint}/_appmesh-local/status", timeout=5) as response:
            return json.loads(response.read())

    def stop(self) -> None:
        """Close both ports and end every server thread (HTTP loop, workers, xDS, reconciler)."""
        http = self.server.http
        _close_http_channels(http)
        self.server.stop()
        http.task_dispatcher.shutdown(cancel_pending=True, timeout=5)


def _close_http_channels(http: Any, timeout: float = 5.0) -> None:
    """End waitress's loop now: close every channel from inside the loop thread.

    `close()` on the listening socket alone leaves clients' keep-alive connections (and
    the loop serving them) alive for minutes, and the worker threads forever.
    """
    done = threading.Event()

    def close_all() -> None:
        try:
            for channel in list(http._map.values()):
                channel.close()  # the trigger and the listening socket too: the map empties
        finally:
            done.set()

    try:
        http.trigger.pull_trigger(close_all)
    except OSError:  # trigger already closed: the loop has ended
        return
    done.wait(timeout)


def start_in_thread(*, xds: bool = True, state_dir: Path | None = None, host: str = LOOPBACK,
                    listener_bind_address: str = LOOPBACK, api_port: int = 0, xds_port: int = 0) -> InProcessServer:
    """Start a server on daemon threads; the caller must `stop()` it. Port 0 = a free port.

    `listener_bind_address` is where the configured Envoys' listeners bind: loopback by
    default so a test's Envoy never listens on the machine's other interfaces.
    """
    config = ServerConfig(host=host, port=api_port, xds_host=host, xds_port=xds_port if xds else None,
                          state_dir=state_dir)
    server = AppMeshServer(config)
    reconciler = getattr(server.xds, "reconciler", None)
    if reconciler is not None:
        reconciler.bind_address = listener_bind_address
    try:
        server.start_background()
    except BaseException:
        server.stop()
        raise
    return InProcessServer(server)


@contextmanager
def serve_in_thread(*, xds: bool = True, state_dir: Path | None = None, host: str = LOOPBACK,
                    listener_bind_address: str = LOOPBACK) -> Iterator[InProcessServer]:
    """Run appmesh-local (API + xDS) in this process for the duration of the block.

    State is in memory unless `state_dir` is given; ports are chosen free on `host`.
    """
    running = start_in_thread(xds=xds, state_dir=state_dir, host=host,
                              listener_bind_address=listener_bind_address)
    try:
        yield running
    finally:
        running.stop()
