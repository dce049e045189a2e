"""export --format cloudformation|kubernetes → apply to an empty server → export again: the same text."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from appmesh_local.testing import serve_in_thread
from tests.apply.conftest import MATERIAL, run_cli

COLORAPP = MATERIAL / "colorapp"
SOURCES = {
    "templates": ([COLORAPP / "colorapp-network.yaml", COLORAPP / "colorapp-mesh.yaml"], "colorapp"),
    "cdk": ([MATERIAL / "cdk-shop.template.json"], "shop"),
    "manifests": ([MATERIAL / "k8s"], "howto-k8s"),
}


def _apply(endpoint: str, *paths: Path) -> None:
    args = [a for path in paths for a in ("-f", str(path))]
    result = run_cli("apply", *args, "--endpoint", endpoint)
    assert result.code == 0, result.out + result.err


def _delete(endpoint: str, *paths: Path) -> None:
    args = [a for path in paths for a in ("-f", str(path))]  # delete takes them in reverse itself
    result = run_cli("delete", *args, "--endpoint", endpoint)
    assert result.code == 0, result.out + result.err


def _export(endpoint: str, mesh: str, fmt: str, out: Path) -> str:
    result = run_cli("export", "--mesh", mesh, "--format", fmt, "--out", str(out), "--endpoint", endpoint)
    assert result.code == 0, result.err
    return out.read_text()


def _describe_all(server) -> dict:  # type: ignore[no-untyped-def]
    """Every resource's spec as the API describes it (the mesh both servers must hold)."""
    from appmesh_local.export.sources import snapshot_from_api

    client = server.client(access_key="123456789012")
    snapshot = snapshot_from_api(client, client.list_meshes()["meshes"][0]["meshName"])
    return {
        k: getattr(snapshot, k)
        for k in (
            "spec",
            "virtual_nodes",
            "virtual_routers",
            "routes",
            "virtual_services",
            "virtual_gateways",
            "gateway_routes",
        )
    }


@pytest.mark.parametrize("fmt", ["cloudformation", "kubernetes"])
@pytest.mark.parametrize("source", sorted(SOURCES))
def test_export_apply_export_is_stable(source: str, fmt: str, tmp_path: Path) -> None:
    paths, mesh = SOURCES[source]
    with serve_in_thread(xds=False) as first:
        _apply(first.endpoint, *paths)
        try:
            exported = _export(first.endpoint, mesh, fmt, tmp_path / f"first.{fmt}.yaml")
            original = _describe_all(first)
        finally:  # Cloud Map and ACM live in moto's process-wide backends: leave none behind
            _delete(first.endpoint, *paths)
    with serve_in_thread(xds=False) as second:
        _apply(second.endpoint, tmp_path / f"first.{fmt}.yaml")
        again = _export(second.endpoint, mesh, fmt, tmp_path / f"second.{fmt}.yaml")
        assert _describe_all(second) == original  # the same resources, spec for spec
    assert again == exported
    documents = list(yaml.safe_load_all(exported))
    if fmt == "cloudformation":
        types = {r["Type"] for r in documents[0]["Resources"].values()}
        assert {"AWS::AppMesh::Mesh", "AWS::AppMesh::Route", "AWS::AppMesh::GatewayRoute"} <= types
    else:
        assert {d["kind"] for d in documents} >= {"Namespace", "Mesh", "VirtualRouter", "GatewayRoute"}


def test_template_export_uses_the_templates_spelling_and_getatt(tmp_path: Path) -> None:
    with serve_in_thread(xds=False) as server:
        _apply(server.endpoint, MATERIAL / "cdk-shop.template.json")
        try:
            template = yaml.safe_load(_export(server.endpoint, "shop", "cloudformation", tmp_path / "t.yaml"))
        finally:
            _delete(server.endpoint, MATERIAL / "cdk-shop.template.json")
    node = template["Resources"]["VirtualNodeCatalogV1"]["Properties"]
    assert node["MeshName"] == {"Fn::GetAtt": ["MeshShop", "MeshName"]}
    assert node["Spec"]["ServiceDiscovery"]["AWSCloudMap"]["NamespaceName"] == "shop.local"
    assert node["Spec"]["Listeners"][0]["Timeout"]["HTTP"]["PerRequest"] == {"Unit": "ms", "Value": 10000}
    route = template["Resources"]["RouteCatalogWeighted"]["Properties"]
    assert route["VirtualRouterName"] == {"Fn::GetAtt": ["VirtualRouterCatalog", "VirtualRouterName"]}
    targets = route["Spec"]["HttpRoute"]["Action"]["WeightedTargets"]
    assert targets[0] == {"VirtualNode": {"Fn::GetAtt": ["VirtualNodeCatalogV1", "VirtualNodeName"]}, "Weight": 80}


def test_export_format_errors_are_one_line(tmp_path: Path) -> None:
    with serve_in_thread(xds=False) as server:
        missing = run_cli("export", "--mesh", "nope", "--format", "kubernetes", "--endpoint", server.endpoint)
        envoy_needs_out = run_cli("export", "--mesh", "nope", "--endpoint", server.endpoint)
    assert missing.code == 1 and missing.err.strip().endswith("mesh 'nope' not found at " + server.endpoint)
    assert envoy_needs_out.code == 2 and "--format envoy needs --out DIR" in envoy_needs_out.err
