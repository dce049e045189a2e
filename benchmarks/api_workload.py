"""The API benchmark's workload: the same boto3 calls, step by step, for every server.

A step is a generator of zero-argument calls; the runner times each call and
sends its response back in, so a step can follow `nextToken`s. Steps marked
`common` use only operations moto implements (meshes, virtual nodes, virtual
routers, routes, tags); the others (virtual services, virtual gateways,
gateway routes) run against appmesh-local and the null server only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Generator

Call = Callable[[], Any]
Calls = Generator[Call, Any, None]

ACCOUNT = "123456789012"  # both servers' default account for a non-numeric access key id
REGION = "us-east-1"


@dataclass(frozen=True)
class Sizes:
    """How many of each resource: everything scales with the number of virtual nodes."""

    nodes: int
    meshes: int = 10
    list_rounds: int = 10  # full paginations of the virtual node list
    page: int = 100

    @property
    def routers(self) -> int:
        return max(1, self.nodes // 10)

    @property
    def gateways(self) -> int:
        return max(1, self.nodes // 10)


@dataclass(frozen=True)
class Step:
    name: str
    common: bool
    calls: Callable[[Any, Sizes], Calls]


MESH = "mesh-0"


def _mesh_name(i: int) -> str:
    return f"mesh-{i}"


def _node_spec(i: int, generation: int = 0) -> dict[str, Any]:
    return {
        "listeners": [{"portMapping": {"port": 8080, "protocol": "http"}}],
        "serviceDiscovery": {"dns": {"hostname": f"vn-{i}.g{generation}.bench.local"}},
        "backends": [{"virtualService": {"virtualServiceName": f"svc-{(i + 1)}.bench.local"}}],
    }


def _route_spec(i: int, prefix: str) -> dict[str, Any]:
    return {
        "httpRoute": {
            "match": {"prefix": prefix},
            "action": {"weightedTargets": [{"virtualNode": f"vn-{i}", "weight": 1}]},
        }
    }


def _router(i: int, sizes: Sizes) -> str:
    return f"vr-{i % sizes.routers}"


def _paginate(operation: Callable[..., Any], **kwargs: Any) -> Calls:
    token = None
    for _ in range(100000):  # bounded: a server that never stops paging cannot hang the run
        page_args = dict(kwargs, nextToken=token) if token else kwargs
        response = yield lambda page_args=page_args: operation(**page_args)
        token = response.get("nextToken")
        if not token:
            return


def create_meshes(c: Any, s: Sizes) -> Calls:
    for i in range(s.meshes):
        yield lambda i=i: c.create_mesh(meshName=_mesh_name(i))


def describe_mesh(c: Any, s: Sizes) -> Calls:
    for _ in range(s.nodes):
        yield lambda: c.describe_mesh(meshName=MESH)


def list_meshes(c: Any, s: Sizes) -> Calls:
    for _ in range(s.list_rounds):
        yield from _paginate(c.list_meshes, limit=3)


def update_meshes(c: Any, s: Sizes) -> Calls:
    for i in range(s.meshes):
        yield lambda i=i: c.update_mesh(meshName=_mesh_name(i), spec={"egressFilter": {"type": "ALLOW_ALL"}})


def create_virtual_nodes(c: Any, s: Sizes) -> Calls:
    for i in range(s.nodes):
        yield lambda i=i: c.create_virtual_node(meshName=MESH, virtualNodeName=f"vn-{i}", spec=_node_spec(i))


def describe_virtual_nodes(c: Any, s: Sizes) -> Calls:
    for i in range(s.nodes):
        yield lambda i=i: c.describe_virtual_node(meshName=MESH, virtualNodeName=f"vn-{i}")


def list_virtual_nodes(c: Any, s: Sizes) -> Calls:
    for _ in range(s.list_rounds):
        yield from _paginate(c.list_virtual_nodes, meshName=MESH, limit=s.page)


def update_virtual_nodes(c: Any, s: Sizes) -> Calls:
    for i in range(s.nodes):
        yield lambda i=i: c.update_virtual_node(meshName=MESH, virtualNodeName=f"vn-{i}", spec=_node_spec(i, 1))


def create_virtual_routers(c: Any, s: Sizes) -> Calls:
    for i in range(s.routers):
        yield lambda i=i: c.create_virtual_router(
            meshName=MESH,
            virtualRouterName=f"vr-{i}",
            spec={"listeners": [{"portMapping": {"port": 8080, "protocol": "http"}}]},
        )


def create_routes(c: Any, s: Sizes) -> Calls:
    for i in range(s.nodes):
        yield lambda i=i: c.create_route(
            meshName=MESH, virtualRouterName=_router(i, s), routeName=f"route-{i}", spec=_route_spec(i, f"/r{i}")
        )


def describe_routes(c: Any, s: Sizes) -> Calls:
    for i in range(s.nodes):
        yield lambda i=i: c.describe_route(meshName=MESH, virtualRouterName=_router(i, s), routeName=f"route-{i}")


def list_routes(c: Any, s: Sizes) -> Calls:
    for r in range(s.routers):
        yield from _paginate(c.list_routes, meshName=MESH, virtualRouterName=f"vr-{r}", limit=5)


def update_routes(c: Any, s: Sizes) -> Calls:
    for i in range(s.nodes):
        yield lambda i=i: c.update_route(
            meshName=MESH, virtualRouterName=_router(i, s), routeName=f"route-{i}", spec=_route_spec(i, f"/v2/r{i}")
        )


def _node_arn(i: int) -> str:
    return f"arn:aws:appmesh:{REGION}:{ACCOUNT}:mesh/{MESH}/virtualNode/vn-{i}"


def tag_virtual_nodes(c: Any, s: Sizes) -> Calls:
    for i in range(s.nodes):
        yield lambda i=i: c.tag_resource(resourceArn=_node_arn(i), tags=[{"key": "team", "value": f"t{i % 7}"}])


def list_tags(c: Any, s: Sizes) -> Calls:
    for i in range(s.nodes):
        yield lambda i=i: c.list_tags_for_resource(resourceArn=_node_arn(i))


def create_virtual_services(c: Any, s: Sizes) -> Calls:
    for i in range(s.nodes):
        yield lambda i=i: c.create_virtual_service(
            meshName=MESH,
            virtualServiceName=f"svc-{i}.bench.local",
            spec={"provider": {"virtualNode": {"virtualNodeName": f"vn-{i}"}}},
        )


def describe_virtual_services(c: Any, s: Sizes) -> Calls:
    for i in range(s.nodes):
        yield lambda i=i: c.describe_virtual_service(meshName=MESH, virtualServiceName=f"svc-{i}.bench.local")


def list_virtual_services(c: Any, s: Sizes) -> Calls:
    yield from _paginate(c.list_virtual_services, meshName=MESH, limit=s.page)


def update_virtual_services(c: Any, s: Sizes) -> Calls:
    for i in range(s.nodes):
        yield lambda i=i: c.update_virtual_service(
            meshName=MESH,
            virtualServiceName=f"svc-{i}.bench.local",
            spec={"provider": {"virtualRouter": {"virtualRouterName": _router(i, s)}}},
        )


def create_virtual_gateways(c: Any, s: Sizes) -> Calls:
    for i in range(s.gateways):
        yield lambda i=i: c.create_virtual_gateway(
            meshName=MESH,
            virtualGatewayName=f"gw-{i}",
            spec={"listeners": [{"portMapping": {"port": 8088, "protocol": "http"}}]},
        )


def _gateway_route_spec(i: int, prefix: str) -> dict[str, Any]:
    return {
        "httpRoute": {
            "match": {"prefix": prefix},
            "action": {"target": {"virtualService": {"virtualServiceName": f"svc-{i}.bench.local"}}},
        }
    }


def create_gateway_routes(c: Any, s: Sizes) -> Calls:
    for i in range(s.gateways):
        yield lambda i=i: c.create_gateway_route(
            meshName=MESH,
            virtualGatewayName=f"gw-{i}",
            gatewayRouteName=f"gr-{i}",
            spec=_gateway_route_spec(i, f"/g{i}"),
        )


def describe_gateway_routes(c: Any, s: Sizes) -> Calls:
    for i in range(s.gateways):
        yield lambda i=i: c.describe_gateway_route(
            meshName=MESH, virtualGatewayName=f"gw-{i}", gatewayRouteName=f"gr-{i}"
        )


def update_gateway_routes(c: Any, s: Sizes) -> Calls:
    for i in range(s.gateways):
        yield lambda i=i: c.update_gateway_route(
            meshName=MESH,
            virtualGatewayName=f"gw-{i}",
            gatewayRouteName=f"gr-{i}",
            spec=_gateway_route_spec(i, f"/v2/g{i}"),
        )


def delete_gateway_routes(c: Any, s: Sizes) -> Calls:
    for i in range(s.gateways):
        yield lambda i=i: c.delete_gateway_route(
            meshName=MESH, virtualGatewayName=f"gw-{i}", gatewayRouteName=f"gr-{i}"
        )


def delete_virtual_gateways(c: Any, s: Sizes) -> Calls:
    for i in range(s.gateways):
        yield lambda i=i: c.delete_virtual_gateway(meshName=MESH, virtualGatewayName=f"gw-{i}")


def delete_virtual_services(c: Any, s: Sizes) -> Calls:
    for i in range(s.nodes):
        yield lambda i=i: c.delete_virtual_service(meshName=MESH, virtualServiceName=f"svc-{i}.bench.local")


def delete_routes(c: Any, s: Sizes) -> Calls:
    for i in range(s.nodes):
        yield lambda i=i: c.delete_route(meshName=MESH, virtualRouterName=_router(i, s), routeName=f"route-{i}")


def delete_virtual_routers(c: Any, s: Sizes) -> Calls:
    for i in range(s.routers):
        yield lambda i=i: c.delete_virtual_router(meshName=MESH, virtualRouterName=f"vr-{i}")


def delete_virtual_nodes(c: Any, s: Sizes) -> Calls:
    for i in range(s.nodes):
        yield lambda i=i: c.delete_virtual_node(meshName=MESH, virtualNodeName=f"vn-{i}")


def delete_meshes(c: Any, s: Sizes) -> Calls:
    for i in range(s.meshes):
        yield lambda i=i: c.delete_mesh(meshName=_mesh_name(i))


# Order matters: every step's references exist, every delete's dependants are gone.
STEPS: tuple[Step, ...] = (
    Step("create_mesh", True, create_meshes),
    Step("describe_mesh", True, describe_mesh),
    Step("list_meshes (paginated)", True, list_meshes),
    Step("update_mesh", True, update_meshes),
    Step("create_virtual_node", True, create_virtual_nodes),
    Step("describe_virtual_node", True, describe_virtual_nodes),
    Step("list_virtual_nodes (paginated)", True, list_virtual_nodes),
    Step("update_virtual_node", True, update_virtual_nodes),
    Step("create_virtual_router", True, create_virtual_routers),
    Step("create_route", True, create_routes),
    Step("describe_route", True, describe_routes),
    Step("list_routes (paginated)", True, list_routes),
    Step("update_route", True, update_routes),
    Step("tag_resource", True, tag_virtual_nodes),
    Step("list_tags_for_resource", True, list_tags),
    Step("create_virtual_service", False, create_virtual_services),
    Step("describe_virtual_service", False, describe_virtual_services),
    Step("list_virtual_services (paginated)", False, list_virtual_services),
    Step("update_virtual_service", False, update_virtual_services),
    Step("create_virtual_gateway", False, create_virtual_gateways),
    Step("create_gateway_route", False, create_gateway_routes),
    Step("describe_gateway_route", False, describe_gateway_routes),
    Step("update_gateway_route", False, update_gateway_routes),
    Step("delete_gateway_route", False, delete_gateway_routes),
    Step("delete_virtual_gateway", False, delete_virtual_gateways),
    Step("delete_virtual_service", False, delete_virtual_services),
    Step("delete_route", True, delete_routes),
    Step("delete_virtual_router", True, delete_virtual_routers),
    Step("delete_virtual_node", True, delete_virtual_nodes),
    Step("delete_mesh", True, delete_meshes),
)
NODES_CREATED = "create_virtual_node"  # RSS after this step is "RSS with N virtual nodes"
EMPTY_MESHES = "update_mesh"  # RSS after this step is "RSS with 0 virtual nodes"
