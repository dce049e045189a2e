"""Route match specs (routes and gateway routes, HTTP and gRPC) → IR RouteMatch, and route order."""

from __future__ import annotations

import re
from typing import Any, Mapping

from appmesh_local.ir import HeaderMatch, QueryMatch, RouteMatch
from appmesh_local.translate.values import opt

_KINDS = ("exact", "prefix", "suffix", "regex")


def header_match(name: str, match: Mapping[str, Any] | None, invert: bool = False) -> HeaderMatch:
    """App Mesh HeaderMatchMethod union (or nothing = presence) → HeaderMatch."""
    match = match or {}
    for kind in _KINDS:
        if match.get(kind) is not None:
            return HeaderMatch(name=name, kind=kind, value=str(match[kind]), invert=invert)
    if match.get("range"):
        rng = match["range"]
        return HeaderMatch(
            name=name, kind="range", range_start=int(rng["start"]), range_end=int(rng["end"]), invert=invert
        )
    return HeaderMatch(name=name, kind="present", invert=invert)


def _headers(items: Any) -> list[HeaderMatch]:
    # Envoy keys headers in lower case: a matcher spelled `X-Canary` would never match.
    return [header_match(h["name"].lower(), h.get("match"), bool(opt(h, "invert", False))) for h in items or ()]


def _query(items: Any) -> tuple[QueryMatch, ...]:
    out = []
    for q in items or ():
        exact = (q.get("match") or {}).get("exact")
        out.append(QueryMatch(name=q["name"], exact=exact))
    return tuple(out)


def _path(match: Mapping[str, Any]) -> tuple[str, str]:
    path = match.get("path") or {}
    if path.get("exact") is not None:
        return "exact", path["exact"]
    if path.get("regex") is not None:
        return "regex", path["regex"]
    return "prefix", match.get("prefix") or "/"


_OPTIONAL_PORT = "(:[0-9]+)?"


def _hostname(match: Mapping[str, Any]) -> list[HeaderMatch]:
    """Gateway hostname match on :authority, ignoring a `:port` the client may send
    (a regex, so the Host forwarded upstream is left exactly as received)."""
    host = match.get("hostname") or {}
    if host.get("exact"):
        return [HeaderMatch(name=":authority", kind="regex", value=f"{re.escape(host['exact'])}{_OPTIONAL_PORT}")]
    if host.get("suffix"):
        return [HeaderMatch(name=":authority", kind="regex", value=f".*{re.escape(host['suffix'])}{_OPTIONAL_PORT}")]
    return []


def http_match(match: Mapping[str, Any], gateway: bool = False) -> RouteMatch:
    """HttpRouteMatch / HttpGatewayRouteMatch → RouteMatch (method → :method, scheme → :scheme)."""
    kind, path = _path(match)
    headers = _hostname(match) if gateway else []
    if match.get("method"):
        headers.append(HeaderMatch(name=":method", kind="exact", value=match["method"]))
    if match.get("scheme"):
        headers.append(HeaderMatch(name=":scheme", kind="exact", value=match["scheme"]))
    headers.extend(_headers(match.get("headers")))
    return RouteMatch(path_kind=kind, path=path, headers=tuple(headers), query=_query(match.get("queryParameters")))


def grpc_match(match: Mapping[str, Any], gateway: bool = False) -> RouteMatch:
    """GrpcRouteMatch / GrpcGatewayRouteMatch → RouteMatch on the gRPC path and metadata headers."""
    service, method = match.get("serviceName"), match.get("methodName")
    if service and method:
        kind, path = "exact", f"/{service}/{method}"
    elif service:
        kind, path = "prefix", f"/{service}/"
    else:
        kind, path = "prefix", "/"
    headers = _hostname(match) if gateway else []
    headers.extend(_headers(match.get("metadata")))
    return RouteMatch(path_kind=kind, path=path, headers=tuple(headers))


_PATH_RANK = {"exact": 0, "prefix": 1, "regex": 2}


# (unprioritised, priority, path kind rank, -path length, -conditions, name): sorts best first.
RouteOrder = tuple[bool, int, int, int, int, str]


def route_order(priority: int | None, match: RouteMatch, name: str) -> RouteOrder:
    """Sort key: priority ascending (unset last), then exact > longest prefix > regex,
    then more header/query conditions first, then name (docs/reference.md#route-matching, #uncertain)."""
    return (
        priority is None,
        priority or 0,
        _PATH_RANK.get(match.path_kind, 3),
        -len(match.path),
        -(len(match.headers) + len(match.query)),
        name,
    )
