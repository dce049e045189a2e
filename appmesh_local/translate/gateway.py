"""A virtual gateway → its proxy (reference §3.7, §4.10).

Gateway listeners route each gateway route to the STATIC `self_redirect` cluster
(127.0.0.1:15001) with host/prefix rewrites; the gateway's own egress listener on
15001 then routes like a virtual node's egress, one virtual host per targeted service.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Mapping

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
from appmesh_local.translate.domains import unique_domains
from appmesh_local.translate.matches import grpc_match, http_match, route_order
from appmesh_local.translate.node import circuit_breakers, client_clusters
from appmesh_local.translate.options import TranslateOptions
from appmesh_local.translate.services import ServicePort, ServiceView
from appmesh_local.translate.tls import listener_tls, secure_chains
from appmesh_local.translate.values import DEFAULT_ROUTE_TIMEOUT_MS, access_logs

GATEWAY_ROUTE_KINDS = (("httpRoute", "http"), ("http2Route", "http2"), ("grpcRoute", "grpc"))
SELF_REDIRECT_CONNECT_TIMEOUT_MS = 250


def gateway_route_kind(spec: Mapping[str, Any]) -> tuple[str, Mapping[str, Any]] | None:
    for key, protocol in GATEWAY_ROUTE_KINDS:
        if spec.get(key):
            return protocol, spec[key]
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
    """Routes (match, prefix_rewrite) for one gateway route's path (reference §3.7 choice):
    default → P/ and P both rewritten to "/"; DISABLED → P kept; `value` → P → value."""
    if protocol == GRPC or match.path_kind != "prefix":
        return [(match, None)]
    prefix_rewrite = rewrite.get("prefix") or {}
    if prefix_rewrite.get("value"):
        return [(match, prefix_rewrite["value"])]
    if prefix_rewrite.get("defaultPrefix") == "DISABLED" or match.path == "/":
        return [(match, None if match.path == "/" else match.path)]
    variants = []
    if not match.path.endswith("/"):
        variants.append((RouteMatch("prefix", match.path + "/", match.headers, match.query), "/"))
    variants.append((match, "/"))
    return variants


def _applies(match_port: int | None, port: int, count: int) -> bool:
    return match_port == port if match_port is not None else count == 1


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
    egress_vhosts: dict[str, tuple[VirtualHost, int | None]] = {}
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
    for lst in listeners_spec:
        mapping = lst["portMapping"]
        port, protocol = int(mapping["port"]), mapping["protocol"]
        redirect = Cluster(
            name=names.self_redirect_cluster(mesh, name, protocol, port if len(listeners_spec) > 1 else None),
            discovery="static",
            endpoints=(Endpoint("127.0.0.1", names.EGRESS_PORT),),
            connect_timeout_ms=SELF_REDIRECT_CONNECT_TIMEOUT_MS,
            http2=protocol in (HTTP2, GRPC),
            circuit_breakers=circuit_breakers(lst.get("connectionPool")),
        )
        clusters[redirect.name] = redirect
        ordered = []
        for route_name, route_spec in routes.items():
            kind = gateway_route_kind(route_spec)
            if kind is None:
                continue
            route_protocol, body = kind
            match_spec = body.get("match") or {}
            if not _applies(match_spec.get("port"), port, len(listeners_spec)):
                continue
            if route_protocol != protocol:
                problems.append(
                    f"gateway route {name}/{route_name}: {route_protocol} route on a {protocol} gateway listener ({port}); ignored"
                )
                continue
            action = body.get("action") or {}
            target = action.get("target") or {}
            vs = (target.get("virtualService") or {}).get("virtualServiceName", "")
            view = services.get(vs)
            if view is None or not view.exists:
                problems.append(
                    f"gateway route {name}/{route_name}: target virtual service {vs} does not exist; ignored"
                )
                continue
            sp, problem = view.port(target.get("port"))
            if problem:
                problems.append(f"gateway route {name}/{route_name}: {problem}")
            if sp is not None and sp.protocol not in HTTP_FAMILY:
                problems.append(f"gateway route {name}/{route_name}: target port {sp.port} of {vs} is TCP; ignored")
                continue
            rewrite = action.get("rewrite") or {}
            host_rewrite = ((rewrite.get("hostname") or {}).get("defaultTargetHostname")) != "DISABLED"
            _add_egress(
                vs,
                sp,
                host_rewrite,
                egress_vhosts,
                header_routes,
                clusters,
                f"{name}/{route_name}",
                problems,
                spec,
                f"virtual gateway {name}",
            )
            match = grpc_match(match_spec, gateway=True) if protocol == GRPC else http_match(match_spec, gateway=True)
            path_rewrite = (rewrite.get("path") or {}).get("exact")
            for variant, prefix_rewrite in _prefix_variants(match, rewrite, protocol):
                route = HttpRoute(
                    name=route_name,
                    match=variant,
                    clusters=(WeightedTarget(redirect.name, 1),),
                    weighted=False,
                    timeout_ms=DEFAULT_ROUTE_TIMEOUT_MS,
                    prefix_rewrite=prefix_rewrite,
                    path_rewrite=path_rewrite if variant.path_kind != "prefix" else None,
                    host_rewrite=vs if host_rewrite else None,
                    request_headers_to_add=() if host_rewrite else ((names.VIRTUAL_SERVICE_HEADER, vs),),
                )
                ordered.append((route_order(route_spec.get("priority"), variant, route_name), route))
        ordered.sort(key=lambda item: item[0])
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
    vhosts = [egress_vhosts[k][0] for k in sorted(egress_vhosts)]
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
    egress_chain = FilterChain(
        name=f"egress_http_{names.EGRESS_PORT}",
        destination_port=names.EGRESS_PORT,
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
        )
    )
    return ProxyIR(
        kind="virtualGateway",
        name=name,
        listeners=tuple(listeners),
        route_configs=tuple(route_configs),
        clusters=tuple(clusters[k] for k in sorted(clusters)),
        problems=tuple(dict.fromkeys(problems)),
    )


def _add_egress(
    vs: str,
    sp: ServicePort | None,
    host_rewrite: bool,
    vhosts: dict[str, tuple[VirtualHost, int | None]],
    header_routes: list[HttpRoute],
    clusters: dict[str, Cluster],
    route_name: str,
    problems: list[str],
    spec: Mapping[str, Any],
    client: str,
) -> None:
    """Give service `vs` its egress virtual host (once) and, without host rewrite, its
    header-matched routes in the `default_backend` virtual host."""
    chosen = sp.port if sp is not None else None
    if vs in vhosts:
        if vhosts[vs][1] != chosen:
            problems.append(
                f"gateway route {route_name}: {vs} already routed on provider port {vhosts[vs][1]}; "
                f"port {chosen} not used"
            )
        elif not host_rewrite:
            _add_header_routes(vs, sp, header_routes)
        return
    routes = sp.routes if sp is not None else ()
    domains = (vs, f"{vs}:{names.EGRESS_PORT}")
    vhosts[vs] = (VirtualHost(name=vs, domains=domains, routes=routes), chosen)
    if sp is not None:
        client_clusters(client, spec, vs, sp, clusters, problems)
    if not host_rewrite:
        _add_header_routes(vs, sp, header_routes)


def _add_header_routes(vs: str, sp: ServicePort | None, header_routes: list[HttpRoute]) -> None:
    if sp is None:
        return
    marker = HeaderMatch(name=names.VIRTUAL_SERVICE_HEADER, kind="exact", value=vs)
    for route in sp.routes:
        if any(r.name == route.name and marker in r.match.headers for r in header_routes):
            continue
        match = RouteMatch(route.match.path_kind, route.match.path, (marker,) + route.match.headers, route.match.query)
        header_routes.append(_replace_match(route, match))


def _replace_match(route: HttpRoute, match: RouteMatch) -> HttpRoute:
    return replace(route, match=match)
