"""Shared fixtures: the real server process and boto3 clients bound to it."""

from __future__ import annotations

import boto3
import pytest
from botocore.config import Config

from tests.support.server import ServerProcess


@pytest.fixture(scope="session")
def server():
    """One ephemeral appmesh-local server for the whole session."""
    with ServerProcess() as proc:
        yield proc


def make_client(endpoint: str, region: str = "us-east-1", access_key: str = "testing", **config):
    return boto3.client(
        "appmesh",
        endpoint_url=endpoint,
        region_name=region,
        aws_access_key_id=access_key,
        aws_secret_access_key="testing",
        config=Config(retries={"max_attempts": 1}, **config),
    )


@pytest.fixture
def appmesh(server):
    return make_client(server.endpoint)
