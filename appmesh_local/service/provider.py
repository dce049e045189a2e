"""One method per App Mesh operation, dispatched by operation name.

Methods are named after the operation in snake_case (CreateVirtualNode →
create_virtual_node) and take the validated input params of that operation.
"""

from __future__ import annotations

import time
from typing import Any, Callable

from botocore import xform_name

from ..api_models.errors import LimitExceeded
from ..store import ResourceStore, StateStore
from . import kinds, references, spec_rules
from .context import RequestContext
from .quotas import Quotas
from .resources import Check, Resources
from .tags import Tags

Params = dict[str, Any]


def _no_check(*_: Any) -> None:
    """Kinds whose create or update references nothing stored (meshes, nodes, gateways)."""


class AppMeshService:
    def __init__(
        self, store: StateStore, quotas: Quotas | None = None, clock: Callable[[], float] | None = None
    ) -> None:
        self.store = store
        self.quotas = quotas or Quotas()
        self.resources = Resources(store, self.quotas, clock or time.time)
        self.tags = Tags(store)

    def dispatch(self, operation: str, ctx: RequestContext, params: Params) -> dict[str, Any]:
        handler: Callable[[RequestContext, Params], Params] | None = getattr(self, xform_name(operation), None)
        if handler is None:
            raise NotImplementedError(f"operation {operation} is not implemented")
        return handler(ctx, params)

    # -- checks that need the request's parent names -------------------------------------------
    def _node_rules(self, spec: Params) -> None:
        spec_rules.check_virtual_node(spec)
        if len(spec.get("backends") or []) > self.quotas.backendsPerVirtualNode:
            raise LimitExceeded(f"Exceeded the limit of {self.quotas.backendsPerVirtualNode} backends per VirtualNode")

    @staticmethod
    def _route_check(params: Params) -> Check:
        def check(store: ResourceStore, ctx: RequestContext, mesh: str, spec: Params, current: Any) -> None:
            router = references.require(store, ctx, kinds.VIRTUAL_ROUTER, mesh, params["virtualRouterName"])
            references.check_route(store, ctx, mesh, router, spec)

        return check

    @staticmethod
    def _gateway_route_check(params: Params) -> Check:
        def check(store: ResourceStore, ctx: RequestContext, mesh: str, spec: Params, current: Any) -> None:
            gateway = references.require(store, ctx, kinds.VIRTUAL_GATEWAY, mesh, params["virtualGatewayName"])
            references.check_gateway_route(store, ctx, mesh, gateway, spec)

        return check

    @staticmethod
    def _router_check(store: ResourceStore, ctx: RequestContext, mesh: str, spec: Params, current: Any) -> None:
        if current is not None:
            references.check_router_update(store, ctx, mesh, current.key.name, spec)

    @staticmethod
    def _gateway_check(store: ResourceStore, ctx: RequestContext, mesh: str, spec: Params, current: Any) -> None:
        if current is not None:
            references.check_gateway_update(store, ctx, mesh, current.key.name, spec)

    @staticmethod
    def _service_check(store: ResourceStore, ctx: RequestContext, mesh: str, spec: Params, current: Any) -> None:
        references.check_virtual_service(store, ctx, mesh, spec)

    # -- meshes --------------------------------------------------------------------------------
    def create_mesh(self, ctx: RequestContext, p: Params) -> Params:
        return self.resources.create(ctx, "CreateMesh", kinds.MESH, p, _no_check)

    def describe_mesh(self, ctx: RequestContext, p: Params) -> Params:
        return self.resources.describe(ctx, kinds.MESH, p)

    def update_mesh(self, ctx: RequestContext, p: Params) -> Params:
        return self.resources.update(ctx, "UpdateMesh", kinds.MESH, p, _no_check)

    def delete_mesh(self, ctx: RequestContext, p: Params) -> Params:
        return self.resources.delete(
            ctx, kinds.MESH, p, lambda s, c, mesh, name: references.check_mesh_deletable(s, c, name)
        )

    def list_meshes(self, ctx: RequestContext, p: Params) -> Params:
        return self.resources.list(ctx, kinds.MESH, p)

    # -- virtual nodes -------------------------------------------------------------------------
    def create_virtual_node(self, ctx: RequestContext, p: Params) -> Params:
        return self.resources.create(ctx, "CreateVirtualNode", kinds.VIRTUAL_NODE, p, _no_check, self._node_rules)

    def describe_virtual_node(self, ctx: RequestContext, p: Params) -> Params:
        return self.resources.describe(ctx, kinds.VIRTUAL_NODE, p)

    def update_virtual_node(self, ctx: RequestContext, p: Params) -> Params:
        return self.resources.update(ctx, "UpdateVirtualNode", kinds.VIRTUAL_NODE, p, _no_check, self._node_rules)

    def delete_virtual_node(self, ctx: RequestContext, p: Params) -> Params:
        return self.resources.delete(ctx, kinds.VIRTUAL_NODE, p, references.check_node_deletable)

    def list_virtual_nodes(self, ctx: RequestContext, p: Params) -> Params:
        return self.resources.list(ctx, kinds.VIRTUAL_NODE, p)

    # -- virtual routers -----------------------------------------------------------------------
    def create_virtual_router(self, ctx: RequestContext, p: Params) -> Params:
        return self.resources.create(
            ctx, "CreateVirtualRouter", kinds.VIRTUAL_ROUTER, p, self._router_check, spec_rules.check_virtual_router
        )

    def describe_virtual_router(self, ctx: RequestContext, p: Params) -> Params:
        return self.resources.describe(ctx, kinds.VIRTUAL_ROUTER, p)

    def update_virtual_router(self, ctx: RequestContext, p: Params) -> Params:
        return self.resources.update(
            ctx, "UpdateVirtualRouter", kinds.VIRTUAL_ROUTER, p, self._router_check, spec_rules.check_virtual_router
        )

    def delete_virtual_router(self, ctx: RequestContext, p: Params) -> Params:
        return self.resources.delete(ctx, kinds.VIRTUAL_ROUTER, p, references.check_router_deletable)

    def list_virtual_routers(self, ctx: RequestContext, p: Params) -> Params:
        return self.resources.list(ctx, kinds.VIRTUAL_ROUTER, p)

    # -- routes --------------------------------------------------------------------------------
    def create_route(self, ctx: RequestContext, p: Params) -> Params:
        return self.resources.create(
            ctx, "CreateRoute", kinds.ROUTE, p, self._route_check(p), spec_rules.check_route_spec
        )

    def describe_route(self, ctx: RequestContext, p: Params) -> Params:
        return self.resources.describe(ctx, kinds.ROUTE, p)

    def update_route(self, ctx: RequestContext, p: Params) -> Params:
        return self.resources.update(
            ctx, "UpdateRoute", kinds.ROUTE, p, self._route_check(p), spec_rules.check_route_spec
        )

    def delete_route(self, ctx: RequestContext, p: Params) -> Params:
        return self.resources.delete(ctx, kinds.ROUTE, p, _no_check)

    def list_routes(self, ctx: RequestContext, p: Params) -> Params:
        return self.resources.list(ctx, kinds.ROUTE, p)

    # -- virtual services ----------------------------------------------------------------------
    def create_virtual_service(self, ctx: RequestContext, p: Params) -> Params:
        return self.resources.create(ctx, "CreateVirtualService", kinds.VIRTUAL_SERVICE, p, self._service_check)

    def describe_virtual_service(self, ctx: RequestContext, p: Params) -> Params:
        return self.resources.describe(ctx, kinds.VIRTUAL_SERVICE, p)

    def update_virtual_service(self, ctx: RequestContext, p: Params) -> Params:
        return self.resources.update(ctx, "UpdateVirtualService", kinds.VIRTUAL_SERVICE, p, self._service_check)

    def delete_virtual_service(self, ctx: RequestContext, p: Params) -> Params:
        return self.resources.delete(ctx, kinds.VIRTUAL_SERVICE, p, references.check_service_deletable)

    def list_virtual_services(self, ctx: RequestContext, p: Params) -> Params:
        return self.resources.list(ctx, kinds.VIRTUAL_SERVICE, p)

    # -- virtual gateways ----------------------------------------------------------------------
    def create_virtual_gateway(self, ctx: RequestContext, p: Params) -> Params:
        return self.resources.create(
            ctx, "CreateVirtualGateway", kinds.VIRTUAL_GATEWAY, p, self._gateway_check, spec_rules.check_virtual_gateway
        )

    def describe_virtual_gateway(self, ctx: RequestContext, p: Params) -> Params:
        return self.resources.describe(ctx, kinds.VIRTUAL_GATEWAY, p)

    def update_virtual_gateway(self, ctx: RequestContext, p: Params) -> Params:
        return self.resources.update(
            ctx, "UpdateVirtualGateway", kinds.VIRTUAL_GATEWAY, p, self._gateway_check, spec_rules.check_virtual_gateway
        )

    def delete_virtual_gateway(self, ctx: RequestContext, p: Params) -> Params:
        return self.resources.delete(ctx, kinds.VIRTUAL_GATEWAY, p, references.check_gateway_deletable)

    def list_virtual_gateways(self, ctx: RequestContext, p: Params) -> Params:
        return self.resources.list(ctx, kinds.VIRTUAL_GATEWAY, p)

    # -- gateway routes ------------------------------------------------------------------------
    def create_gateway_route(self, ctx: RequestContext, p: Params) -> Params:
        return self.resources.create(
            ctx,
            "CreateGatewayRoute",
            kinds.GATEWAY_ROUTE,
            p,
            self._gateway_route_check(p),
            spec_rules.check_gateway_route_spec,
        )

    def describe_gateway_route(self, ctx: RequestContext, p: Params) -> Params:
        return self.resources.describe(ctx, kinds.GATEWAY_ROUTE, p)

    def update_gateway_route(self, ctx: RequestContext, p: Params) -> Params:
        return self.resources.update(
            ctx,
            "UpdateGatewayRoute",
            kinds.GATEWAY_ROUTE,
            p,
            self._gateway_route_check(p),
            spec_rules.check_gateway_route_spec,
        )

    def delete_gateway_route(self, ctx: RequestContext, p: Params) -> Params:
        return self.resources.delete(ctx, kinds.GATEWAY_ROUTE, p, _no_check)

    def list_gateway_routes(self, ctx: RequestContext, p: Params) -> Params:
        return self.resources.list(ctx, kinds.GATEWAY_ROUTE, p)

    # -- tags ----------------------------------------------------------------------------------
    def tag_resource(self, ctx: RequestContext, p: Params) -> Params:
        return self.tags.tag(ctx, p["resourceArn"], p["tags"])

    def untag_resource(self, ctx: RequestContext, p: Params) -> Params:
        return self.tags.untag(ctx, p["resourceArn"], p["tagKeys"])

    def list_tags_for_resource(self, ctx: RequestContext, p: Params) -> Params:
        return self.tags.list(ctx, p["resourceArn"], p.get("limit"), p.get("nextToken"))
