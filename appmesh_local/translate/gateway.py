"""A virtual gateway → its proxy (docs/reference.md#virtual-gateway, #gateway-routes).

Gateway listeners route each gateway route to the STATIC `self_redirect` cluster with
host/prefix rewrites; the gateway's own egress listener then routes like a virtual node's
egress, one virtual host per targeted service (per service and provider port when routes
target one service on several ports). App Mesh bound that egress listener on
127.0.0.1:15001; here it is an Envoy internal listener of the same name, reached through
an internal address, so two gateways on one machine never share (or steal) a port
(docs/translation.md, "The gateway's way back into itself").
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Mapping

from appmesh_local.api_models.model import GATEWAY_ROUTE_SPEC, route_protocol, route_types
from appmesh_local.ir import (
    GRPC,
    HTTP2,
    HTTP_FAMILY,
    Cluster,
    Endpoint,
    FilterChain,
    HeaderMatch,
    HttpFilter,
    HttpRoute,
    Listener,
    ProxyIR,
    RouteConfig,
    RouteMatch,
    VirtualHost,
    WeightedTarget,
    names,
)
from appmesh_local.store.records import VIRTUAL_GATEWAY
from appmesh_local.translate.domains import unique_domains
from appmesh_local.translate.matches import grpc_match, http_match, route_order
from appmesh_local.translate.node import circuit_breakers, client_clusters
from appmesh_local.translate.options import TranslateOptions
from appmesh_local.translate.services import ServicePort, ServiceView
from appmesh_local.translate.tls import listener_tls, secure_chains
from appmesh_local.translate.values import DEFAULT_ROUTE_TIMEOUT_MS, access_logs

SELF_REDIRECT_CONNECT_TIMEOUT_MS = 250


def gateway_route_kind(spec: Mapping[str, Any]) -> tuple[str, Mapping[str, Any]] | None:
    """(protocol, body) of a gateway route spec's single route member."""
    for key in route_types(GATEWAY_ROUTE_SPEC):
        if spec.get(key):
            return route_protocol(key), spec[key]
    return None


def gateway_targets(routes: Mapping[str, Mapping[str, Any]]) -> tuple[str, ...]:
    """Virtual services named by a gateway's routes, sorted, unique."""
    out = set()
    for spec in routes.values():
        kind = gateway_route_kind(spec)
        if kind:
            vs = ((kind[1].get("action") or {}).get("target") or {}).get("virtualService") or {}
            if vs.get("virtualServiceName"):
                out.add(vs["virtualServiceName"])
    return tuple(sorted(out))


def _prefix_variants(
    match: RouteMatch, rewrite: Mapping[str, Any], protocol: str
) -> list[tuple[RouteMatch, str | None]]:
    """Routes (match, prefix_rewrite) for one gateway route's path (the choice in docs/reference.md#virtual-gateway):
    default → P/ and P both rewritten to "/"; DISABLED → P kept; `value` → P → value."""
    if protocol == GRPC or match.path_kind != "prefix":
        return [(match, None)]
    prefix_rewrite = rewrite.get("prefix") or {}
    if prefix_rewrite.get("value"):
        return [(match, prefix_rewrite["value"])]
    if prefix_rewrite.get("defaultPrefix") == "DISABLED" or match.path == "/":
        return [(match, None if match.path == "/" else match.path)]
    variants: list[tuple[RouteMatch, str | None]] = []
    if not match.path.endswith("/"):
        variants.append((RouteMatch("prefix", match.path + "/", match.headers, match.query), "/"))
    variants.append((match, "/"))
    return variants


def _applies(match_port: int | None, port: int, count: int) -> bool:
    return match_port == port if match_port is not None else count == 1


@dataclass(frozen=True)
class _Accepted:
    """A gateway route one listener serves, with its target resolved."""

    name: str
    spec: Mapping[str, Any]
    body: Mapping[str, Any]
    service: str
    port: ServicePort | None
    host_rewrite: bool


def gateway_timeout_ms(sp: ServicePort | None) -> int:
    """App Mesh's implicit gateway route timeout: the largest request timeout among the target
    port's routes. App Mesh had no API for it and derived it from the target service's routes
    (the timeout-policy walkthrough; docs/translation.md). Without it the gateway's own hop cut
    every request at 15 s whatever the routes allowed. A route with its timeout disabled (0)
    disables it; no routes (a service without provider) keeps the 15 s default."""
    timeouts = [r.timeout_ms for r in (sp.routes if sp is not None else ()) if r.direct_status is None]
    if not timeouts or any(t is None for t in timeouts):
        return DEFAULT_ROUTE_TIMEOUT_MS
    return 0 if 0 in timeouts else max(t for t in timeouts if t is not None)


def _egress_keys(accepted: list[_Accepted]) -> dict[tuple[str, int | None], str]:
    """The name each (service, provider port) goes by on the gateway's own egress.

    A service the gateway reaches on one port keeps App Mesh's observed shape: Host rewritten
    to the service name, egress virtual host `<service>`. A service targeted on several ports
    (`GatewayRouteTarget.port`, the multiple-listeners walkthrough) needs each port told apart
    after the self-redirect hop, where every request arrives on 15001: the key becomes
    `<service>:<port>` (the Host an app inside the mesh sends for that port).
    """
    ports: dict[str, set[int | None]] = {}
    for item in accepted:
        ports.setdefault(item.service, set()).add(item.port.port if item.port is not None else None)
    return {
        (service, port): service if len(found) == 1 or port is None else f"{service}:{port}"
        for service, found in ports.items()
        for port in found
    }


def gateway_proxy(
    mesh: str,
    name: str,
    spec: Mapping[str, Any],
    routes: Mapping[str, Mapping[str, Any]],
    services: Mapping[str, ServiceView | None],
    options: TranslateOptions,
) -> ProxyIR:
    """Translate virtual gateway `name` with its gateway routes; `services` = targeted views."""
    problems: list[str] = []
    logs = access_logs(spec)
    listeners_spec = [
        lst for lst in spec.get("listeners") or () if (lst.get("portMapping") or {}).get("protocol") in HTTP_FAMILY
    ]
    listeners: list[Listener] = []
    route_configs: list[RouteConfig] = []
    clusters: dict[str, Cluster] = {}
    egress_vhosts: dict[str, VirtualHost] = {}
    header_routes: list[HttpRoute] = []
    ports = [int(lst["portMapping"]["port"]) for lst in listeners_spec]
    for route_name, route_spec in routes.items():
        kind = gateway_route_kind(route_spec)
        match_port = ((kind[1].get("match") or {}).get("port")) if kind else None
        if match_port is None and len(ports) > 1:
            problems.append(
                f"gateway route {name}/{route_name}: gateway {name} has several listeners and the route names no port; ignored"
            )
        elif match_port is not None and match_port not in ports:
            problems.append(
                f"gateway route {name}/{route_name}: port {match_port} matches no listener of gateway {name}; ignored"
            )
    served = [(lst, _accept(name, lst, len(listeners_spec), routes, services, problems)) for lst in listeners_spec]
    keys = _egress_keys([item for _, accepted in served for item in accepted])
    for lst, accepted in served:
        mapping = lst["portMapping"]
        port, protocol = int(mapping["port"]), mapping["protocol"]
        redirect = Cluster(
            name=names.self_redirect_cluster(mesh, name, protocol, port if len(listeners_spec) > 1 else None),
            discovery="static",
            endpoints=(Endpoint("", 0, internal_listener=names.egress_listener()),),
            connect_timeout_ms=SELF_REDIRECT_CONNECT_TIMEOUT_MS,
            http2=protocol in (HTTP2, GRPC),
            circuit_breakers=circuit_breakers(lst.get("connectionPool")),
        )
        clusters[redirect.name] = redirect
        ordered = []
        for item in accepted:
            key = keys[(item.service, item.port.port if item.port is not None else None)]
            _add_egress(key, item, egress_vhosts, header_routes, clusters, problems, spec, f"virtual gateway {name}")
            match_spec = item.body.get("match") or {}
            match = grpc_match(match_spec, gateway=True) if protocol == GRPC else http_match(match_spec, gateway=True)
            rewrite = (item.body.get("action") or {}).get("rewrite") or {}
            path_rewrite = (rewrite.get("path") or {}).get("exact")
            for variant, prefix_rewrite in _prefix_variants(match, rewrite, protocol):
                route = HttpRoute(
                    name=item.name,
                    match=variant,
                    clusters=(WeightedTarget(redirect.name, 1),),
                    weighted=False,
                    timeout_ms=gateway_timeout_ms(item.port),
                    prefix_rewrite=prefix_rewrite,
                    path_rewrite=path_rewrite if variant.path_kind != "prefix" else None,
                    host_rewrite=key if item.host_rewrite else None,
                    request_headers_to_add=() if item.host_rewrite else ((names.VIRTUAL_SERVICE_HEADER, key),),
                )
                ordered.append((route_order(item.spec.get("priority"), variant, item.name), route))
        ordered.sort(key=lambda entry: entry[0])
        rds = names.ingress_route_config(protocol, port)
        vhost = VirtualHost(name=names.SELF_REDIRECT_VHOST, domains=("*",), routes=tuple(r for _, r in ordered))
        route_configs.append(RouteConfig(name=rds, virtual_hosts=(vhost,)))
        chain = FilterChain(
            name=f"ingress_{protocol}_{port}",
            http=HttpFilter(stat_prefix="ingress", route_config=rds, access_logs=logs),
        )
        mode, tls = listener_tls(lst.get("tls"), f"virtual gateway {name} listener {port}", problems)
        listeners.append(
            Listener(
                name=names.ingress_listener(port),
                address=options.bind_address,
                port=port,
                direction="INBOUND",
                use_original_dst=False,
                filter_chains=tuple(secure_chains(chain, mode, tls)),
            )
        )
    egress_rds = names.egress_route_config("http", names.EGRESS_PORT)
    vhosts = [egress_vhosts[k] for k in sorted(egress_vhosts)]
    if header_routes:
        vhosts.append(
            VirtualHost(
                name=names.DEFAULT_BACKEND_VHOST,
                domains=("*",),
                routes=tuple(header_routes),
                response_headers_to_remove=(names.VIRTUAL_SERVICE_HEADER,),
            )
        )
    vhosts = unique_domains(vhosts, f"virtual gateway {name} egress", problems)
    route_configs.append(RouteConfig(name=egress_rds, virtual_hosts=tuple(vhosts)))
    # An internal connection has no destination port: the one chain matches everything.
    egress_chain = FilterChain(
        name=f"egress_http_{names.EGRESS_PORT}",
        http=HttpFilter(stat_prefix="egress", route_config=egress_rds, access_logs=logs),
    )
    listeners.append(
        Listener(
            name=names.egress_listener(),
            address=names.GATEWAY_EGRESS_BIND_ADDRESS,
            port=names.EGRESS_PORT,
            direction="OUTBOUND",
            use_original_dst=False,
            filter_chains=(egress_chain,),
            tls_inspector=False,
            internal=True,
        )
    )
    return ProxyIR(
        kind=VIRTUAL_GATEWAY,
        name=name,
        listeners=tuple(listeners),
        route_configs=tuple(route_configs),
        clusters=tuple(clusters[k] for k in sorted(clusters)),
        problems=tuple(dict.fromkeys(problems)),
    )


def _accept(
    gateway: str,
    listener: Mapping[str, Any],
    listener_count: int,
    routes: Mapping[str, Mapping[str, Any]],
    services: Mapping[str, ServiceView | None],
    problems: list[str],
) -> list[_Accepted]:
    """The gateway routes `listener` serves, each with its target service and provider port."""
    mapping = listener["portMapping"]
    port, protocol = int(mapping["port"]), mapping["protocol"]
    accepted = []
    for route_name, route_spec in routes.items():
        kind = gateway_route_kind(route_spec)
        if kind is None:
            continue
        route_protocol, body = kind
        if not _applies((body.get("match") or {}).get("port"), port, listener_count):
            continue
        where = f"gateway route {gateway}/{route_name}"
        if route_protocol != protocol:
            problems.append(f"{where}: {route_protocol} route on a {protocol} gateway listener ({port}); ignored")
            continue
        action = body.get("action") or {}
        target = action.get("target") or {}
        vs = (target.get("virtualService") or {}).get("virtualServiceName", "")
        view = services.get(vs)
        if view is None or not view.exists:
            problems.append(f"{where}: target virtual service {vs} does not exist; ignored")
            continue
        sp, problem = view.port(target.get("port"))
        if problem:
            problems.append(f"{where}: {problem}")
        if sp is not None and sp.protocol not in HTTP_FAMILY:
            problems.append(f"{where}: target port {sp.port} of {vs} is TCP; ignored")
            continue
        rewrite = action.get("rewrite") or {}
        host_rewrite = ((rewrite.get("hostname") or {}).get("defaultTargetHostname")) != "DISABLED"
        accepted.append(_Accepted(route_name, route_spec, body, vs, sp, host_rewrite))
    return accepted


def _add_egress(
    key: str,
    item: _Accepted,
    vhosts: dict[str, VirtualHost],
    header_routes: list[HttpRoute],
    clusters: dict[str, Cluster],
    problems: list[str],
    spec: Mapping[str, Any],
    client: str,
) -> None:
    """Give the target of `item` (service and provider port) its egress virtual host `key` (once)
    and, without host rewrite, its header-matched routes in the `default_backend` virtual host."""
    vs, sp = item.service, item.port
    if key not in vhosts:
        routes = sp.routes if sp is not None else ()
        if key == vs:
            domains: tuple[str, ...] = (vs, f"{vs}:{names.EGRESS_PORT}")
        else:  # the port-qualified Host only served to pick the port: the app gets the name, as for one port
            domains = (key,)
            routes = tuple(replace(route, host_rewrite=vs) for route in routes)
        vhosts[key] = VirtualHost(name=key, domains=domains, routes=routes)
        if sp is not None:
            client_clusters(client, spec, vs, sp, clusters, problems)
    if not item.host_rewrite:
        _add_header_routes(key, vs, sp, header_routes)


def _add_header_routes(key: str, vs: str, sp: ServicePort | None, header_routes: list[HttpRoute]) -> None:
    """Routes in `default_backend` for requests the gateway marked with `key` (hostname rewrite
    DISABLED); a port-qualified marker is set back to the service name before the app sees it."""
    if sp is None:
        return
    marker = HeaderMatch(name=names.VIRTUAL_SERVICE_HEADER, kind="exact", value=key)
    restore = ((names.VIRTUAL_SERVICE_HEADER, vs),) if key != vs else ()
    for route in sp.routes:
        if any(r.name == route.name and marker in r.match.headers for r in header_routes):
            continue
        match = RouteMatch(route.match.path_kind, route.match.path, (marker,) + route.match.headers, route.match.query)
        header_routes.append(replace(route, match=match, request_headers_to_add=route.request_headers_to_add + restore))
