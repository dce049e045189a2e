"""Pagination on every List operation: limit, opaque nextToken, no duplicates or misses, paginators."""

from __future__ import annotations

import pytest

from tests.api.conftest import Tenant
from tests.api.helpers import (
    fresh_account,
    gateway_route_spec,
    gateway_spec,
    http_route_spec,
    node_spec,
    router_spec,
    unique,
)

COUNT = 7  # items per collection: enough for several pages at small limits


@pytest.fixture(scope="module")
def populated(server) -> dict:
    """One mesh holding COUNT of every kind of resource (plus COUNT meshes in the account).

    Module-scoped and read-only for the tests that use it (built once: ~80 requests).
    """
    tenant = Tenant(account=fresh_account(), region="us-east-1", endpoint=server.endpoint)
    api = tenant.client()
    mesh = unique("mesh")
    api.create_mesh(meshName=mesh)
    for i in range(COUNT - 1):
        api.create_mesh(meshName=f"{mesh}-{i}")
    api.create_virtual_node(meshName=mesh, virtualNodeName="target", spec=node_spec())
    api.create_virtual_router(meshName=mesh, virtualRouterName="router", spec=router_spec(8080))
    api.create_virtual_gateway(meshName=mesh, virtualGatewayName="gateway", spec=gateway_spec(8088))
    api.create_virtual_service(meshName=mesh, virtualServiceName="target.local", spec={})
    for i in range(COUNT):
        if i:
            api.create_virtual_node(meshName=mesh, virtualNodeName=f"vn{i}", spec={})
            api.create_virtual_service(meshName=mesh, virtualServiceName=f"vs{i}.local", spec={})
            api.create_virtual_router(meshName=mesh, virtualRouterName=f"vr{i}", spec=router_spec(8080))
            api.create_virtual_gateway(meshName=mesh, virtualGatewayName=f"vg{i}", spec=gateway_spec(8088))
        api.create_route(
            meshName=mesh,
            virtualRouterName="router",
            routeName=f"rt{i}",
            spec=http_route_spec("target", prefix=f"/p{i}"),
        )
        api.create_gateway_route(
            meshName=mesh,
            virtualGatewayName="gateway",
            gatewayRouteName=f"gr{i}",
            spec=gateway_route_spec("target.local", prefix=f"/p{i}/"),
        )
    return {"mesh": mesh, "tenant": tenant}


# operation -> (result key, name key, extra params given the mesh)
LISTS = {
    "list_meshes": ("meshes", "meshName", lambda mesh: {}),
    "list_virtual_nodes": ("virtualNodes", "virtualNodeName", lambda mesh: {"meshName": mesh}),
    "list_virtual_services": ("virtualServices", "virtualServiceName", lambda mesh: {"meshName": mesh}),
    "list_virtual_routers": ("virtualRouters", "virtualRouterName", lambda mesh: {"meshName": mesh}),
    "list_virtual_gateways": ("virtualGateways", "virtualGatewayName", lambda mesh: {"meshName": mesh}),
    "list_routes": ("routes", "routeName", lambda mesh: {"meshName": mesh, "virtualRouterName": "router"}),
    "list_gateway_routes": (
        "gatewayRoutes",
        "gatewayRouteName",
        lambda mesh: {"meshName": mesh, "virtualGatewayName": "gateway"},
    ),
}


def walk_pages(call, limit: int, **params) -> list[dict]:
    """Follow nextToken by hand; returns every page as botocore parsed it."""
    pages: list[dict] = []
    token = None
    for _ in range(100):
        kwargs = dict(params, limit=limit)
        if token:
            kwargs["nextToken"] = token
        page = call(**kwargs)
        pages.append(page)
        token = page.get("nextToken")
        if not token:
            return pages
    raise AssertionError("pagination never ended")


@pytest.mark.parametrize("operation", sorted(LISTS))
def test_pages_cover_everything_once(populated, operation):
    api = populated["tenant"].client()
    key, _, extra = LISTS[operation]
    call = getattr(api, operation)
    params = extra(populated["mesh"])
    everything = [item["arn"] for item in call(**params)[key]]
    assert len(everything) == COUNT, everything
    assert len(set(everything)) == COUNT
    for limit in (1, 2, 3, COUNT, 100):
        pages = walk_pages(call, limit, **params)
        arns = [item["arn"] for page in pages for item in page[key]]
        assert sorted(arns) == sorted(everything), f"limit {limit}"
        assert all(len(page[key]) <= limit for page in pages)
        full_pages = -(-COUNT // limit)
        assert len(pages) in (full_pages, full_pages + 1), f"limit {limit}: {len(pages)} pages"
        assert all(page[key] for page in pages[:-1]), "empty page before the end"


@pytest.mark.parametrize("operation", sorted(LISTS))
def test_botocore_paginator(populated, operation):
    api = populated["tenant"].client()
    key, name_key, extra = LISTS[operation]
    paginator = api.get_paginator(operation)
    pages = list(paginator.paginate(**extra(populated["mesh"]), PaginationConfig={"PageSize": 3}))
    names = [item[name_key] for page in pages for item in page[key]]
    assert len(names) == COUNT and len(set(names)) == COUNT
    assert [len(page[key]) for page in pages][:2] == [3, 3]
    full = paginator.paginate(**extra(populated["mesh"]), PaginationConfig={"PageSize": 2}).build_full_result()
    assert sorted(item[name_key] for item in full[key]) == sorted(names)


def test_token_from_one_listing_is_not_a_token_for_another(populated):
    raw_api = populated["tenant"].client(validate=False)
    mesh = populated["mesh"]
    token = raw_api.list_virtual_nodes(meshName=mesh, limit=1)["nextToken"]
    assert isinstance(token, str) and token
    try:
        page = raw_api.list_virtual_routers(meshName=mesh, limit=1, nextToken=token)
    except raw_api.exceptions.BadRequestException:
        return
    # If the server accepts it, it must still not mix kinds.
    assert all(ref["arn"].split("/")[-2] == "virtualRouter" for ref in page["virtualRouters"])


def test_listing_is_stable_while_new_items_arrive(api):
    """Items created mid-pagination may or may not show, but existing ones are never lost or repeated."""
    mesh = unique("mesh")
    api.create_mesh(meshName=mesh)
    for name in ["target"] + [f"vn{i}" for i in range(1, COUNT)]:
        api.create_virtual_node(meshName=mesh, virtualNodeName=name, spec={})
    first = api.list_virtual_nodes(meshName=mesh, limit=3)
    api.create_virtual_node(meshName=mesh, virtualNodeName="aaa-new", spec={})
    seen = [ref["virtualNodeName"] for ref in first["virtualNodes"]]
    token = first["nextToken"]
    for _ in range(20):
        page = api.list_virtual_nodes(meshName=mesh, limit=3, nextToken=token)
        seen += [ref["virtualNodeName"] for ref in page["virtualNodes"]]
        token = page.get("nextToken")
        if not token:
            break
    before = {"target"} | {f"vn{i}" for i in range(1, COUNT)}
    assert before <= set(seen)
    assert len(seen) == len(set(seen))
