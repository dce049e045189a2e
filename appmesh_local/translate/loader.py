"""Load a mesh from a YAML/JSON file (for the offline `translate` command and golden tests).

Shape: one document with `mesh: {meshName, spec}` and lists `virtualNodes`,
`virtualRouters`, `routes`, `virtualServices`, `virtualGateways`, `gatewayRoutes`,
whose items look like the App Mesh Describe* data: `<kind>Name`, the parent name
(`virtualRouterName` / `virtualGatewayName`) for routes, and `spec` in the AWS wire
shape. Other keys (metadata, status, meshName) are ignored. Optional top-level
`account`, `region`, `revision`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import yaml

from appmesh_local.settings import DEFAULT_ACCOUNT, DEFAULT_REGION
from appmesh_local.store.records import MeshSnapshot

_LISTS = {
    "virtualNodes": "virtualNodeName",
    "virtualRouters": "virtualRouterName",
    "virtualServices": "virtualServiceName",
    "virtualGateways": "virtualGatewayName",
}
_CHILDREN = {"routes": ("routeName", "virtualRouterName"), "gatewayRoutes": ("gatewayRouteName", "virtualGatewayName")}
_KNOWN = {"mesh", "account", "region", "revision", *_LISTS, *_CHILDREN}


def _items(doc: Mapping[str, Any], key: str) -> list[Mapping[str, Any]]:
    items = doc.get(key) or []
    if not isinstance(items, list):
        raise ValueError(f"{key}: expected a list, got {type(items).__name__}")
    for index, item in enumerate(items):
        if not isinstance(item, Mapping):
            raise ValueError(f"{key}[{index}]: expected a mapping")
        spec = item.get("spec", {})
        if not isinstance(spec, Mapping):
            raise ValueError(f"{key}[{index}].spec: expected a mapping")
    return items


def _name(item: Mapping[str, Any], field: str, where: str) -> str:
    value = item.get(field)
    if not isinstance(value, str) or not value:
        raise ValueError(f"{where}: missing {field}")
    return value


def snapshot_from_document(
    doc: Any, default_account: str = DEFAULT_ACCOUNT, default_region: str = DEFAULT_REGION
) -> MeshSnapshot:
    """Validate the document's shape and build the MeshSnapshot it describes."""
    if not isinstance(doc, Mapping):
        raise ValueError("mesh file: expected a mapping at the top level")
    unknown = set(doc) - _KNOWN
    if unknown:
        raise ValueError(f"mesh file: unknown top-level keys {sorted(unknown)}")
    mesh = doc.get("mesh")
    if not isinstance(mesh, Mapping):
        raise ValueError("mesh: expected a mapping with meshName and spec")
    mesh_name = _name(mesh, "meshName", "mesh")
    mesh_spec = mesh.get("spec") or {}
    if not isinstance(mesh_spec, Mapping):
        raise ValueError("mesh.spec: expected a mapping")
    tables: dict[str, dict[str, Any]] = {}
    for key, field in _LISTS.items():
        table: dict[str, Any] = {}
        for index, item in enumerate(_items(doc, key)):
            name = _name(item, field, f"{key}[{index}]")
            if name in table:
                raise ValueError(f"{key}[{index}]: duplicate {field} {name!r}")
            table[name] = dict(item.get("spec") or {})
        tables[key] = table
    for key, (field, parent_field) in _CHILDREN.items():
        table = {}
        for index, item in enumerate(_items(doc, key)):
            where = f"{key}[{index}]"
            name, parent = _name(item, field, where), _name(item, parent_field, where)
            siblings = table.setdefault(parent, {})
            if name in siblings:
                raise ValueError(f"{where}: duplicate {field} {name!r} under {parent}")
            siblings[name] = dict(item.get("spec") or {})
        tables[key] = table
    return MeshSnapshot(
        account=str(doc.get("account", default_account)),
        region=str(doc.get("region", default_region)),
        name=mesh_name,
        revision=int(doc.get("revision", 0)),
        spec=dict(mesh_spec),
        virtual_nodes=tables["virtualNodes"],
        virtual_routers=tables["virtualRouters"],
        routes=tables["routes"],
        virtual_services=tables["virtualServices"],
        virtual_gateways=tables["virtualGateways"],
        gateway_routes=tables["gatewayRoutes"],
    )


def load_mesh_file(path: str | Path) -> MeshSnapshot:
    """Read a YAML (or JSON) mesh file; ValueError names the file and what is wrong."""
    try:
        doc = yaml.safe_load(Path(path).read_text())
    except OSError as exc:
        raise ValueError(f"{path}: cannot read: {exc}") from exc
    except yaml.YAMLError as exc:
        raise ValueError(f"{path}: not valid YAML: {exc}") from exc
    try:
        return snapshot_from_document(doc)
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from exc
