"""A tiny HTTP server (the API's own) running NeighbourApis around a stand-in Flask app, and clients for it."""

from __future__ import annotations

import contextlib
import random
from dataclasses import dataclass, field
from typing import Any, Iterator

import boto3
import pytest
from botocore.config import Config

from appmesh_local.neighbours import NeighbourApis
from appmesh_local.web.serving import HttpServer

from .inner import inner_app


@dataclass
class Harness:
    endpoint: str
    events: list[tuple[str, str, str, str]] = field(default_factory=list)
    clients: list[Any] = field(default_factory=list)

    def client(self, service: str, account: str, region: str = "us-east-1") -> Any:
        """boto3 client signing with `account` as access key id (so the server's account is it)."""
        made = boto3.client(
            service,
            endpoint_url=self.endpoint,
            region_name=region,
            aws_access_key_id=account,
            aws_secret_access_key="testing",
            config=Config(retries={"max_attempts": 1}, inject_host_prefix=False),
        )
        self.clients.append(made)
        return made

    def events_for(self, account: str) -> list[tuple[str, str, str, str]]:
        return [event for event in list(self.events) if event[0] == account]


@contextlib.contextmanager
def serve(wsgi: NeighbourApis, events: list[tuple[str, str, str, str]]) -> Iterator[Harness]:
    """`wsgi` on an HTTP server bound to a free loopback port, for the block's duration."""
    server = HttpServer(wsgi, "127.0.0.1", 0, threads=4).start()
    made = Harness(f"http://127.0.0.1:{server.effective_port}", events)
    try:
        yield made
    finally:
        for client in made.clients:
            client.close()
        server.stop()


@pytest.fixture(scope="module")
def harness():
    events: list[tuple[str, str, str, str]] = []
    with serve(NeighbourApis(inner_app(), on_change=lambda *change: events.append(change)), events) as made:
        yield made


@pytest.fixture
def account() -> str:
    """A fresh account per test: moto's state is process-wide, accounts keep tests apart."""
    return str(random.randrange(10**11, 10**12))
