"""Fixtures for the black-box API tests: a fresh account per test on the shared session server.

A fresh account isolates each test's meshes (and its meshes-per-account quota) without cleanup.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from tests.api.helpers import fresh_account, unique
from tests.conftest import make_client


@dataclass
class Tenant:
    """One account in one region on the shared server, with a validating and a raw client."""

    account: str
    region: str
    endpoint: str

    def client(self, validate: bool = True):
        return make_client(self.endpoint, region=self.region, access_key=self.account, parameter_validation=validate)


@pytest.fixture
def tenant(server) -> Tenant:
    return Tenant(account=fresh_account(), region="us-east-1", endpoint=server.endpoint)


@pytest.fixture
def api(tenant):
    """boto3 appmesh client with botocore's client-side validation and response parsing on."""
    return tenant.client()


@pytest.fixture
def raw_api(tenant):
    """Same account, parameter validation off: for requests the server itself must reject."""
    return tenant.client(validate=False)


@pytest.fixture
def mesh(api) -> str:
    """A fresh empty mesh in the tenant's account."""
    name = unique("mesh")
    api.create_mesh(meshName=name)
    return name
