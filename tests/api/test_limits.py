"""Service quotas → LimitExceededException (400), nothing created.

Most checks run against a dedicated server started with tiny quotas (`serve --quota NAME=2`); the
documented defaults (15 meshes per account, 50 backends, 50 routes) are checked on the shared server.
"""

from __future__ import annotations

import pytest

from tests.api.conftest import Tenant
from tests.api.helpers import (
    api_error,
    fresh_account,
    gateway_route_spec,
    gateway_spec,
    http_route_spec,
    node_spec,
    router_spec,
    unique,
)
from tests.support.server import ServerProcess

QUOTA = 2
QUOTA_NAMES = [
    "meshesPerAccount",
    "virtualNodesPerMesh",
    "virtualRoutersPerMesh",
    "virtualServicesPerMesh",
    "virtualGatewaysPerMesh",
    "routesPerVirtualRouter",
    "gatewayRoutesPerVirtualGateway",
    "backendsPerVirtualNode",
]


@pytest.fixture(scope="module")
def small_server():
    args = [arg for name in QUOTA_NAMES for arg in ("--quota", f"{name}={QUOTA}")]
    with ServerProcess(extra_args=args) as proc:
        yield proc


@pytest.fixture
def small(small_server):
    """A client for a fresh account on the low-quota server."""
    return Tenant(account=fresh_account(), region="us-east-1", endpoint=small_server.endpoint).client()


def test_meshes_per_account(small, small_server):
    names = [unique("mesh") for _ in range(QUOTA)]
    for name in names:
        small.create_mesh(meshName=name)
    extra = unique("mesh")
    with api_error("LimitExceededException", 400):
        small.create_mesh(meshName=extra)
    assert sorted(m["meshName"] for m in small.list_meshes()["meshes"]) == sorted(names)
    # Per account: another account is not affected.
    other = Tenant(account=fresh_account(), region="us-east-1", endpoint=small_server.endpoint).client()
    other.create_mesh(meshName=extra)
    # Deleting frees the slot.
    small.delete_mesh(meshName=names[0])
    small.create_mesh(meshName=extra)


PER_MESH = {
    "virtualNode": lambda c, m, i: c.create_virtual_node(meshName=m, virtualNodeName=f"n{i}", spec={}),
    "virtualRouter": lambda c, m, i: c.create_virtual_router(
        meshName=m, virtualRouterName=f"r{i}", spec=router_spec(8080)
    ),
    "virtualService": lambda c, m, i: c.create_virtual_service(meshName=m, virtualServiceName=f"s{i}.local", spec={}),
    "virtualGateway": lambda c, m, i: c.create_virtual_gateway(
        meshName=m, virtualGatewayName=f"g{i}", spec=gateway_spec(8088)
    ),
}
LIST_OF = {
    "virtualNode": lambda c, m: c.list_virtual_nodes(meshName=m)["virtualNodes"],
    "virtualRouter": lambda c, m: c.list_virtual_routers(meshName=m)["virtualRouters"],
    "virtualService": lambda c, m: c.list_virtual_services(meshName=m)["virtualServices"],
    "virtualGateway": lambda c, m: c.list_virtual_gateways(meshName=m)["virtualGateways"],
}


@pytest.mark.parametrize("kind", sorted(PER_MESH))
def test_per_mesh_quotas(small, kind):
    create, listing = PER_MESH[kind], LIST_OF[kind]
    mesh, other = unique("mesh"), unique("mesh")
    small.create_mesh(meshName=mesh)
    small.create_mesh(meshName=other)
    for i in range(QUOTA):
        create(small, mesh, i)
    with api_error("LimitExceededException", 400):
        create(small, mesh, QUOTA)
    assert len(listing(small, mesh)) == QUOTA
    create(small, other, QUOTA)  # the quota is per mesh


def test_routes_per_router(small):
    mesh = unique("mesh")
    small.create_mesh(meshName=mesh)
    small.create_virtual_node(meshName=mesh, virtualNodeName="n", spec=node_spec())
    for router in ("r", "r2"):
        small.create_virtual_router(meshName=mesh, virtualRouterName=router, spec=router_spec(8080))
    for i in range(QUOTA):
        small.create_route(
            meshName=mesh, virtualRouterName="r", routeName=f"rt{i}", spec=http_route_spec("n", prefix=f"/{i}")
        )
    with api_error("LimitExceededException", 400):
        small.create_route(meshName=mesh, virtualRouterName="r", routeName="extra", spec=http_route_spec("n"))
    assert len(small.list_routes(meshName=mesh, virtualRouterName="r")["routes"]) == QUOTA
    small.create_route(meshName=mesh, virtualRouterName="r2", routeName="extra", spec=http_route_spec("n"))


def test_gateway_routes_per_gateway(small):
    mesh = unique("mesh")
    small.create_mesh(meshName=mesh)
    small.create_virtual_service(meshName=mesh, virtualServiceName="s.local", spec={})
    small.create_virtual_gateway(meshName=mesh, virtualGatewayName="g", spec=gateway_spec(8088))
    for i in range(QUOTA):
        small.create_gateway_route(
            meshName=mesh,
            virtualGatewayName="g",
            gatewayRouteName=f"gr{i}",
            spec=gateway_route_spec("s.local", prefix=f"/{i}/"),
        )
    with api_error("LimitExceededException", 400):
        small.create_gateway_route(
            meshName=mesh,
            virtualGatewayName="g",
            gatewayRouteName="extra",
            spec=gateway_route_spec("s.local", prefix="/x/"),
        )
    assert len(small.list_gateway_routes(meshName=mesh, virtualGatewayName="g")["gatewayRoutes"]) == QUOTA


def test_backends_per_virtual_node_on_create_and_update(small):
    mesh = unique("mesh")
    small.create_mesh(meshName=mesh)
    too_many = [f"b{i}.local" for i in range(QUOTA + 1)]
    with api_error("LimitExceededException", 400):
        small.create_virtual_node(meshName=mesh, virtualNodeName="n", spec=node_spec(backends=too_many))
    with api_error("NotFoundException", 404):
        small.describe_virtual_node(meshName=mesh, virtualNodeName="n")
    small.create_virtual_node(meshName=mesh, virtualNodeName="n", spec=node_spec(backends=too_many[:QUOTA]))
    with api_error("LimitExceededException", 400):
        small.update_virtual_node(meshName=mesh, virtualNodeName="n", spec=node_spec(backends=too_many))
    node = small.describe_virtual_node(meshName=mesh, virtualNodeName="n")["virtualNode"]
    assert node["metadata"]["version"] == 1 and len(node["spec"]["backends"]) == QUOTA


# ---------------------------------------------------------------- documented defaults, shared server


def test_default_meshes_per_account_is_15(api):
    for _ in range(15):
        api.create_mesh(meshName=unique("mesh"))
    with api_error("LimitExceededException", 400):
        api.create_mesh(meshName=unique("mesh"))
    assert len(api.list_meshes()["meshes"]) == 15


def test_default_backends_per_virtual_node_is_50(api, mesh):
    backends = [f"b{i}.local" for i in range(51)]
    with api_error("LimitExceededException", 400):
        api.create_virtual_node(meshName=mesh, virtualNodeName="n", spec=node_spec(backends=backends))
    node = api.create_virtual_node(meshName=mesh, virtualNodeName="n", spec=node_spec(backends=backends[:50]))
    assert len(node["virtualNode"]["spec"]["backends"]) == 50


def test_default_routes_per_router_is_50(api, mesh):
    api.create_virtual_node(meshName=mesh, virtualNodeName="n", spec=node_spec())
    api.create_virtual_router(meshName=mesh, virtualRouterName="r", spec=router_spec(8080))
    for i in range(50):
        api.create_route(
            meshName=mesh, virtualRouterName="r", routeName=f"rt{i}", spec=http_route_spec("n", prefix=f"/{i}")
        )
    with api_error("LimitExceededException", 400):
        api.create_route(meshName=mesh, virtualRouterName="r", routeName="rt50", spec=http_route_spec("n"))
