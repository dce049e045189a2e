"""The mesh file loader: App Mesh Describe-shaped YAML → MeshSnapshot, clear errors otherwise."""

from __future__ import annotations

from pathlib import Path

import pytest

from appmesh_local.translate.loader import load_mesh_file

GOOD = """
mesh: {meshName: m, spec: {egressFilter: {type: ALLOW_ALL}}}
region: eu-west-1
virtualNodes:
  - virtualNodeName: a
    spec: {listeners: [{portMapping: {port: 80, protocol: http}}]}
    metadata: {version: 3}
routes:
  - {routeName: r1, virtualRouterName: vr, spec: {httpRoute: {match: {prefix: /}}}}
gatewayRoutes:
  - {gatewayRouteName: g1, virtualGatewayName: gw, spec: {}}
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "mesh.yaml"
    path.write_text(text)
    return path


def test_loads_every_kind(tmp_path: Path) -> None:
    snap = load_mesh_file(_write(tmp_path, GOOD))
    assert (snap.name, snap.region, snap.account) == ("m", "eu-west-1", "123456789012")
    assert snap.spec == {"egressFilter": {"type": "ALLOW_ALL"}}
    assert snap.virtual_nodes["a"]["listeners"][0]["portMapping"]["port"] == 80
    assert snap.routes == {"vr": {"r1": {"httpRoute": {"match": {"prefix": "/"}}}}}
    assert snap.gateway_routes == {"gw": {"g1": {}}}
    assert snap.virtual_services == {}


@pytest.mark.parametrize(
    "text, message",
    [
        ("- just a list", "top level"),
        ("virtualNodes: []", "mesh"),
        ("mesh: {spec: {}}", "meshName"),
        ("mesh: {meshName: m}\nvirtualNodes: {a: 1}", "virtualNodes: expected a list"),
        ("mesh: {meshName: m}\nvirtualNodes: [{spec: {}}]", "virtualNodes[0]: missing virtualNodeName"),
        ("mesh: {meshName: m}\nvirtualNodes: [{virtualNodeName: a, spec: [1]}]", "virtualNodes[0].spec"),
        ("mesh: {meshName: m}\nroutes: [{routeName: r, spec: {}}]", "missing virtualRouterName"),
        ("mesh: {meshName: m}\nvirtualServices: [{virtualServiceName: s}, {virtualServiceName: s}]", "duplicate"),
        ("mesh: {meshName: m}\nvirtualNode: []", "unknown top-level keys"),
        ("mesh: [unclosed", "not valid YAML"),
    ],
)
def test_malformed_input_names_the_problem(tmp_path: Path, text: str, message: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(ValueError) as info:
        load_mesh_file(path)
    assert message in str(info.value)
    assert str(path) in str(info.value)


def test_missing_file_is_a_value_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="cannot read"):
        load_mesh_file(tmp_path / "nope.yaml")
