"""The wording of AWS's own messages where the public record shows it (docs/aws-behaviour.md, docs/reference.md#api-errors).

Users grep logs and CI output for these strings; tools (Terraform, aws-nuke) matched on some of them.
"""

from __future__ import annotations

from tests.api.helpers import api_error, gateway_route_spec, gateway_spec, http_route_spec, node_spec, router_spec


def test_duplicate_names_conflict_with_already_exists(api, tenant, mesh) -> None:
    with api_error("ConflictException", 409, f"Mesh with name {mesh} already exists"):
        api.create_mesh(meshName=mesh)
    api.create_virtual_node(meshName=mesh, virtualNodeName="n", spec=node_spec())
    with api_error("ConflictException", 409, f"VirtualNode with name n already exists in mesh {mesh}"):
        api.create_virtual_node(meshName=mesh, virtualNodeName="n", spec=node_spec())


def test_missing_references_are_not_found_with_the_rm173_wording(api, tenant, mesh) -> None:
    """`<Kind> with name <n> is not present under mesh <m> for account <a>` (roadmap #173)."""
    missing = f"is not present under mesh {mesh} for account {tenant.account}"
    api.create_virtual_router(meshName=mesh, virtualRouterName="r", spec=router_spec())
    with api_error("NotFoundException", 404, "VirtualNode with name ghost", missing):
        api.create_route(meshName=mesh, virtualRouterName="r", routeName="rt", spec=http_route_spec("ghost"))
    provider = {"provider": {"virtualRouter": {"virtualRouterName": "ghost-router"}}}
    with api_error("NotFoundException", 404, "VirtualRouter with name ghost-router", missing):
        api.create_virtual_service(meshName=mesh, virtualServiceName="s.local", spec=provider)
    api.create_virtual_gateway(meshName=mesh, virtualGatewayName="g", spec=gateway_spec())
    with api_error("NotFoundException", 404, "VirtualService with name ghost.local", missing):
        api.create_gateway_route(
            meshName=mesh, virtualGatewayName="g", gatewayRouteName="gr", spec=gateway_route_spec("ghost.local")
        )


def test_in_use_messages(api, tenant, mesh) -> None:
    api.create_virtual_node(meshName=mesh, virtualNodeName="n", spec=node_spec())
    api.create_virtual_router(meshName=mesh, virtualRouterName="r", spec=router_spec())
    api.create_route(meshName=mesh, virtualRouterName="r", routeName="rt", spec=http_route_spec("n"))
    with api_error(
        "ResourceInUseException",
        409,
        f"Mesh {mesh} for account {tenant.account} has active VirtualNodes, please delete VirtualNodes before deleting the Mesh",
    ):
        api.delete_mesh(meshName=mesh)
    with api_error(
        "ResourceInUseException",
        409,
        "VirtualNode with name n cannot be deleted because it is the target of one or more routes.",
    ):
        api.delete_virtual_node(meshName=mesh, virtualNodeName="n")
    api.create_virtual_service(
        meshName=mesh, virtualServiceName="s.local", spec={"provider": {"virtualRouter": {"virtualRouterName": "r"}}}
    )
    api.delete_route(meshName=mesh, virtualRouterName="r", routeName="rt")
    with api_error(
        "ResourceInUseException",
        409,
        "VirtualRouter with name r cannot be deleted because it is a VirtualService provider",
    ):
        api.delete_virtual_router(meshName=mesh, virtualRouterName="r")
    api.create_virtual_gateway(meshName=mesh, virtualGatewayName="g", spec=gateway_spec())
    route = api.create_gateway_route(
        meshName=mesh, virtualGatewayName="g", gatewayRouteName="gr", spec=gateway_route_spec("s.local")
    )["gatewayRoute"]
    uid = route["metadata"]["uid"]
    with api_error(
        "ResourceInUseException",
        409,
        f"VirtualService s.local is being referenced in the following: GATEWAY_ROUTE: [{uid}]",
    ):
        api.delete_virtual_service(meshName=mesh, virtualServiceName="s.local")
