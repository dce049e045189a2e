"""The API's checks of one resource on its own, for mesh files read without a server.

`appmesh-local translate FILE` and `export --file FILE` must refuse what the API refuses,
with the API's own words: a file with `protocol: htttp` is not a mesh App Mesh could have
held. These are the checks that need nothing but the resource itself: the model-derived
validation of its Create operation (api_models/validation.py, the same call the API
makes) and the documented spec rules (spec_rules.py). Checks against other resources
(targets that must exist, in-use rules, quotas) are the translator's `problems` here, as a
file may describe part of a mesh.
"""

from __future__ import annotations

from typing import Any, Mapping

from ..api_models.validation import validate_input
from . import kinds, references, spec_rules

CREATE_OPERATION = {
    kinds.MESH.kind: "CreateMesh",
    kinds.VIRTUAL_NODE.kind: "CreateVirtualNode",
    kinds.VIRTUAL_ROUTER.kind: "CreateVirtualRouter",
    kinds.ROUTE.kind: "CreateRoute",
    kinds.VIRTUAL_SERVICE.kind: "CreateVirtualService",
    kinds.VIRTUAL_GATEWAY.kind: "CreateVirtualGateway",
    kinds.GATEWAY_ROUTE.kind: "CreateGatewayRoute",
}


def check_resource(kind: str, mesh: str, name: str, spec: Mapping[str, Any], parent: str = "") -> None:
    """Raise the API's BadRequest (same message) if Create<Kind> would refuse this resource."""
    described = kinds.BY_KIND[kind]
    params: dict[str, Any] = {"meshName": mesh, "spec": dict(spec)}
    if described is not kinds.MESH:
        params[described.name_param] = name
    if described.parent is not None:
        params[described.parent.name_param] = parent
    valid = validate_input(CREATE_OPERATION[kind], params).get("spec") or {}
    if kind == kinds.VIRTUAL_NODE.kind:
        spec_rules.check_virtual_node(valid)
    elif kind == kinds.VIRTUAL_ROUTER.kind:
        spec_rules.check_virtual_router(valid)
    elif kind == kinds.VIRTUAL_GATEWAY.kind:
        spec_rules.check_virtual_gateway(valid)
    elif kind == kinds.ROUTE.kind:
        spec_rules.check_route(*references.one_route_type(valid, references.ROUTE_TYPES, "Route"))
    elif kind == kinds.GATEWAY_ROUTE.kind:
        spec_rules.check_gateway_route(
            *references.one_route_type(valid, references.GATEWAY_ROUTE_TYPES, "GatewayRoute")
        )
