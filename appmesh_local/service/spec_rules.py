"""Rules AWS documented beyond the model's per-member constraints (all BadRequestException).

Each rule quotes its source; references to other resources live in references.py.
Every rule here reads the spec alone and runs in time linear in its size: the service
applies them before it takes the store's write lock (service/resources.py).
"""

from __future__ import annotations

from collections import Counter
from typing import Any, Iterable, Mapping

from ..api_models.errors import BadRequest
from ..api_models.model import GATEWAY_ROUTE_SPEC, ROUTE_SPEC, route_types

Spec = Mapping[str, Any]
# A name is one segment of the resource's ARN (`mesh/M/virtualRouter/R/route/N`) and of its Envoy
# node id (`mesh/M/virtualNode/N`), both separated by '/': docs/aws-behaviour.md, "Names".
NAME_PATTERN = "[^/]+"
RESERVED_GATEWAY_PREFIXES = ("/aws-appmesh", "/aws-app-mesh")
RESERVED_GRPC_SERVICES = ("aws.app-mesh", "aws.appmesh")
ROUTE_TYPES = route_types(ROUTE_SPEC)  # from the model: grpcRoute, http2Route, httpRoute, tcpRoute
GATEWAY_ROUTE_TYPES = route_types(GATEWAY_ROUTE_SPEC)


def _duplicates(values: Iterable[Any]) -> list[Any]:
    """Values seen more than once, sorted (one pass: a 100,000-listener spec stays cheap)."""
    return sorted(value for value, seen in Counter(values).items() if seen > 1)


def check_name(param: str, name: str) -> None:
    """A new resource's name must fit in one ARN segment: no '/' (else two resources could share an ARN)."""
    if "/" in name:
        raise BadRequest(
            f"1 validation error detected: Value '{name}' at '{param}' failed to satisfy constraint: "
            f"Member must satisfy regular expression pattern: {NAME_PATTERN}"
        )


def _unique_ports(listeners: Iterable[Mapping[str, Any]], owner: str) -> None:
    duplicates = _duplicates(listener["portMapping"]["port"] for listener in listeners)
    if duplicates:
        raise BadRequest(f"{owner} listeners must use distinct ports; duplicated: {', '.join(map(str, duplicates))}")


def one_route_type(spec: Spec, allowed: tuple[str, ...], what: str) -> tuple[str, Mapping[str, Any]]:
    """The one route type a (gateway) route spec sets, and its body."""
    present = [t for t in allowed if spec.get(t) is not None]
    if len(present) != 1:
        raise BadRequest(f"{what} spec must contain exactly one of the following: [{', '.join(allowed)}]")
    return present[0], spec[present[0]]


def check_route_spec(spec: Spec) -> None:
    check_route(*one_route_type(spec, ROUTE_TYPES, "Route"))


def check_gateway_route_spec(spec: Spec) -> None:
    check_gateway_route(*one_route_type(spec, GATEWAY_ROUTE_TYPES, "GatewayRoute"))


def check_virtual_node(spec: Spec) -> None:
    """VirtualNodeSpec.serviceDiscovery: 'If you specify a listener, then you must specify service discovery'."""
    listeners = spec.get("listeners") or []
    if listeners and not spec.get("serviceDiscovery"):
        raise BadRequest(
            "If you specify a listener, then you must specify service discovery information (spec.serviceDiscovery)"
        )
    _unique_ports(listeners, "VirtualNode")
    duplicates = _duplicates(
        b["virtualService"]["virtualServiceName"] for b in spec.get("backends") or [] if "virtualService" in b
    )
    if duplicates:
        raise BadRequest(f"Duplicate backends are not allowed: {', '.join(duplicates)}")


def check_virtual_router(spec: Spec) -> None:
    _unique_ports(spec.get("listeners") or [], "VirtualRouter")


def check_virtual_gateway(spec: Spec) -> None:
    _unique_ports(spec.get("listeners") or [], "VirtualGateway")


def _check_prefix(match: Mapping[str, Any], field: str) -> None:
    prefix = match.get("prefix")
    if prefix is not None and not prefix.startswith("/"):
        raise BadRequest(
            f"Value '{prefix}' at '{field}.match.prefix' failed to satisfy constraint: the prefix must start with /"
        )


def check_route(route_type: str, body: Mapping[str, Any]) -> None:
    """HttpRouteMatch.prefix starts with '/'; GrpcRouteMatch.methodName needs serviceName; weights ≤ 100."""
    match = body.get("match") or {}
    field = f"spec.{route_type}"
    if route_type in ("httpRoute", "http2Route"):
        _check_prefix(match, field)
    if route_type == "grpcRoute" and match.get("methodName") and not match.get("serviceName"):
        raise BadRequest(
            f"Value at '{field}.match.methodName' failed to satisfy constraint: a methodName requires a serviceName"
        )
    total = sum(t["weight"] for t in body["action"]["weightedTargets"])
    if total > 100:
        raise BadRequest(
            f"The weights of '{field}.action.weightedTargets' add up to {total}; the total must be less than or equal to 100"
        )


def check_gateway_route(route_type: str, body: Mapping[str, Any]) -> None:
    """Prefix starts with '/'; `/aws-appmesh*` prefixes and `aws.appmesh*` gRPC services are reserved."""
    match = body.get("match") or {}
    field = f"spec.{route_type}"
    if route_type in ("httpRoute", "http2Route"):
        _check_prefix(match, field)
        prefix = match.get("prefix") or ""
        if prefix.startswith(RESERVED_GATEWAY_PREFIXES):
            raise BadRequest(f"Value '{prefix}' at '{field}.match.prefix' is reserved by App Mesh")
    service = match.get("serviceName") or ""
    if route_type == "grpcRoute" and service.startswith(RESERVED_GRPC_SERVICES):
        raise BadRequest(f"Value '{service}' at '{field}.match.serviceName' is reserved by App Mesh")
