"""A proxy as App Mesh placed it → the same proxy placed in host mode (`ir.placement.HostPlacement`).

App Mesh's listeners rely on the task's private network stack: iptables hands the task's traffic to
15000/15001 and Envoy picks the chain by the original destination port. On a shared host without
root there is no interception, so host mode keeps every name, route and cluster and changes only
where things listen (docs/host-mode.md):

- virtual node ingress `lds_ingress_0.0.0.0_15000` binds `<address>:<port>` for each listener port.
  Its chains already match on the destination port, which is now the port the connection arrived
  on; no original-destination handling.
- the local app's clusters (`cds_ingress_...`) point at `<app_address>:<port>` (App Mesh: 127.0.0.1).
- virtual node egress `lds_egress_0.0.0.0_15001` binds `<egress_address>:<port>` for each backend
  port, chains unchanged, and `<egress_address>:15001` for an HTTP proxy. The `*.amazonaws.com`
  and ALLOW_ALL pass-through chains go: without interception nothing outside the mesh enters Envoy
  (the app reaches it directly), and there is no original destination to pass through to.
- the HTTP proxy (chain `egress_http_proxy`, route configuration `rds_egress_http_15001`): one
  virtual host per backend port (`*:<port>`) whose routes hand absolute-form requests
  (`HTTP_PROXY`) and CONNECT tunnels (gRPC's and other clients' proxy support) to the same Envoy's
  egress on that port, cluster `cds_egress_<mesh>_<node>_self_redirect_<port>`, where App Mesh's
  routes apply by Host as before.
- gateway listeners bind `<address>:<port>`; a gateway's egress is an internal listener already.
"""

from __future__ import annotations

from dataclasses import replace

from appmesh_local.ir import (
    HTTP,
    Cluster,
    Endpoint,
    FilterChain,
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
from appmesh_local.ir.placement import HostPlacement

REDIRECT_CONNECT_TIMEOUT_MS = 250  # as the gateway's self_redirect: the target is this Envoy itself
_CATCH_ALL = RouteMatch(path_kind="prefix", path="/")
_CONNECT = RouteMatch(path_kind="connect", path="")


def place_proxy(proxy: ProxyIR, placement: HostPlacement, mesh: str) -> ProxyIR:
    """`proxy` (as `translate_mesh` made it) with its listeners and local-app clusters placed in host mode."""
    if proxy.kind == "virtualGateway":
        bound = tuple(
            lst if lst.internal else replace(lst, address=placement.address, additional=()) for lst in proxy.listeners
        )
        return replace(proxy, listeners=bound)
    problems: list[str] = list(proxy.problems)
    route_configs = {rc.name: rc for rc in proxy.route_configs}
    clusters = {c.name: c for c in proxy.clusters}
    listeners: list[Listener] = []
    for listener in proxy.listeners:
        if listener.name == names.ingress_listener():
            for name in _referenced(listener, route_configs):
                cluster = clusters[name]
                clusters[name] = replace(
                    cluster, endpoints=tuple(Endpoint(placement.app_address, e.port) for e in cluster.endpoints)
                )
            listeners.append(_bound(listener, placement.address, _ports(listener)))
        elif listener.name == names.egress_listener():
            egress, proxy_routes, redirects = _egress(listener, proxy.name, mesh, placement, problems)
            listeners.append(egress)
            route_configs[proxy_routes.name] = proxy_routes
            clusters.update((c.name, c) for c in redirects)
        else:
            listeners.append(listener)
    used_routes = {c.http.route_config for lst in listeners for c in lst.filter_chains if c.http is not None}
    route_configs = {name: rc for name, rc in route_configs.items() if name in used_routes}
    used_clusters = {n for lst in listeners for n in _referenced(lst, route_configs)}
    return replace(
        proxy,
        listeners=tuple(listeners),
        route_configs=tuple(route_configs.values()),
        clusters=tuple(
            c for name, c in sorted(clusters.items()) if name in used_clusters or c.discovery != "original_dst"
        ),
        problems=tuple(dict.fromkeys(problems)),
    )


def _egress(
    listener: Listener, node: str, mesh: str, placement: HostPlacement, problems: list[str]
) -> tuple[Listener, RouteConfig, list[Cluster]]:
    """The egress listener on the egress address, its HTTP proxy chain, routes and redirect clusters."""
    kept: list[FilterChain] = []
    for chain in listener.filter_chains:
        if chain.destination_port is None or chain.server_names:
            continue  # ALLOW_ALL and *.amazonaws.com pass-through: nothing to pass through to
        if chain.destination_port == names.HTTP_PROXY_PORT:
            problems.append(
                f"virtual node {node}: host mode keeps port {names.HTTP_PROXY_PORT} of the egress address for "
                f"its HTTP proxy; backends on port {names.HTTP_PROXY_PORT} are not reachable"
            )
            continue
        kept.append(chain)
    vhosts: list[VirtualHost] = []
    redirects: list[Cluster] = []
    for port in _ports_of(kept):
        cluster = Cluster(
            name=names.host_redirect_cluster(mesh, node, port),
            discovery="static",
            endpoints=(Endpoint(placement.egress_address, port),),
            connect_timeout_ms=REDIRECT_CONNECT_TIMEOUT_MS,
        )
        redirects.append(cluster)
        target = (WeightedTarget(cluster.name, 1),)
        routes = [HttpRoute(name=f"connect_{port}", match=_CONNECT, clusters=target, weighted=False, timeout_ms=0)]
        if any(c.http is not None for c in kept if c.destination_port == port):
            routes.append(
                HttpRoute(name=f"forward_{port}", match=_CATCH_ALL, clusters=target, weighted=False, timeout_ms=0)
            )
        # Absolute-form requests carry the URL's authority, with the port unless it is 80.
        domains = (f"*:{port}", "*") if port == 80 else (f"*:{port}",)
        vhosts.append(VirtualHost(name=f"egress_{port}", domains=domains, routes=tuple(routes)))
    proxy_routes = RouteConfig(names.egress_route_config(HTTP, names.HTTP_PROXY_PORT), tuple(vhosts))
    proxy_chain = FilterChain(
        name=names.HTTP_PROXY_CHAIN,
        destination_port=names.HTTP_PROXY_PORT,
        http=HttpFilter(stat_prefix=names.HTTP_PROXY_STAT_PREFIX, route_config=proxy_routes.name, allow_connect=True),
    )
    chains = (proxy_chain, *kept)
    placed = _bound(
        replace(listener, filter_chains=chains),
        placement.egress_address,
        (names.HTTP_PROXY_PORT, *_ports_of(kept)),
    )
    return placed, proxy_routes, redirects


def _bound(listener: Listener, address: str, ports: tuple[int, ...]) -> Listener:
    """`listener` binding `address` on each of `ports` (the first is its primary address).

    With SO_REUSEPORT: a new backend port changes the listener's address list, which Envoy can
    only apply by binding the new list while the old one drains. The address is this proxy's
    alone (proxy.host leases it, and takes no block something already listens on)."""
    return replace(
        listener,
        address=address,
        port=ports[0] if ports else listener.port,
        additional=tuple((address, port) for port in ports[1:]),
        use_original_dst=False,
        reuse_port=True,
    )


def _ports(listener: Listener) -> tuple[int, ...]:
    return _ports_of(listener.filter_chains)


def _ports_of(chains: tuple[FilterChain, ...] | list[FilterChain]) -> tuple[int, ...]:
    return tuple(sorted({c.destination_port for c in chains if c.destination_port is not None}))


def _referenced(listener: Listener, route_configs: dict[str, RouteConfig]) -> list[str]:
    """Names of the clusters `listener`'s chains send traffic to (directly or through their routes)."""
    out: list[str] = []
    for chain in listener.filter_chains:
        if chain.tcp is not None:
            out.extend(t.cluster for t in chain.tcp.clusters)
        if chain.http is not None and chain.http.route_config in route_configs:
            for vhost in route_configs[chain.http.route_config].virtual_hosts:
                for route in vhost.routes:
                    out.extend(t.cluster for t in route.clusters)
    return list(dict.fromkeys(out))
