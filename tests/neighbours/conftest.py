"""A tiny waitress server running NeighbourApis around a stand-in Flask app, and clients for it."""
from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
from botocore.config import Config
from waitress.server import create_server

from appmesh_local.neighbours import NeighbourApis

from .inner import inner_app


@dataclass
class Harness:
    endpoint: str
    events: list[tuple[str, str, str, str]] = field(default_factory=list)
    clients: list[Any] = field(default_factory=list)

    def client(self, service: str, account: str, region: str = "us-east-1") -> Any:
        """boto3 client signing with `account` as access key id (so the server's account is it)."""
        made = boto3.client(service, endpoint_url=self.endpoint, region_name=region,
                            aws_access_key_id=account, aws_secret_access_key="testing",
                            config=Config(retries={"max_attempts": 1}, inject_host_prefix=False))
        self.clients.append(made)
        return made

    def events_for(self, account: str) -> list[tuple[str, str, str, str]]:
        return [event for event in list(self.events) if event[0] == account]


@pytest.fixture(scope="module")
def harness():
    events: list[tuple[str, str, str, str]] = []
    wsgi = NeighbourApis(inner_app(), on_change=lambda *change: events.append(change))
    server = create_server(wsgi, host="127.0.0.1", port=0, threads=4)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    made = Harness(f"http://127.0.0.1:{server.effective_port}", events)
    yield made
    for client in made.clients:
        client.close()
    server.close()
    thread.join(5)


@pytest.fixture
def account() -> str:
    """A fresh account per test: moto's state is process-wide, accounts keep tests apart."""
    return str(random.randrange(10**11, 10**12))
