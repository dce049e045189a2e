"""A controller object's spec → the App Mesh resources the controller made from it.

The spec's own fields are the API's (case aside: `certificateARN`), so they go through
the same botocore-led walk as templates; what is the controller's alone is handled here:
`awsName`, `meshRef`, selectors (recorded, not sent), `meshServiceDiscovery` (the
API's `serviceDiscovery`), the `*Ref` / `*ARN` references (the referenced object's App
Mesh name, as `pkg/conversions` does), and a VirtualRouter's `routes`, which become
Route resources named as written.
"""

from __future__ import annotations

import re
from typing import Any, Mapping

from botocore.model import Shape

from ...service import kinds
from .. import meshops
from ..shapes import ShapeError, to_api
from .objects import KObject, Objects

# Fields of the controller's specs that are not the API's (left out of the API spec).
CONTROLLER_ONLY = {
    "awsName",
    "meshRef",
    "podSelector",
    "namespaceSelector",
    "virtualGatewayRef",
    "gatewayRouteSelector",
    "backendGroups",
    "routes",
    "meshOwner",
}
KIND_OF = {
    "Mesh": kinds.MESH,
    "VirtualNode": kinds.VIRTUAL_NODE,
    "VirtualRouter": kinds.VIRTUAL_ROUTER,
    "VirtualService": kinds.VIRTUAL_SERVICE,
    "VirtualGateway": kinds.VIRTUAL_GATEWAY,
    "GatewayRoute": kinds.GATEWAY_ROUTE,
}
# reference field → (the kind it names, the ARN's resource type)
REFERENCES = {
    "virtualNodeRef": "VirtualNode",
    "virtualServiceRef": "VirtualService",
    "virtualRouterRef": "VirtualRouter",
}
ARN_FIELDS = {
    "virtualNodeARN": "virtualNode",
    "virtualServiceARN": "virtualService",
    "virtualRouterARN": "virtualRouter",
}
_ARN_RESOURCE = re.compile(r"^arn:[^:]+:appmesh:[^:]*:[^:]*:mesh/([^/]+)/([^/]+)/([^/]+)$")


def _member_for_reference(shape: Shape, base: str) -> str | None:
    """Where the API puts the referenced name: `<base>Name`, or `<base>` itself (WeightedTarget)."""
    members = getattr(shape, "members", {})
    for candidate in (f"{base}Name", base):
        if candidate in members:
            return candidate
    return None


def _override(obj: KObject, known: Objects):  # type: ignore[no-untyped-def]
    """The walk's hook: replace `*Ref` / `*ARN` by the App Mesh name they stand for."""

    def replace(shape: Shape, value: Mapping[str, Any], path: str) -> dict[str, Any] | None:
        hits = [k for k in value if k in REFERENCES or k in ARN_FIELDS]
        if not hits:
            return None
        if len(hits) > 1:
            raise ShapeError(path, f"give exactly one of {', '.join(hits)}")
        key = hits[0]
        if key in REFERENCES:
            base = REFERENCES[key][:1].lower() + REFERENCES[key][1:]
            target = known.find(obj, REFERENCES[key], value[key], f"{path}.{key}")
            name = target.aws_name
        else:
            base = ARN_FIELDS[key]
            match = _ARN_RESOURCE.match(str(value[key]))
            if match is None:
                raise ShapeError(f"{path}.{key}", f"invalid arn {value[key]!r}")
            if match.group(2) != base:
                raise ShapeError(f"{path}.{key}", f"expects {base} ARN, got {match.group(2)}")
            name = match.group(3)
        member = _member_for_reference(shape, base)
        if member is None:
            raise ShapeError(f"{path}.{key}", f"the API's {shape.name} has no place for a {base}")
        rest = {k: v for k, v in value.items() if k != key}
        return to_api({**rest, member: name}, shape, path, replace)

    return replace


def _spec(obj: KObject, known: Objects, shape_name: str, spec: Mapping[str, Any], prefix: str = "spec") -> Any:
    from ...api_models.model import service_model

    try:
        return to_api(dict(spec), service_model().shape_for(shape_name), prefix, _override(obj, known))
    except ShapeError as exc:
        raise obj.error(exc.detail, exc.path) from None


def mesh_resources(obj: KObject, known: Objects) -> list[meshops.MeshResource]:
    """The App Mesh resources `obj` stands for (a VirtualRouter: itself, then its routes)."""
    kind = KIND_OF[obj.kind]
    spec = {k: v for k, v in obj.spec.items() if k not in CONTROLLER_ONLY}
    if obj.kind == "Mesh":
        if "meshServiceDiscovery" in spec:
            spec["serviceDiscovery"] = spec.pop("meshServiceDiscovery")
        preference = (spec.get("serviceDiscovery") or {}).get("ipPreference")
        if preference is not None and preference not in ("IPv4_ONLY", "IPv6_ONLY"):
            raise obj.error(
                "Only non-empty values allowed are IPv4_ONLY or IPv6_ONLY", "spec.meshServiceDiscovery.ipPreference"
            )
        return [meshops.MeshResource(kind, {"meshName": obj.aws_name, "spec": _spec(obj, known, "MeshSpec", spec)})]
    mesh = known.mesh_of(obj)
    params: dict[str, Any] = {"meshName": mesh.aws_name, kind.name_param: obj.aws_name}
    owner = mesh.spec.get("meshOwner")
    if owner:
        params["meshOwner"] = str(owner)
    if obj.kind == "GatewayRoute":
        gateway = known.gateway_of(obj)
        if known.mesh_of(gateway).key != mesh.key:
            raise obj.error(
                "virtualGateway referenced does not belong to the mesh referenced in GatewayRoute",
                "spec.virtualGatewayRef",
            )
        params["virtualGatewayName"] = gateway.aws_name
    params["spec"] = _spec(obj, known, f"{kind.title}Spec", spec)
    made = [meshops.MeshResource(kind, params)]
    if obj.kind == "VirtualRouter":
        routes = obj.spec.get("routes") or []
        if not isinstance(routes, list):
            raise obj.error("expected a list", "spec.routes")
        seen: set[str] = set()
        for index, route in enumerate(routes):
            where = f"spec.routes[{index}]"
            if not isinstance(route, Mapping) or not isinstance(route.get("name"), str):
                raise obj.error("a route needs a name", f"{where}.name")
            if route["name"] in seen:
                raise obj.error(f"duplicate route name {route['name']!r}", f"{where}.name")
            seen.add(route["name"])
            body = {k: v for k, v in route.items() if k != "name"}
            made.append(
                meshops.MeshResource(
                    kinds.ROUTE,
                    {
                        "meshName": mesh.aws_name,
                        "virtualRouterName": obj.aws_name,
                        "routeName": route["name"],
                        **({"meshOwner": params["meshOwner"]} if "meshOwner" in params else {}),
                        "spec": _spec(obj, known, "RouteSpec", body, where),
                    },
                )
            )
    return made
