"""--dry-run changes nothing; stacks survive a server restart; the registry endpoint refuses bad paths."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from appmesh_local.testing import serve_in_thread
from tests.apply.conftest import MATERIAL, run_cli

COLORAPP = MATERIAL / "colorapp"
FILES = ["-f", str(COLORAPP / "colorapp-network.yaml"), "-f", str(COLORAPP / "colorapp-mesh.yaml")]


def _applied(endpoint: str) -> list:
    with urllib.request.urlopen(f"{endpoint}/_appmesh-local/applied/123456789012/us-east-1", timeout=5) as response:
        return json.loads(response.read())["applied"]


def test_dry_run_prints_the_plan_and_changes_nothing() -> None:
    with serve_in_thread(xds=False) as server:
        both = run_cli("apply", *FILES, "--dry-run", "--endpoint", server.endpoint)
        assert both.code == 0, both.err
        assert "create?    ServiceDiscoveryNamespace" in both.out
        assert "stack colorapp-network: 1 to create, 2 skip (dry run: nothing changed)" in both.out
        # the mesh stack imports what the network stack will export: known after apply
        assert "stack colorapp-mesh: 10 to create, 3 skip (dry run: nothing changed)" in both.out
        assert server.client().list_meshes()["meshes"] == [] and _applied(server.endpoint) == []
        manifests = run_cli("apply", "-f", str(MATERIAL / "k8s"), "--dry-run", "--endpoint", server.endpoint)
        assert manifests.code == 0, manifests.err
        assert "manifests: 17 to create, 3 skip (dry run: nothing changed)" in manifests.out
        assert server.client().list_meshes()["meshes"] == [] and _applied(server.endpoint) == []


def test_a_stack_survives_a_restart_of_the_server(tmp_path: Path) -> None:
    state = tmp_path / "state"
    with serve_in_thread(xds=False, state_dir=state) as server:
        assert run_cli("apply", *FILES, "--endpoint", server.endpoint).code == 0
    with serve_in_thread(xds=False, state_dir=state) as server:
        again = run_cli("apply", *FILES, "--endpoint", server.endpoint)
        assert again.code == 0, again.err
        assert "stack colorapp-mesh: 10 unchanged, 3 skip" in again.out
        plan = run_cli(
            "apply",
            "-f",
            str(COLORAPP / "colorapp-mesh-v2.yaml"),
            "--stack-name",
            "colorapp-mesh",
            "--dry-run",
            "--endpoint",
            server.endpoint,
        )
        assert "stack colorapp-mesh: 1 to update, 1 to delete, 8 unchanged, 3 skip" in plan.out
        names = sorted(document["name"] for document in _applied(server.endpoint))
        assert names == ["colorapp-mesh", "colorapp-network"]
        deleted = run_cli("delete", *FILES, "--endpoint", server.endpoint)
        assert deleted.code == 0, deleted.err
        assert _applied(server.endpoint) == [] and server.client().list_meshes()["meshes"] == []


@pytest.mark.parametrize("path", ["12345/us-east-1", "123456789012/not a region", "123456789012/us-east-1/-bad"])
def test_registry_refuses_malformed_paths(path: str) -> None:
    with serve_in_thread(xds=False) as server:
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(f"{server.endpoint}/_appmesh-local/applied/{path.replace(' ', '%20')}", timeout=5)
    assert refused.value.code == 400
