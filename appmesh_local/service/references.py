"""Referential integrity: what a spec may point at, and what may not be deleted while in use.

Messages follow those AWS returned (docs/reference.md#api-errors); see docs/aws-behaviour.md.
"""

from __future__ import annotations

from typing import Any, Collection, Iterable, Mapping

from ..api_models.errors import BadRequest, NotFound, ResourceInUse
from ..store import ResourceReader
from ..store.records import ResourceKey, ResourceRecord
from . import kinds, spec_rules
from .context import RequestContext

ROUTE_TYPES = spec_rules.ROUTE_TYPES
GATEWAY_ROUTE_TYPES = spec_rules.GATEWAY_ROUTE_TYPES
one_route_type = spec_rules.one_route_type  # the spec's own rule; re-exported for callers of this module


def not_found(ctx: RequestContext, kind: kinds.Kind, name: str, mesh: str, parent: str = "") -> NotFound:
    if kind is kinds.MESH:
        return NotFound(f"Mesh with name {name} is not present for account {ctx.account}")
    where = f"under {kind.parent.title} {parent} in mesh {mesh}" if kind.parent else f"under mesh {mesh}"
    return NotFound(f"{kind.title} with name {name} is not present {where} for account {ctx.account}")


def require(
    store: ResourceReader, ctx: RequestContext, kind: kinds.Kind, mesh: str, name: str, parent: str = ""
) -> ResourceRecord:
    mesh_key = mesh if kind is not kinds.MESH else name
    record = store.get(ResourceKey(ctx.account, ctx.region, kind.kind, mesh_key, parent, name))
    if record is None:
        raise not_found(ctx, kind, name, mesh, parent)
    return record


def _listener_ports(spec: Mapping[str, Any]) -> list[int]:
    return [listener["portMapping"]["port"] for listener in spec.get("listeners") or []]


# AWS's words (docs/aws-behaviour.md has the sources): a new route without a port match on a
# multi-listener router, a router update that would strand such routes, a gateway route
# without a port match on a multi-listener gateway.
ROUTE_PORT_REQUIRED = "Route must define a port match criteria if the Virtual Router has multiple listeners"
GATEWAY_ROUTE_PORT_REQUIRED = (
    "Gateway route must define a match port if the parent Virtual Gateway has multiple listeners"
)
LISTED_ROUTES = 5  # "Listing up to 5 route names"


def _match_port(route_body: Mapping[str, Any]) -> int | None:
    port = (route_body.get("match") or {}).get("port")
    return int(port) if port is not None else None


def _check_port_match(
    route_body: Mapping[str, Any], ports: Collection[int], owner: str, owner_title: str, missing: str
) -> None:
    port = _match_port(route_body)
    if port is None and len(ports) > 1:
        raise BadRequest(missing)
    if port is not None and port not in ports:
        raise BadRequest(f"The port match {port} does not match any listener port of {owner_title} {owner}")


def check_route(
    store: ResourceReader, ctx: RequestContext, mesh: str, router: ResourceRecord, spec: Mapping[str, Any]
) -> None:
    """A route needs a port match that fits its router and existing target nodes (spec_rules ran before)."""
    _, body = one_route_type(spec, ROUTE_TYPES, "Route")
    _check_port_match(body, _listener_ports(router.spec), router.key.name, "Virtual Router", ROUTE_PORT_REQUIRED)
    for target in body["action"]["weightedTargets"]:
        require(store, ctx, kinds.VIRTUAL_NODE, mesh, target["virtualNode"])


def _check_listener_update(
    routes: Iterable[ResourceRecord],
    route_types: tuple[str, ...],
    ports: Collection[int],
    owner: str,
    owner_title: str,
    noun: str,
) -> None:
    """Adding listeners must not strand routes: every route needs a port match once there are
    several listeners, and a port match must still name a listener."""
    bodies = [(route.key.name, one_route_type(route.spec, route_types, noun)[1]) for route in routes]
    if len(ports) > 1:
        missing = [name for name, body in bodies if _match_port(body) is None]
        if missing:
            raise BadRequest(
                f"All {noun}s for this {owner_title} must define a port match before adding multiple listeners "
                f"to this {owner_title}. {len(missing)} {noun}(s) are missing port. "
                f"Listing up to {LISTED_ROUTES} route names: [{', '.join(missing[:LISTED_ROUTES])}]"
            )
    for _, body in bodies:
        port = _match_port(body)
        if port is not None and port not in ports:
            raise BadRequest(f"The port match {port} does not match any listener port of {owner_title} {owner}")


def check_router_update(
    store: ResourceReader, ctx: RequestContext, mesh: str, name: str, spec: Mapping[str, Any]
) -> None:
    """Adding listeners to a router must not strand routes without a matching port."""
    routes = store.list_records(ctx.account, ctx.region, kinds.ROUTE.kind, mesh, name)
    _check_listener_update(routes, ROUTE_TYPES, set(_listener_ports(spec)), name, "Virtual Router", "Route")


def check_gateway_update(
    store: ResourceReader, ctx: RequestContext, mesh: str, name: str, spec: Mapping[str, Any]
) -> None:
    """Adding listeners to a gateway must not strand gateway routes without a matching port (the
    router rule, worded by analogy: AWS's gateway wording is not on record)."""
    routes = store.list_records(ctx.account, ctx.region, kinds.GATEWAY_ROUTE.kind, mesh, name)
    _check_listener_update(
        routes, GATEWAY_ROUTE_TYPES, set(_listener_ports(spec)), name, "Virtual Gateway", "GatewayRoute"
    )


def check_gateway_route(
    store: ResourceReader, ctx: RequestContext, mesh: str, gateway: ResourceRecord, spec: Mapping[str, Any]
) -> None:
    _, body = one_route_type(spec, GATEWAY_ROUTE_TYPES, "GatewayRoute")
    _check_port_match(
        body, _listener_ports(gateway.spec), gateway.key.name, "Virtual Gateway", GATEWAY_ROUTE_PORT_REQUIRED
    )
    target = body["action"]["target"]
    service = require(store, ctx, kinds.VIRTUAL_SERVICE, mesh, target["virtualService"]["virtualServiceName"])
    if target.get("port") is None and len(_provider_ports(store, ctx, mesh, service.spec)) > 1:
        raise BadRequest(
            f"The target port is required because the provider of VirtualService {service.key.name} has multiple listeners"
        )


def _provider_ports(
    store: ResourceReader, ctx: RequestContext, mesh: str, service_spec: Mapping[str, Any]
) -> list[int]:
    """Listener ports of a virtual service's provider (node or router), [] when it has none."""
    provider = service_spec.get("provider") or {}
    for kind in (kinds.VIRTUAL_NODE, kinds.VIRTUAL_ROUTER):
        if kind.kind in provider:
            record = store.get(
                ResourceKey(ctx.account, ctx.region, kind.kind, mesh, "", provider[kind.kind][kind.name_param])
            )
            return _listener_ports(record.spec) if record else []
    return []


def check_virtual_service(store: ResourceReader, ctx: RequestContext, mesh: str, spec: Mapping[str, Any]) -> None:
    provider = spec.get("provider") or {}
    if "virtualNode" in provider:
        require(store, ctx, kinds.VIRTUAL_NODE, mesh, provider["virtualNode"]["virtualNodeName"])
    if "virtualRouter" in provider:
        require(store, ctx, kinds.VIRTUAL_ROUTER, mesh, provider["virtualRouter"]["virtualRouterName"])


# -- in use ------------------------------------------------------------------------------------
def _providers(store: ResourceReader, ctx: RequestContext, mesh: str, kind: str, name: str) -> Iterable[ResourceRecord]:
    for service in store.in_mesh(ctx.account, ctx.region, mesh, kinds.VIRTUAL_SERVICE.kind):
        provider = (service.spec.get("provider") or {}).get(kind) or {}
        if provider.get(f"{kind}Name") == name:
            yield service


def check_mesh_deletable(store: ResourceReader, ctx: RequestContext, mesh: str) -> None:
    for child in kinds.MESH_CHILDREN:
        if store.count(ctx.account, ctx.region, child.kind, mesh):
            raise ResourceInUse(
                f"Mesh {mesh} for account {ctx.account} has active {child.title}s, "
                f"please delete {child.title}s before deleting the Mesh"
            )


def check_node_deletable(store: ResourceReader, ctx: RequestContext, mesh: str, name: str) -> None:
    if any(_providers(store, ctx, mesh, kinds.VIRTUAL_NODE.kind, name)):
        raise ResourceInUse(f"VirtualNode with name {name} cannot be deleted because it is a VirtualService provider")
    for route in store.in_mesh(ctx.account, ctx.region, mesh, kinds.ROUTE.kind):
        _, body = one_route_type(route.spec, ROUTE_TYPES, "Route")
        if any(t["virtualNode"] == name for t in body["action"]["weightedTargets"]):
            raise ResourceInUse(
                f"VirtualNode with name {name} cannot be deleted because it is the target of one or more routes."
            )


def check_router_deletable(store: ResourceReader, ctx: RequestContext, mesh: str, name: str) -> None:
    if store.count(ctx.account, ctx.region, kinds.ROUTE.kind, mesh, name):
        raise ResourceInUse(
            f"VirtualRouter with name {name} cannot be deleted because it has active Routes, please delete Routes first"
        )
    if any(_providers(store, ctx, mesh, "virtualRouter", name)):
        raise ResourceInUse(f"VirtualRouter with name {name} cannot be deleted because it is a VirtualService provider")


def check_gateway_deletable(store: ResourceReader, ctx: RequestContext, mesh: str, name: str) -> None:
    if store.count(ctx.account, ctx.region, kinds.GATEWAY_ROUTE.kind, mesh, name):
        raise ResourceInUse(
            f"VirtualGateway with name {name} cannot be deleted because it has active GatewayRoutes, please delete GatewayRoutes first"
        )


def check_service_deletable(store: ResourceReader, ctx: RequestContext, mesh: str, name: str) -> None:
    users = []
    for route in store.in_mesh(ctx.account, ctx.region, mesh, kinds.GATEWAY_ROUTE.kind):
        _, body = one_route_type(route.spec, GATEWAY_ROUTE_TYPES, "GatewayRoute")
        if body["action"]["target"]["virtualService"]["virtualServiceName"] == name:
            users.append(route.uid)
    if users:
        raise ResourceInUse(
            f"VirtualService {name} is being referenced in the following: GATEWAY_ROUTE: [{', '.join(users)}]"
        )
