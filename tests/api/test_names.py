"""Names become ARN segments: one with a '/' is refused on create (docs/aws-behaviour.md, "Names").

The model lets every ResourceName be any 1-255 characters, but App Mesh's ARNs
(`mesh/M/virtualRouter/R/route/N`) and Envoy node ids (`mesh/M/virtualNode/N`) separate names with
'/': a router named `r/route/x` would share the ARN of route `x` of router `r`. The release before
stored such names and then replaced one resource with the other; now the create is a 400 and
nothing is stored.
"""

from __future__ import annotations

import pytest

from tests.api.helpers import api_error, gateway_spec, http_route_spec, node_spec, router_spec, unique


def pattern_error(value: str, field: str) -> tuple[str, ...]:
    return (
        "1 validation error detected",
        f"Value '{value}' at '{field}' failed to satisfy constraint",
        "Member must satisfy regular expression pattern: [^/]+",
    )


def test_mesh_name_with_slash_is_refused(api) -> None:
    name = unique("m") + "/virtualNode/x"
    with api_error("BadRequestException", 400, *pattern_error(name, "meshName")):
        api.create_mesh(meshName=name)
    assert name not in [m["meshName"] for m in api.list_meshes()["meshes"]]


@pytest.mark.parametrize(
    "create, field",
    [
        (lambda api, m, n: api.create_virtual_node(meshName=m, virtualNodeName=n, spec=node_spec()), "virtualNodeName"),
        (
            lambda api, m, n: api.create_virtual_router(meshName=m, virtualRouterName=n, spec=router_spec()),
            "virtualRouterName",
        ),
        (lambda api, m, n: api.create_virtual_service(meshName=m, virtualServiceName=n, spec={}), "virtualServiceName"),
        (
            lambda api, m, n: api.create_virtual_gateway(meshName=m, virtualGatewayName=n, spec=gateway_spec()),
            "virtualGatewayName",
        ),
    ],
)
def test_child_names_with_slash_are_refused(api, mesh, create, field) -> None:
    with api_error("BadRequestException", 400, *pattern_error("r/route/x", field)):
        create(api, mesh, "r/route/x")


def test_the_collision_the_slash_allowed_cannot_happen(api, mesh) -> None:
    """Route `x` of router `r` keeps its ARN and its data: no router `r/route/x` can take them."""
    api.create_virtual_node(meshName=mesh, virtualNodeName="n", spec=node_spec())
    api.create_virtual_router(meshName=mesh, virtualRouterName="r", spec=router_spec())
    route = api.create_route(meshName=mesh, virtualRouterName="r", routeName="x", spec=http_route_spec("n"))["route"]
    with api_error("BadRequestException", 400, "virtualRouterName"):
        api.create_virtual_router(meshName=mesh, virtualRouterName="r/route/x", spec=router_spec())
    again = api.describe_route(meshName=mesh, virtualRouterName="r", routeName="x")["route"]
    assert again["metadata"] == route["metadata"]
    assert [r["virtualRouterName"] for r in api.list_virtual_routers(meshName=mesh)["virtualRouters"]] == ["r"]


def test_other_punctuation_is_still_accepted(api, mesh) -> None:
    """Only '/' cannot be represented; dots, colons, '@' and the rest stay valid names."""
    name = "svc.ns.svc.cluster.local:8080@x_y-z"
    created = api.create_virtual_service(meshName=mesh, virtualServiceName=name, spec={})["virtualService"]
    assert created["metadata"]["arn"].endswith(f"/virtualService/{name}")


def test_a_legacy_slashed_name_keeps_its_arn_and_blocks_the_resource_that_would_share_it() -> None:
    """State from releases that accepted '/' may hold router `r/route/x`; creating route `x` of router `r`
    would give it the same ARN: a ConflictException, and both the legacy router and the store stay intact."""
    from appmesh_local.api_models.errors import Conflict
    from appmesh_local.service import AppMeshService, RequestContext
    from appmesh_local.service.arns import arn_for
    from appmesh_local.store import Store
    from appmesh_local.store.records import VIRTUAL_ROUTER, ResourceKey, ResourceRecord

    ctx = RequestContext()
    store = Store()
    service = AppMeshService(store)
    service.dispatch("CreateMesh", ctx, {"meshName": "m"})
    service.dispatch("CreateVirtualNode", ctx, {"meshName": "m", "virtualNodeName": "n", "spec": node_spec()})
    legacy_key = ResourceKey(ctx.account, ctx.region, VIRTUAL_ROUTER, "m", "", "r/route/x")
    legacy = ResourceRecord(
        key=legacy_key,
        arn=arn_for(legacy_key, ctx.account),
        uid="legacy",
        version=1,
        created_at=0.0,
        last_updated_at=0.0,
        mesh_owner=ctx.account,
        resource_owner=ctx.account,
        status="ACTIVE",
        spec=router_spec(),
    )
    with store.write() as tx:  # as the previous release stored it
        tx.put(legacy, "create")
    service.dispatch("CreateVirtualRouter", ctx, {"meshName": "m", "virtualRouterName": "r", "spec": router_spec()})
    revision = store.revision
    with pytest.raises(Conflict, match="already names virtualRouter 'r/route/x'"):
        service.dispatch(
            "CreateRoute",
            ctx,
            {"meshName": "m", "virtualRouterName": "r", "routeName": "x", "spec": http_route_spec("n")},
        )
    assert store.revision == revision, "nothing was written"
    kept = store.get(legacy_key)
    assert kept is not None and kept.uid == "legacy"
    store.close()
