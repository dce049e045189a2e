"""A virtual service as clients see it: per provider port, the HTTP routes or TCP targets.

Provider virtual router → its routes for each router listener; provider virtual node →
one catch-all route per node listener (15 s timeout, default retries); no provider →
no ports (clients still get an empty virtual host). Facts: docs/reference.md#egress-virtual-hosts, #route-matching,
#weighted-targets, #retries, #timeouts, #tcp-routes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping

from appmesh_local.api_models.model import ROUTE_SPEC, route_protocol, route_types
from appmesh_local.ir import (
    HTTP_FAMILY,
    TCP,
    HttpRoute,
    RetryPolicy,
    RouteMatch,
    StatsTag,
    WeightedTarget,
)
from appmesh_local.translate.matches import RouteOrder, grpc_match, http_match, route_order
from appmesh_local.translate.retries import retry_policy
from appmesh_local.translate.targets import NodeTarget, TargetListener
from appmesh_local.translate.values import DEFAULT_ROUTE_TIMEOUT_MS, DEFAULT_TCP_IDLE_TIMEOUT_MS, duration_ms, opt

CATCH_ALL = RouteMatch(path_kind="prefix", path="/")
PROVIDER_NODE_WEIGHT = 100


@dataclass(frozen=True)
class ServicePort:
    """What a client does on one provider port of a service."""

    port: int
    protocol: str
    routes: tuple[HttpRoute, ...] = ()  # HTTP family
    tcp: tuple[WeightedTarget, ...] = ()  # TCP
    tcp_idle_timeout_ms: int | None = None
    targets: tuple[TargetListener, ...] = ()  # target listeners (with egress clusters) referenced


@dataclass(frozen=True)
class ServiceView:
    name: str
    exists: bool
    ports: tuple[ServicePort, ...] = ()
    problems: tuple[str, ...] = ()

    def port(self, port: int | None) -> tuple[ServicePort | None, str | None]:
        """The port a gateway route target selects: by number, or the only one."""
        if port is not None:
            found = [p for p in self.ports if p.port == port]
            return (found[0], None) if found else (None, f"virtual service {self.name} has no provider port {port}")
        if len(self.ports) == 1:
            return self.ports[0], None
        if not self.ports:
            return None, None
        return None, f"virtual service {self.name} has several provider ports and the target names no port"


NodeLookup = Callable[[str], "NodeTarget | None"]


def route_kind(spec: Mapping[str, Any]) -> tuple[str, str, Mapping[str, Any]] | None:
    """(spec key, protocol, body) of a route spec's single route member."""
    for key in route_types(ROUTE_SPEC):
        if spec.get(key):
            return key, route_protocol(key), spec[key]
    return None


def _targets(
    action: Mapping[str, Any], router_port: int, nodes: NodeLookup, where: str, problems: list[str]
) -> tuple[list[WeightedTarget], list[TargetListener]]:
    targets: list[WeightedTarget] = []
    clusters: list[TargetListener] = []
    for target in action.get("weightedTargets") or ():
        node = nodes(opt(target, "virtualNode", ""))
        if node is None:
            problems.append(f"{where}: target virtual node {target.get('virtualNode')} does not exist")
            continue
        listener, problem = node.listener(target.get("port"), router_port)
        if listener is None or listener.cluster is None:
            problems.append(
                f"{where}: {problem or f'virtual node {node.name} has no service discovery'}; target dropped"
            )
            continue
        targets.append(WeightedTarget(cluster=listener.cluster.name, weight=int(opt(target, "weight", 0))))
        clusters.append(listener)
    return targets, clusters


def _http_route(
    service: str,
    where: str,
    name: str,
    protocol: str,
    body: Mapping[str, Any],
    router_port: int,
    nodes: NodeLookup,
    default_retry: RetryPolicy | None,
    problems: list[str],
) -> tuple[HttpRoute, list[TargetListener]]:
    match = grpc_match(body.get("match") or {}) if protocol == "grpc" else http_match(body.get("match") or {})
    targets, clusters = _targets(body.get("action") or {}, router_port, nodes, where, problems)
    timeout = body.get("timeout") or {}
    per_request = duration_ms(timeout.get("perRequest"))
    tags = (StatsTag("TargetVirtualService", service),)
    if not targets or not any(t.weight for t in targets):
        reason = "no usable target" if not targets else "every target has weight 0"
        problems.append(f"{where}: {reason}; requests get 503")
        return HttpRoute(name=name, match=match, direct_status=503, stats_tags=tags), []
    return HttpRoute(
        name=name,
        match=match,
        clusters=tuple(targets),
        timeout_ms=DEFAULT_ROUTE_TIMEOUT_MS if per_request is None else per_request,
        idle_timeout_ms=duration_ms(timeout.get("idle")),
        retry=retry_policy(body.get("retryPolicy"), default_retry),
        stats_tags=tags,
    ), clusters


def _applies(match_port: int | None, listener_port: int, listener_count: int) -> bool:
    return match_port == listener_port if match_port is not None else listener_count == 1


def _router_port(
    service: str,
    router: str,
    listener: Mapping[str, Any],
    listener_count: int,
    routes: Mapping[str, Mapping[str, Any]],
    nodes: NodeLookup,
    default_retry: RetryPolicy | None,
    problems: list[str],
) -> ServicePort:
    mapping = listener.get("portMapping") or {}
    port, protocol = int(mapping["port"]), mapping["protocol"]
    ordered: list[tuple[RouteOrder, str, Mapping[str, Any], str]] = []
    for name, spec in routes.items():
        kind = route_kind(spec)
        if kind is None:
            continue
        _, route_protocol, body = kind
        match_port = (body.get("match") or {}).get("port")
        if not _applies(match_port, port, listener_count):
            continue
        if route_protocol != protocol:
            problems.append(
                f"route {router}/{name}: {route_protocol} route on a {protocol} router listener ({port}); ignored"
            )
            continue
        match = body.get("match") or {}
        order_match = (
            grpc_match(match)
            if route_protocol == "grpc"
            else http_match(match)
            if route_protocol in HTTP_FAMILY
            else CATCH_ALL
        )
        ordered.append((route_order(spec.get("priority"), order_match, name), name, body, route_protocol))
    ordered.sort(key=lambda item: item[0])
    clusters: dict[str, TargetListener] = {}
    if protocol == TCP:
        if not ordered:
            return ServicePort(port=port, protocol=protocol)
        _, name, body, _ = ordered[0]
        for _, other, _, _ in ordered[1:]:
            problems.append(f"route {router}/{other}: only one TCP route per router listener ({port}) is used; ignored")
        targets, found = _targets(body.get("action") or {}, port, nodes, f"route {router}/{name}", problems)
        clusters.update((t.cluster.name, t) for t in found if t.cluster is not None)
        if targets and not any(t.weight for t in targets):
            problems.append(f"route {router}/{name}: every target has weight 0; TCP route dropped")
        idle = duration_ms((body.get("timeout") or {}).get("idle"))
        return ServicePort(
            port=port,
            protocol=protocol,
            # Envoy's tcp_proxy refuses a weight of 0 (the whole listener is NACKed, RM#204):
            # a target at 0 takes no connections, so it is left out; its cluster stays.
            tcp=tuple(t for t in targets if t.weight),
            tcp_idle_timeout_ms=DEFAULT_TCP_IDLE_TIMEOUT_MS if idle is None else idle,
            targets=tuple(clusters.values()),
        )
    built = []
    for _, name, body, route_protocol in ordered:
        route, found = _http_route(
            service, f"route {router}/{name}", name, route_protocol, body, port, nodes, default_retry, problems
        )
        built.append(route)
        clusters.update((t.cluster.name, t) for t in found if t.cluster is not None)
    return ServicePort(port=port, protocol=protocol, routes=tuple(built), targets=tuple(clusters.values()))


def router_service(
    service: str,
    router: str,
    router_spec: Mapping[str, Any],
    routes: Mapping[str, Mapping[str, Any]],
    nodes: NodeLookup,
    default_retry: RetryPolicy | None,
) -> ServiceView:
    """A service provided by virtual router `router`: one ServicePort per router listener."""
    problems: list[str] = []
    listeners = list(router_spec.get("listeners") or ())
    for name, spec in routes.items():
        kind = route_kind(spec)
        match_port = ((kind[2].get("match") or {}).get("port")) if kind else None
        ports = [int((lst.get("portMapping") or {}).get("port", 0)) for lst in listeners]
        if match_port is None and len(listeners) > 1:
            problems.append(
                f"route {router}/{name}: the router has several listeners and the route names no port; ignored"
            )
        elif match_port is not None and match_port not in ports:
            problems.append(f"route {router}/{name}: port {match_port} matches no listener of the router; ignored")
    ports_out = tuple(
        _router_port(service, router, lst, len(listeners), routes, nodes, default_retry, problems) for lst in listeners
    )
    return ServiceView(name=service, exists=True, ports=ports_out, problems=_unique(problems))


def node_service(
    service: str, node: NodeTarget | None, node_name: str, default_retry: RetryPolicy | None
) -> ServiceView:
    """A service provided directly by a virtual node: a catch-all route per node listener."""
    if node is None:
        return ServiceView(
            name=service,
            exists=True,
            problems=(f"virtual service {service}: provider virtual node {node_name} does not exist",),
        )
    ports = []
    problems = list(node.problems)
    for listener in node.listeners:
        if listener.cluster is None:
            continue
        target = (WeightedTarget(cluster=listener.cluster.name, weight=PROVIDER_NODE_WEIGHT),)
        if listener.protocol == TCP:
            ports.append(
                ServicePort(
                    port=listener.port,
                    protocol=TCP,
                    tcp=target,
                    tcp_idle_timeout_ms=DEFAULT_TCP_IDLE_TIMEOUT_MS,
                    targets=(listener,),
                )
            )
            continue
        route = HttpRoute(
            name=node_name,
            match=CATCH_ALL,
            clusters=target,
            timeout_ms=DEFAULT_ROUTE_TIMEOUT_MS,
            retry=default_retry,
            stats_tags=(StatsTag("TargetVirtualService", service),),
        )
        ports.append(ServicePort(port=listener.port, protocol=listener.protocol, routes=(route,), targets=(listener,)))
    return ServiceView(name=service, exists=True, ports=tuple(ports), problems=_unique(problems))


def _unique(items: list[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))
