"""A virtual node → its proxy: ingress (15000, local app) and egress (15001, backends).

App Mesh's layout (docs/reference.md#ingress-listener, #egress-listener, #egress-virtual-hosts): one ingress chain per node listener keyed on the original
destination port; one egress chain per destination port used by reachable backends,
the `*.amazonaws.com` chain, and the ALLOW_ALL catch-all.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from appmesh_local.ir import (
    HTTP,
    HTTP2,
    HTTP_FAMILY,
    TCP,
    CircuitBreakers,
    Cluster,
    Endpoint,
    FilterChain,
    HttpFilter,
    HttpRoute,
    Listener,
    ProxyIR,
    RouteConfig,
    TcpFilter,
    VirtualHost,
    WeightedTarget,
    names,
)
from appmesh_local.store.records import VIRTUAL_NODE
from appmesh_local.translate.domains import unique_domains
from appmesh_local.translate.options import TranslateOptions
from appmesh_local.translate.services import CATCH_ALL, ServicePort, ServiceView
from appmesh_local.translate.tls import client_policy, listener_tls, secure_chains, with_client_policy
from appmesh_local.translate.values import (
    DEFAULT_ROUTE_TIMEOUT_MS,
    DEFAULT_TCP_IDLE_TIMEOUT_MS,
    access_logs,
    duration_ms,
    ip_preference,
    listener_addresses,
    local_app_address,
    opt,
)

AWS_API_PORT = 443
AWS_API_SERVER_NAMES = ("*.amazonaws.com",)
MAX = 2147483647
# The local app is on loopback: App Mesh gave its cluster a 0.25 s connect timeout (1 s elsewhere).
LOCAL_APP_CONNECT_TIMEOUT_MS = 250
ALLOW_ALL_VHOST = "mesh-allow-all"


def circuit_breakers(pool: Mapping[str, Any] | None) -> CircuitBreakers:
    """Listener connectionPool (tcp | http | http2 | grpc) → default-priority thresholds."""
    pool = pool or {}
    if pool.get("tcp"):
        return CircuitBreakers(max_connections=int(opt(pool["tcp"], "maxConnections", MAX)))
    if pool.get("http"):
        http = pool["http"]
        return CircuitBreakers(
            max_connections=int(opt(http, "maxConnections", MAX)),
            max_pending_requests=int(opt(http, "maxPendingRequests", MAX)),
        )
    for key in ("http2", "grpc"):
        if pool.get(key):
            return CircuitBreakers(max_requests=int(opt(pool[key], "maxRequests", MAX)))
    return CircuitBreakers()


# (service, port, the service's ServicePort on that port or None) → the egress virtual host.
VirtualHostFor = Callable[[str, int, "ServicePort | None"], VirtualHost]
# One egress virtual host as `_egress` made it: (service, port, index of the ServicePort in the
# service's view, or -1 for a service without ports).
VirtualHostEntry = tuple[str, int, int]


@dataclass(frozen=True)
class EgressRecipe:
    """How a node's egress route configurations were assembled from its backends' views.

    Per egress route configuration: its index in `ProxyIR.route_configs`, the entries of its
    service virtual hosts in order, and the virtual hosts that follow them (ALLOW_ALL's). With
    this, a change that only alters the routes of some backends (not their ports, targets or
    problems) is applied by re-assembling the route configurations that hold them
    (`translate.egress_patch`), leaving listeners and clusters as they were. `patchable` is False
    when the virtual hosts were not taken as made (two services claimed one Host).
    """

    route_configs: tuple[tuple[int, tuple[VirtualHostEntry, ...], tuple[VirtualHost, ...]], ...]
    patchable: bool

    @functools.cached_property
    def places(self) -> Mapping[str, tuple[tuple[int, int, int, int], ...]]:
        """Service → where its virtual hosts sit: (route configuration index, position among its
        virtual hosts, port, ServicePort index or -1), so a patch visits only the changed services."""
        found: dict[str, list[tuple[int, int, int, int]]] = {}
        for index, entries, _ in self.route_configs:
            for at, (service, port, position) in enumerate(entries):
                found.setdefault(service, []).append((index, at, port, position))
        return {service: tuple(places) for service, places in found.items()}


def egress_virtual_host(service: str, port: int, sp: ServicePort | None) -> VirtualHost:
    """The virtual host clients use to reach `service` on `port` (no routes when it has no ports)."""
    return VirtualHost(name=service, domains=(service, f"{service}:{port}"), routes=sp.routes if sp else ())


def passthrough_cluster(name: str) -> Cluster:
    """ORIGINAL_DST cluster: forwards to wherever the app was connecting."""
    return Cluster(name=name, discovery="original_dst")


@dataclass(frozen=True)
class NodeIngress:
    """A node's ingress side: it depends only on the node's own spec and the mesh's, never on backends."""

    listener: Listener | None
    route_configs: tuple[RouteConfig, ...]
    clusters: tuple[Cluster, ...]
    problems: tuple[str, ...]


def node_ingress(
    mesh: str, mesh_spec: Mapping[str, Any], name: str, spec: Mapping[str, Any], options: TranslateOptions
) -> NodeIngress:
    """Translate virtual node `name`'s listeners (a translator memoizes this by the node's spec)."""
    problems: list[str] = []
    listener, route_configs, clusters = _ingress(mesh, mesh_spec, name, spec, options, problems)
    return NodeIngress(listener, tuple(route_configs), tuple(clusters), tuple(problems))


def _ingress(
    mesh: str,
    mesh_spec: Mapping[str, Any],
    name: str,
    spec: Mapping[str, Any],
    options: TranslateOptions,
    problems: list[str],
) -> tuple[Listener | None, list[RouteConfig], list[Cluster]]:
    listeners = list(spec.get("listeners") or ())
    if not listeners:
        return None, [], []
    logs = access_logs(spec)
    discovery = spec.get("serviceDiscovery") or {}
    app_address = local_app_address(ip_preference(mesh_spec, discovery.get("dns") or discovery.get("awsCloudMap")))
    chains, route_configs, clusters = [], [], []
    for listener in listeners:
        mapping = listener.get("portMapping") or {}
        port, protocol = int(mapping["port"]), mapping["protocol"]
        cluster = Cluster(
            name=names.ingress_cluster(mesh, name, protocol, port),
            discovery="static",
            endpoints=(Endpoint(app_address, port),),
            connect_timeout_ms=LOCAL_APP_CONNECT_TIMEOUT_MS,
            http2=protocol in (HTTP2, "grpc"),
            circuit_breakers=circuit_breakers(listener.get("connectionPool")),
        )
        clusters.append(cluster)
        stat_prefix = "ingress" if len(listeners) == 1 else f"ingress.{protocol}.{port}"
        timeout = (listener.get("timeout") or {}).get(protocol) or {}
        chain_name = f"ingress_{protocol}_{port}"
        mode, tls = listener_tls(listener.get("tls"), f"virtual node {name} listener {port}", problems)
        if protocol == TCP:
            idle = duration_ms(timeout.get("idle"))
            tcp = TcpFilter(
                stat_prefix=stat_prefix,
                clusters=(WeightedTarget(cluster.name, 1),),
                idle_timeout_ms=DEFAULT_TCP_IDLE_TIMEOUT_MS if idle is None else idle,
                access_logs=logs,
            )
            chains.extend(secure_chains(FilterChain(name=chain_name, destination_port=port, tcp=tcp), mode, tls))
            continue
        rds = names.ingress_route_config(protocol, port)
        chain = FilterChain(
            name=chain_name,
            destination_port=port,
            http=HttpFilter(stat_prefix=stat_prefix, route_config=rds, access_logs=logs),
        )
        chains.extend(secure_chains(chain, mode, tls))
        per_request = duration_ms(timeout.get("perRequest"))
        route = HttpRoute(
            name=chain_name,
            match=CATCH_ALL,
            clusters=(WeightedTarget(cluster.name, 1),),
            weighted=False,
            timeout_ms=DEFAULT_ROUTE_TIMEOUT_MS if per_request is None else per_request,
            idle_timeout_ms=duration_ms(timeout.get("idle")),
        )
        route_configs.append(
            RouteConfig(name=rds, virtual_hosts=(VirtualHost(name="*", domains=("*",), routes=(route,)),))
        )
    listener = _intercepting_listener(
        names.ingress_listener(), names.INGRESS_PORT, "INBOUND", chains, options, mesh_spec, spec
    )
    return listener, route_configs, clusters


def _intercepting_listener(
    name: str,
    port: int,
    direction: str,
    chains: list[FilterChain],
    options: TranslateOptions,
    mesh_spec: Mapping[str, Any],
    spec: Mapping[str, Any],
) -> Listener:
    """One of the two listeners iptables redirects to (App Mesh's 15000 ingress, 15001 egress): bound
    on every address family the node's IP preference asks for, dispatching on the original destination."""
    address, additional = listener_addresses(options.bind_address, _dual_stack(mesh_spec, spec))
    return Listener(
        name=name,
        address=address,
        port=port,
        direction=direction,
        use_original_dst=True,
        filter_chains=tuple(chains),
        additional_addresses=additional,
    )


def _dual_stack(mesh_spec: Mapping[str, Any], spec: Mapping[str, Any]) -> bool:
    """With any ipPreference (the node's, else the mesh's) App Mesh's listeners took IPv4 and IPv6."""
    discovery = spec.get("serviceDiscovery") or {}
    return ip_preference(mesh_spec, discovery.get("dns") or discovery.get("awsCloudMap")) is not None


@functools.lru_cache(maxsize=64)
def allow_all_virtual_host(cluster: str) -> VirtualHost:
    """ALLOW_ALL's last virtual host on an HTTP port: any other Host goes where the app was connecting.

    One object per mesh (cached), so the builder encodes it once for every client and port."""
    route = HttpRoute(name=ALLOW_ALL_VHOST, match=CATCH_ALL, clusters=(WeightedTarget(cluster, 1),), weighted=False)
    return VirtualHost(name=ALLOW_ALL_VHOST, domains=("*",), routes=(route,))


def _backend_names(spec: Mapping[str, Any]) -> list[str]:
    out = []
    for backend in spec.get("backends") or ():
        vs = (backend.get("virtualService") or {}).get("virtualServiceName")
        if vs and vs not in out:
            out.append(vs)
    return out


def backend_names(spec: Mapping[str, Any]) -> tuple[str, ...]:
    """Virtual service names a node may reach (its `backends`), in spec order, unique."""
    return tuple(_backend_names(spec))


def _rds_protocol(protocols: set[str]) -> str:
    for protocol in (HTTP, HTTP2, "grpc"):
        if protocol in protocols:
            return protocol
    return HTTP


def client_clusters(
    client: str, spec: Mapping[str, Any], vs: str, sp: ServicePort, clusters: dict[str, Cluster], problems: list[str]
) -> None:
    """Add the egress clusters `sp` uses, as this client sees them (its TLS client policy)."""
    policy = client_policy(spec, vs)
    for target in sp.targets:
        if target.cluster is None:
            continue
        cluster = with_client_policy(
            target.cluster, target.port, target.server_name, policy, f"{client} backend {vs}", problems
        )
        known = clusters.get(cluster.name)
        if known is not None and known != cluster:
            problems.append(
                f"{client}: {cluster.name} is reached through several services with different "
                f"client policies; the one for {vs} is not applied"
            )
            continue
        clusters[cluster.name] = cluster


def _egress(
    mesh: str,
    mesh_spec: Mapping[str, Any],
    name: str,
    spec: Mapping[str, Any],
    services: Mapping[str, ServiceView | None],
    options: TranslateOptions,
    problems: list[str],
    virtual_host: VirtualHostFor,
    recipe: list[tuple[int, tuple[VirtualHostEntry, ...], tuple[VirtualHost, ...]]] | None = None,
) -> tuple[Listener, list[RouteConfig], dict[str, Cluster], bool]:
    """The egress listener, route configurations and clusters; `recipe` (if given) receives how each
    route configuration was assembled (its index among these), and the last value says whether the
    virtual hosts were taken as made (see `EgressRecipe`)."""
    as_made = True
    positions: dict[int, int] = {}  # id(ServicePort) → its index in its view's ports
    http_ports: dict[int, list[tuple[str, ServicePort]]] = {}
    tcp_ports: dict[int, tuple[str, ServicePort]] = {}
    portless: list[str] = []
    clusters: dict[str, Cluster] = {}
    client = f"virtual node {name}"
    for vs in sorted(services):
        view = services[vs]
        if view is None or not view.exists:
            problems.append(f"virtual node {name}: backend virtual service {vs} does not exist")
            continue
        if not view.ports:
            portless.append(vs)
            continue
        for position, sp in enumerate(view.ports):
            positions[id(sp)] = position
            if sp.protocol in HTTP_FAMILY:
                if sp.port in tcp_ports:
                    problems.append(
                        f"virtual node {name}: port {sp.port} is TCP for {tcp_ports[sp.port][0]} "
                        f"and {sp.protocol} for {vs}; {vs} dropped on that port"
                    )
                    continue
                http_ports.setdefault(sp.port, []).append((vs, sp))
            elif sp.port in http_ports or sp.port in tcp_ports:
                other = tcp_ports[sp.port][0] if sp.port in tcp_ports else http_ports[sp.port][0][0]
                problems.append(
                    f"virtual node {name}: only one destination per TCP port {sp.port} ({other} kept, {vs} dropped)"
                )
            elif not sp.tcp:
                problems.append(f"virtual node {name}: virtual service {vs} has no TCP route on port {sp.port}")
            else:
                tcp_ports[sp.port] = (vs, sp)
    logs = access_logs(spec)
    chains: list[FilterChain] = []
    route_configs: list[RouteConfig] = []
    allow_all = (
        passthrough_cluster(names.allow_all_cluster(mesh))
        if ((mesh_spec.get("egressFilter") or {}).get("type")) == "ALLOW_ALL"
        else None
    )
    for port in sorted(set(http_ports) | set(tcp_ports)):
        if port in tcp_ports:
            vs, sp = tcp_ports[port]
            client_clusters(client, spec, vs, sp, clusters, problems)
            tcp = TcpFilter(
                stat_prefix="egress", clusters=sp.tcp, idle_timeout_ms=sp.tcp_idle_timeout_ms, access_logs=logs
            )
            chains.append(FilterChain(name=f"egress_tcp_{port}", destination_port=port, tcp=tcp))
            continue
        entries = http_ports[port]
        protocol = _rds_protocol({sp.protocol for _, sp in entries})
        rds = names.egress_route_config(protocol, port)
        made = [(virtual_host(vs, port, sp), (vs, port, positions[id(sp)])) for vs, sp in entries]
        made += [(virtual_host(vs, port, None), (vs, port, -1)) for vs in portless]
        for vs, sp in entries:
            client_clusters(client, spec, vs, sp, clusters, problems)
        made.sort(key=lambda item: item[0].name)
        fixed = (allow_all_virtual_host(allow_all.name),) if allow_all is not None else ()
        vhosts = [v for v, _ in made] + list(fixed)
        kept = unique_domains(vhosts, f"{client} port {port}", problems)
        as_made = as_made and len(kept) == len(vhosts) and all(a is b for a, b in zip(kept, vhosts))
        if recipe is not None:
            recipe.append((len(route_configs), tuple(entry for _, entry in made), fixed))
        route_configs.append(RouteConfig(name=rds, virtual_hosts=tuple(kept)))
        chains.append(
            FilterChain(
                name=f"egress_{protocol}_{port}",
                destination_port=port,
                http=HttpFilter(stat_prefix="egress", route_config=rds, access_logs=logs),
            )
        )
    amazonaws = passthrough_cluster(names.amazonaws_cluster(mesh))
    clusters[amazonaws.name] = amazonaws
    chains.append(
        FilterChain(
            name="egress_amazonaws",
            destination_port=AWS_API_PORT,
            server_names=AWS_API_SERVER_NAMES,
            tcp=TcpFilter(stat_prefix="egress", clusters=(WeightedTarget(amazonaws.name, 1),), access_logs=logs),
        )
    )
    if allow_all is not None:
        clusters[allow_all.name] = allow_all
        passthrough = TcpFilter(stat_prefix="egress", clusters=(WeightedTarget(allow_all.name, 1),), access_logs=logs)
        if AWS_API_PORT not in http_ports and AWS_API_PORT not in tcp_ports:
            # Without it, TLS to a non-AWS host on 443 would find only the *.amazonaws.com chain
            # (Envoy matches the port before the server name) and be closed: RM#79.
            chains.append(FilterChain(name="egress_mesh-allow-all_443", destination_port=AWS_API_PORT, tcp=passthrough))
        chains.append(FilterChain(name="egress_mesh-allow-all", tcp=passthrough))
    listener = _intercepting_listener(
        names.egress_listener(), names.EGRESS_PORT, "OUTBOUND", chains, options, mesh_spec, spec
    )
    return listener, route_configs, clusters, as_made


def node_proxy(
    mesh: str,
    mesh_spec: Mapping[str, Any],
    name: str,
    spec: Mapping[str, Any],
    services: Mapping[str, ServiceView | None],
    options: TranslateOptions,
    virtual_host: VirtualHostFor = egress_virtual_host,
    ingress: NodeIngress | None = None,
    recipe: list[EgressRecipe] | None = None,
) -> ProxyIR:
    """Translate virtual node `name`; `services` holds the view of each backend (None = missing).

    `virtual_host` lets the translator hand every client the same VirtualHost object for a
    service and port, so the builder encodes it once for all of them; `ingress`, when given,
    is `node_ingress(...)` of the same inputs (memoized: a backend's change leaves it as is).
    `recipe`, when given, receives the node's `EgressRecipe`.
    """
    problems: list[str] = []
    for view in services.values():
        if view is not None:
            problems.extend(view.problems)
    if ingress is None:
        ingress = node_ingress(mesh, mesh_spec, name, spec, options)
    problems.extend(ingress.problems)
    made: list[tuple[int, tuple[VirtualHostEntry, ...], tuple[VirtualHost, ...]]] = []
    egress, egress_routes, egress_clusters, as_made = _egress(
        mesh, mesh_spec, name, spec, services, options, problems, virtual_host, made
    )
    if recipe is not None:
        offset = len(ingress.route_configs)
        recipe.append(EgressRecipe(tuple((offset + i, e, f) for i, e, f in made), as_made))
    clusters = {c.name: c for c in ingress.clusters}
    clusters.update(egress_clusters)
    return ProxyIR(
        kind=VIRTUAL_NODE,
        name=name,
        listeners=tuple(x for x in (ingress.listener, egress) if x is not None),
        route_configs=ingress.route_configs + tuple(egress_routes),
        clusters=tuple(clusters[k] for k in sorted(clusters)),
        problems=tuple(dict.fromkeys(problems)),
    )
