"""The plugin in a user's own project: a fresh `pytest` process in a directory with no conftest."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(120)

USER_TESTS = """
seen = []

def test_fill_the_mesh(appmesh_mesh, appmesh_client):
    seen.append(appmesh_mesh)
    c, m = appmesh_client, appmesh_mesh
    c.create_virtual_node(meshName=m, virtualNodeName="app", spec={
        "listeners": [{"portMapping": {"port": 8080, "protocol": "http"}}],
        "serviceDiscovery": {"dns": {"hostname": "app.local"}}})
    c.create_virtual_router(meshName=m, virtualRouterName="router", spec={
        "listeners": [{"portMapping": {"port": 8080, "protocol": "http"}}]})
    c.create_route(meshName=m, virtualRouterName="router", routeName="r", spec={"httpRoute": {
        "match": {"prefix": "/"},
        "action": {"weightedTargets": [{"virtualNode": "app", "weight": 1}]}}})
    c.create_virtual_service(meshName=m, virtualServiceName="app.local",
                             spec={"provider": {"virtualRouter": {"virtualRouterName": "router"}}})
    c.create_virtual_gateway(meshName=m, virtualGatewayName="gw", spec={
        "listeners": [{"portMapping": {"port": 8088, "protocol": "http"}}]})
    c.create_gateway_route(meshName=m, virtualGatewayName="gw", gatewayRouteName="gr", spec={"httpRoute": {
        "match": {"prefix": "/"},
        "action": {"target": {"virtualService": {"virtualServiceName": "app.local"}}}}})

def test_the_mesh_and_its_contents_are_gone(appmesh_client):
    assert seen
    assert seen[0] not in [m["meshName"] for m in appmesh_client.list_meshes()["meshes"]]

def test_envoy(appmesh_envoy, appmesh_mesh):
    appmesh_envoy(appmesh_mesh, virtual_node="app")
"""


def run_user_pytest(
    tmp_path: Path, source: str, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    (tmp_path / "test_user.py").write_text(textwrap.dedent(source))
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-rs", "-q", *args, "test_user.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=100,
        env={**os.environ, **(env or {})},
    )


def test_entry_point_registers_the_plugin(tmp_path):
    result = run_user_pytest(tmp_path, "def test_nothing():\n    pass\n", "--fixtures")
    assert result.returncode == 0, result.stdout + result.stderr
    for fixture in ("appmesh_server", "appmesh_client", "appmesh_mesh", "appmesh_envoy"):
        assert f"{fixture} " in result.stdout or f"{fixture} [" in result.stdout, fixture


def test_user_suite_gets_a_fresh_mesh_and_it_is_cleaned_up(tmp_path):
    result = run_user_pytest(tmp_path, USER_TESTS, "-k", "not test_envoy")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 passed" in result.stdout


def test_envoy_fixture_skips_with_a_reason_when_there_is_no_envoy(tmp_path):
    result = run_user_pytest(
        tmp_path, USER_TESTS, "-k", "test_envoy", env={"APPMESH_LOCAL_ENVOY": str(tmp_path / "no-envoy-here")}
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 skipped" in result.stdout
    assert "appmesh_envoy needs a real Envoy" in result.stdout and "no-envoy-here" in result.stdout
