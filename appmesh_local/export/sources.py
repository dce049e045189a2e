"""Where an export or offline translation reads a mesh from: a running server's API, a state
directory, or a file. Each returns the translator's input, a MeshSnapshot.

Reading through the API (Describe/List, as any App Mesh client would) works against any
appmesh-local, local or remote, whatever its version or storage.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from appmesh_local.clients import (  # noqa: F401 - re-exported: the export command's names
    DEFAULT_ACCOUNT,
    DEFAULT_ENDPOINT,
    DEFAULT_REGION,
    api_client,
    api_client_factory,
    default_endpoint,
)
from appmesh_local.store.records import MeshSnapshot
from appmesh_local.translate.loader import load_mesh_file


class SourceError(Exception):
    """The mesh cannot be read: the message is one line, for the user."""


def snapshot_from_api(client: Any, mesh: str, mesh_owner: str | None = None) -> MeshSnapshot:
    """Describe the mesh and every resource in it (List* then Describe*)."""
    from botocore.exceptions import BotoCoreError, ClientError

    owner = {"meshOwner": mesh_owner} if mesh_owner else {}
    where = client.meta.endpoint_url
    try:
        described = client.describe_mesh(meshName=mesh, **owner)["mesh"]
        tables = _describe_all(client, mesh, owner)
    except ClientError as exc:
        error = exc.response.get("Error", {})
        if error.get("Code") == "NotFoundException" and exc.operation_name == "DescribeMesh":
            raise SourceError(f"mesh {mesh!r} not found at {where}") from None
        raise SourceError(
            f"{exc.operation_name} at {where} failed: {error.get('Code')}: {error.get('Message')}"
        ) from None
    except BotoCoreError as exc:
        raise SourceError(f"cannot read mesh {mesh!r} from {where}: {exc}") from None
    arn_parts = described["metadata"]["arn"].split(":")
    return MeshSnapshot(
        account=described["metadata"].get("meshOwner") or arn_parts[4],
        region=arn_parts[3],
        name=mesh,
        revision=0,
        spec=described.get("spec") or {},
        **tables,
    )


def _describe_all(client: Any, mesh: str, owner: dict[str, str]) -> dict[str, Any]:
    def names(operation: str, key: str, field: str, **params: Any) -> list[str]:
        paginator = client.get_paginator(operation)
        return [item[field] for page in paginator.paginate(meshName=mesh, **owner, **params) for item in page[key]]

    def spec(describe: Callable[..., Any], result_key: str, **params: Any) -> Any:
        return describe(meshName=mesh, **owner, **params)[result_key].get("spec") or {}

    nodes = {
        n: spec(client.describe_virtual_node, "virtualNode", virtualNodeName=n)
        for n in names("list_virtual_nodes", "virtualNodes", "virtualNodeName")
    }
    routers = {
        n: spec(client.describe_virtual_router, "virtualRouter", virtualRouterName=n)
        for n in names("list_virtual_routers", "virtualRouters", "virtualRouterName")
    }
    routes = {
        r: {
            n: spec(client.describe_route, "route", virtualRouterName=r, routeName=n)
            for n in names("list_routes", "routes", "routeName", virtualRouterName=r)
        }
        for r in routers
    }
    services = {
        n: spec(client.describe_virtual_service, "virtualService", virtualServiceName=n)
        for n in names("list_virtual_services", "virtualServices", "virtualServiceName")
    }
    gateways = {
        n: spec(client.describe_virtual_gateway, "virtualGateway", virtualGatewayName=n)
        for n in names("list_virtual_gateways", "virtualGateways", "virtualGatewayName")
    }
    gateway_routes = {
        g: {
            n: spec(client.describe_gateway_route, "gatewayRoute", virtualGatewayName=g, gatewayRouteName=n)
            for n in names("list_gateway_routes", "gatewayRoutes", "gatewayRouteName", virtualGatewayName=g)
        }
        for g in gateways
    }
    return {
        "virtual_nodes": nodes,
        "virtual_routers": routers,
        "routes": {r: v for r, v in routes.items() if v},
        "virtual_services": services,
        "virtual_gateways": gateways,
        "gateway_routes": {g: v for g, v in gateway_routes.items() if v},
    }


def snapshot_from_state_dir(
    state_dir: Path, mesh: str, account: str = DEFAULT_ACCOUNT, region: str = DEFAULT_REGION
) -> MeshSnapshot:
    """Read the mesh straight from a state directory's SQLite file (the server may be running)."""
    from appmesh_local.store import Store

    path = Path(state_dir) / "appmesh-local.sqlite3"
    if not path.is_file():
        raise SourceError(f"no appmesh-local state in {state_dir} (expected {path.name})")
    try:
        store = Store(path)
    except Exception as exc:  # sqlite3.DatabaseError and friends: not our file, or corrupt
        raise SourceError(f"cannot open the state in {state_dir}: {exc}") from None
    try:
        snapshot = store.mesh_snapshot(account, region, mesh)
    finally:
        store.close()
    if snapshot is None:
        raise SourceError(f"mesh {mesh!r} not found in {state_dir} (account {account}, region {region})")
    return snapshot


def snapshot_from_file(path: Path) -> MeshSnapshot:
    """A YAML/JSON file of App Mesh resources (see translate.loader for the shape), checked as the API would.

    Every resource must pass what its Create operation checks on its own (service/standalone.py),
    or the file is refused with the API's message, naming the resource.
    """
    try:
        snapshot = load_mesh_file(path)
    except ValueError as exc:
        raise SourceError(str(exc)) from None
    check_snapshot(snapshot, str(path))
    return snapshot


def check_snapshot(snapshot: MeshSnapshot, where: str) -> None:
    """SourceError with the API's BadRequest message for the first resource the API would refuse."""
    from appmesh_local.api_models.errors import ApiError
    from appmesh_local.service.standalone import check_resource

    mesh = snapshot.name
    resources: list[tuple[str, str, str, Any, str]] = [("mesh", "mesh", mesh, snapshot.spec, "")]
    for label, kind, table in (
        ("virtual node", "virtualNode", snapshot.virtual_nodes),
        ("virtual router", "virtualRouter", snapshot.virtual_routers),
        ("virtual service", "virtualService", snapshot.virtual_services),
        ("virtual gateway", "virtualGateway", snapshot.virtual_gateways),
    ):
        resources += [(label, kind, name, spec, "") for name, spec in table.items()]
    for label, kind, children in (
        ("route", "route", snapshot.routes),
        ("gateway route", "gatewayRoute", snapshot.gateway_routes),
    ):
        resources += [
            (label, kind, name, spec, parent) for parent, named in children.items() for name, spec in named.items()
        ]
    for label, kind, name, spec, parent in resources:
        try:
            check_resource(kind, mesh, name, spec, parent)
        except ApiError as exc:
            under = f" (under {parent})" if parent else ""
            raise SourceError(f"{where}: {label} {name!r}{under}: {exc.code}: {exc.message}") from None
