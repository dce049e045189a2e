"""Apply or delete a set of manifests as the controller would reconcile them.

Like `kubectl apply` followed by the controller: each object's App Mesh resource is
created when missing and updated when it differs (the controller adopts a resource of
the same name), and a VirtualRouter's routes are made to match its `routes` exactly
(`pkg/virtualrouter/routes_manager.go` deletes the ones no longer listed). Objects are
remembered on the server (applied set `kubernetes`), so a later apply can refer to
them and `delete -f` knows their App Mesh names.
"""

from __future__ import annotations

from typing import Any

from ...service import kinds
from .. import meshops
from ..documents import Manifest
from ..errors import ApplyError
from ..registry import KUBERNETES
from ..report import Report
from ..target import Target
from .convert import mesh_resources
from .objects import KObject, Objects, objects_from, read_object

ORDER = ("Mesh", "VirtualNode", "VirtualRouter", "VirtualService", "VirtualGateway", "GatewayRoute")


def _load(manifests: list[Manifest], target: Target, report: Report) -> tuple[list[KObject], Objects, dict[str, Any]]:
    record = target.registry.get(KUBERNETES) or {
        "kind": "kubernetes",
        "name": KUBERNETES,
        "objects": {},
        "namespaces": {},
    }
    known = objects_from((record.get("objects") or {}).values(), record.get("namespaces") or {})
    given: list[KObject] = []
    seen: set[str] = set()
    for manifest in manifests:
        obj = read_object(manifest)
        metadata = manifest.body.get("metadata") or {}
        name = metadata.get("name") if isinstance(metadata, dict) else None
        if obj is None:
            report.add(
                "skip",
                f"{manifest.kind}/{name}",
                str(manifest.body.get("apiVersion")),
                "not an App Mesh controller object",
            )
            continue
        if obj.key in seen:
            raise obj.error("defined twice in these manifests")
        seen.add(obj.key)
        known.add(obj)
        if obj.kind == "Namespace":
            report.add("skip", obj.key, "v1", "labels recorded (mesh and gateway selection)")
            record.setdefault("namespaces", {})[obj.name] = dict(obj.labels)
            continue
        given.append(obj)
    given.sort(key=lambda o: ORDER.index(o.kind))
    return given, known, record


def _label(obj: KObject, resource: meshops.MeshResource) -> str:
    return obj.key if resource.kind is not kinds.ROUTE else f"{obj.key}#{resource.name}"


def apply_manifests(manifests: list[Manifest], target: Target, report: Report, dry_run: bool = False) -> None:
    given, known, record = _load(manifests, target, report)
    client = target.appmesh
    prunes: list[tuple[KObject, meshops.MeshResource, set[str]]] = []
    for obj in given:
        if obj.spec.get("backendGroups"):
            report.warn(
                f"{obj.key}: spec.backendGroups is recorded, not applied (the controller applies it only "
                "with --enable-backend-groups); list the backends instead"
            )
        resources = mesh_resources(obj, known)
        for resource in resources:
            try:
                meshops.validate(resource)
            except Exception as exc:  # noqa: BLE001 - api_models' BadRequest: AWS's own message
                raise obj.error(
                    f"{getattr(exc, 'code', type(exc).__name__)}: {getattr(exc, 'message', exc)}", "spec"
                ) from None
        for resource in resources:
            _reconcile(obj, resource, client, report, dry_run)
        if obj.kind == "VirtualRouter":
            prunes.append((obj, resources[0], {r.name for r in resources[1:]}))
        if not dry_run:
            record.setdefault("objects", {})[obj.key] = obj.as_record()
            target.registry.put(KUBERNETES, record)
    for obj, router, wanted in prunes:
        _prune_routes(obj, router, wanted, client, report, dry_run)
    if not dry_run:
        target.registry.put(KUBERNETES, record)


def _reconcile(obj: KObject, resource: meshops.MeshResource, client: Any, report: Report, dry_run: bool) -> None:
    try:
        live = meshops.describe(client, resource)
        if live is None:
            if not dry_run:
                meshops.create(client, resource)
            report.add("create", _label(obj, resource), resource.kind.title, resource.label)
            return
        changes = meshops.differs(resource, live)
        if changes and not dry_run:
            meshops.update(client, resource, live)
        report.add(
            "update" if changes else "unchanged",
            _label(obj, resource),
            resource.kind.title,
            resource.label + (f" ({', '.join(changes)})" if changes else ""),
        )
    except meshops.MeshCallError as exc:
        raise obj.error(f"{exc.code}: {exc.detail}") from None


def _route_names(client: Any, router: meshops.MeshResource) -> list[str]:
    try:
        return [
            route["routeName"]
            for page in client.get_paginator("list_routes").paginate(
                meshName=router.mesh, virtualRouterName=router.name
            )
            for route in page["routes"]
        ]
    except Exception:  # noqa: BLE001 - a router that does not exist yet (dry run) has no routes
        return []


def _prune_routes(
    obj: KObject, router: meshops.MeshResource, wanted: set[str], client: Any, report: Report, dry_run: bool
) -> None:
    for name in _route_names(client, router):
        if name in wanted:
            continue
        route = meshops.MeshResource(
            kinds.ROUTE, {"meshName": router.mesh, "virtualRouterName": router.name, "routeName": name}
        )
        if not dry_run:
            try:
                meshops.delete(client, route)
            except meshops.MeshCallError as exc:
                raise obj.error(f"{exc.code}: {exc.detail}") from None
        report.add("delete", f"{obj.key}#{name}", "Route", f"{route.label} (no longer in spec.routes)")


def delete_manifests(manifests: list[Manifest], target: Target, report: Report, dry_run: bool = False) -> None:
    """Delete the App Mesh resources of the given objects, dependents first."""
    given, known, record = _load(manifests, target, report)
    client = target.appmesh
    for obj in sorted((o for o in given if o.kind != "Namespace"), key=lambda o: -ORDER.index(o.kind)):
        try:
            resources = mesh_resources(obj, known)
        except ApplyError as exc:
            raise exc from None
        head = resources[0]
        targets = [head]
        if obj.kind == "VirtualRouter":  # the controller removes a router's routes with it
            targets = [
                meshops.MeshResource(
                    kinds.ROUTE, {"meshName": head.mesh, "virtualRouterName": head.name, "routeName": name}
                )
                for name in _route_names(client, head)
            ]
            targets.append(head)
        for resource in targets:
            try:
                gone = (
                    dry_run
                    and meshops.describe(client, resource) is None
                    or (not dry_run and not meshops.delete(client, resource))
                )
            except meshops.MeshCallError as exc:
                raise obj.error(f"{exc.code}: {exc.detail}") from None
            report.add(
                "delete",
                _label(obj, resource),
                resource.kind.title,
                resource.label + (" (was already gone)" if gone else ""),
            )
        if not dry_run:
            (record.get("objects") or {}).pop(obj.key, None)
            target.registry.put(KUBERNETES, record)
