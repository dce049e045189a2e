"""Explain a request: the path it takes through one proxy's generated Envoy configuration.

The walk reads the very resources the bridge serves to that proxy (listeners, route
configurations, clusters, endpoints), not the App Mesh spec, so it shows what Envoy will do,
including App Mesh's hidden defaults. It follows Envoy's own order: listener by port, filter
chain by destination port and SNI, the connection manager's route configuration, virtual host
by :authority, then each route in order (with the reason every earlier one did not match),
the action (weighted clusters, rewrites, timeout, retries) and each cluster (discovery,
endpoints, TLS). When a cluster leads back into the same proxy (a gateway's hop to its own
egress listener) the walk continues there with the rewritten request.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.endpoint.v3 import endpoint_pb2
from envoy.config.listener.v3 import listener_pb2
from envoy.config.route.v3 import route_components_pb2 as rc
from envoy.config.route.v3 import route_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import http_connection_manager_pb2 as hcm_pb2
from envoy.extensions.filters.network.tcp_proxy.v3 import tcp_proxy_pb2
from envoy.extensions.transport_sockets.tls.v3 import tls_pb2
from google.protobuf import json_format
from google.protobuf.duration_pb2 import Duration
from google.protobuf.message import Message

from appmesh_local.insight.envoy_match import Request, normalize_path, route_matches, select_virtual_host
from appmesh_local.xds.proxy_config import CLUSTER, CLUSTER_LOAD_ASSIGNMENT, LISTENER, ROUTE_CONFIGURATION

Resources = Mapping[str, Mapping[str, Message]]  # type URL → name → message (ProxyConfig.resources)
HCM_NAME = "envoy.filters.network.http_connection_manager"
TCP_PROXY_NAME = "envoy.filters.network.tcp_proxy"
DEFAULT_ROUTE_TIMEOUT = "15s"  # Envoy's RouteAction.timeout default
MAX_HOPS = 4  # a gateway takes two; a loop in a broken config must still end


@dataclass
class RouteVerdict:
    name: str
    matched: bool
    reasons: list[str]


@dataclass
class ClusterView:
    name: str
    weight: int | None
    share: float | None  # percent of requests, for weighted clusters
    discovery: str = ""
    endpoints: list[str] = field(default_factory=list)
    connect_timeout: str = ""
    tls: dict[str, Any] | None = None
    missing: bool = False


@dataclass
class Hop:
    """One pass through a listener of the proxy."""

    request: dict[str, Any]
    listener: str | None = None
    listener_reason: str = ""
    filter_chain: str | None = None
    filter_chain_reason: str = ""
    downstream_tls: dict[str, Any] | None = None
    protocol: str = ""  # "http" | "tcp"
    route_configuration: str | None = None
    virtual_host: str | None = None
    virtual_host_reason: str = ""
    routes: list[RouteVerdict] = field(default_factory=list)
    route: str | None = None
    action: dict[str, Any] = field(default_factory=dict)
    clusters: list[ClusterView] = field(default_factory=list)
    upstream: dict[str, Any] | None = None  # the request as sent on (rewrites applied)
    outcome: str = ""


@dataclass
class Explanation:
    proxy: str
    hops: list[Hop]

    @property
    def final(self) -> Hop:
        return self.hops[-1]

    def to_dict(self) -> dict[str, Any]:
        return {"proxy": self.proxy, "hops": [_plain(hop) for hop in self.hops]}


def explain(resources: Resources, request: Request, proxy: str, *, outbound: bool) -> Explanation:
    """Walk `request` through one proxy. `outbound`: the app's own request (a virtual node's egress)."""
    hops: list[Hop] = []
    listener = _entry_listener(resources, request, outbound)
    while len(hops) < MAX_HOPS:
        hop = Hop(request=_request_dict(request))
        hops.append(hop)
        if listener is None:
            hop.outcome = f"no listener of this proxy takes port {request.port}: the connection is refused"
            break
        hop.listener, hop.listener_reason = listener
        follow = _through_listener(resources, resources[LISTENER][listener[0]], request, hop)
        if follow is None:
            break
        request, listener = follow
    return Explanation(proxy, hops)


def _entry_listener(resources: Resources, request: Request, outbound: bool) -> tuple[str, str] | None:
    listeners = [
        message for message in resources.get(LISTENER, {}).values() if isinstance(message, listener_pb2.Listener)
    ]
    if outbound:
        for candidate in listeners:
            if candidate.traffic_direction == 2:  # OUTBOUND: the app's egress, reached by interception
                return candidate.name, "the app's outbound traffic is intercepted into the egress listener"
        return None
    for candidate in listeners:
        if candidate.traffic_direction != 2 and _port(candidate) == request.port:
            return candidate.name, f"listens on port {request.port}"
    return None


def _port(listener: listener_pb2.Listener) -> int | None:
    address = listener.address
    if address.HasField("socket_address"):
        return int(address.socket_address.port_value)
    return None


def _through_listener(
    resources: Resources, listener: listener_pb2.Listener, request: Request, hop: Hop
) -> tuple[Request, tuple[str, str]] | None:
    chain, why = _filter_chain(listener, request)
    if chain is None:
        hop.outcome = why
        return None
    hop.filter_chain, hop.filter_chain_reason = chain.name or "(unnamed)", why
    if chain.HasField("transport_socket"):
        context = tls_pb2.DownstreamTlsContext()
        chain.transport_socket.typed_config.Unpack(context)
        hop.downstream_tls = _tls_summary(
            context.common_tls_context, require_client=context.require_client_certificate.value
        )
    for network_filter in chain.filters:
        if network_filter.name == HCM_NAME:
            manager = hcm_pb2.HttpConnectionManager()
            network_filter.typed_config.Unpack(manager)
            hop.protocol = "http"
            return _through_http(resources, manager, request, hop)
        if network_filter.name == TCP_PROXY_NAME:
            proxy = tcp_proxy_pb2.TcpProxy()
            network_filter.typed_config.Unpack(proxy)
            hop.protocol = "tcp"
            _through_tcp(resources, proxy, hop)
            return _next_hop(resources, hop, request)
    hop.outcome = "the filter chain has no HTTP connection manager or TCP proxy"
    return None


def _filter_chain(listener: listener_pb2.Listener, request: Request) -> tuple[listener_pb2.FilterChain | None, str]:
    """Envoy's filter-chain choice: destination port first, then SNI (server names), most specific wins."""
    port = request.port
    chains = list(listener.filter_chains)
    by_port = [
        chain
        for chain in chains
        if chain.filter_chain_match.HasField("destination_port")
        and chain.filter_chain_match.destination_port.value == port
    ]
    candidates = by_port or [chain for chain in chains if not chain.filter_chain_match.HasField("destination_port")]
    port_reason = f"destination port {port}" if by_port else "no chain names this port; chains without a port"
    host = request.authority.rpartition(":")[0] if ":" in request.authority else request.authority
    tls = request.scheme == "https"
    named = [chain for chain in candidates if chain.filter_chain_match.server_names]
    if tls:
        for chain in named:
            if any(_sni_matches(pattern, host) for pattern in chain.filter_chain_match.server_names):
                return chain, f"{port_reason}, SNI {host!r}"
    plain = [chain for chain in candidates if not chain.filter_chain_match.server_names]
    if plain:
        return plain[0], port_reason
    if listener.HasField("default_filter_chain"):
        return listener.default_filter_chain, "the listener's default filter chain"
    return None, f"no filter chain of {listener.name} matches port {port}: Envoy closes the connection"


def _sni_matches(pattern: str, host: str) -> bool:
    if pattern.startswith("*."):
        return host.endswith(pattern[1:]) and host.count(".") >= pattern.count(".")
    return pattern.lower() == host.lower()


def _through_http(
    resources: Resources, manager: hcm_pb2.HttpConnectionManager, request: Request, hop: Hop
) -> tuple[Request, tuple[str, str]] | None:
    if manager.HasField("rds"):
        name = manager.rds.route_config_name
        config = resources.get(ROUTE_CONFIGURATION, {}).get(name)
        hop.route_configuration = name
        if not isinstance(config, route_pb2.RouteConfiguration):
            hop.outcome = f"route configuration {name} is not served: Envoy waits for it (or answers 404)"
            return None
    else:
        config = manager.route_config
        hop.route_configuration = config.name or "(inline)"
    path = normalize_path(request.path, manager.merge_slashes, manager.normalize_path.value)
    request = request.with_changes(path=path)
    vhost, why = select_virtual_host(list(config.virtual_hosts), request.authority)
    hop.virtual_host_reason = why
    if vhost is None:
        hop.outcome = "404 (no virtual host: Envoy's NR flag)"
        return None
    hop.virtual_host = vhost.name
    chosen: rc.Route | None = None
    for route in vhost.routes:
        matched, reasons = route_matches(route, request)
        hop.routes.append(RouteVerdict(route.name or "(unnamed)", matched, reasons))
        if matched:
            chosen = route
            break
    if chosen is None:
        hop.outcome = "404 (no route matches: Envoy's NR flag)"
        return None
    hop.route = chosen.name or "(unnamed)"
    return _route_action(resources, vhost, chosen, request, hop)


def _route_action(
    resources: Resources, vhost: rc.VirtualHost, route: rc.Route, request: Request, hop: Hop
) -> tuple[Request, tuple[str, str]] | None:
    kind = route.WhichOneof("action")
    if kind == "direct_response":
        hop.outcome = f"direct response {route.direct_response.status}"
        return None
    if kind == "redirect":
        hop.outcome = "redirect"
        return None
    action = route.route
    retry = action.retry_policy if action.HasField("retry_policy") else vhost.retry_policy
    hop.action = {
        "timeout": _duration(action.timeout) if action.HasField("timeout") else DEFAULT_ROUTE_TIMEOUT,
        "idle_timeout": _duration(action.idle_timeout) if action.HasField("idle_timeout") else None,
        "retry": _retry(retry) if retry.retry_on else None,
        "prefix_rewrite": action.prefix_rewrite or None,
        "regex_rewrite": (
            {"pattern": action.regex_rewrite.pattern.regex, "substitution": action.regex_rewrite.substitution}
            if action.HasField("regex_rewrite")
            else None
        ),
        "host_rewrite": action.host_rewrite_literal or None,
        "headers_added": {
            option.header.key: option.header.value
            for option in list(vhost.request_headers_to_add) + list(route.request_headers_to_add)
        }
        or None,
    }
    cluster_kind = action.WhichOneof("cluster_specifier")
    if cluster_kind == "cluster":
        hop.clusters = [_cluster_view(resources, action.cluster, None, None)]
    elif cluster_kind == "weighted_clusters":
        weighted = list(action.weighted_clusters.clusters)
        total = sum(item.weight.value for item in weighted) or 1
        hop.clusters = [
            _cluster_view(resources, item.name, item.weight.value, 100.0 * item.weight.value / total)
            for item in weighted
        ]
    else:
        hop.outcome = f"cluster chosen by {cluster_kind}: not explained"
        return None
    forwarded = _rewritten(request, route, vhost)
    hop.upstream = _request_dict(forwarded)
    return _next_hop(resources, hop, forwarded)


def _through_tcp(resources: Resources, proxy: tcp_proxy_pb2.TcpProxy, hop: Hop) -> None:
    if proxy.HasField("weighted_clusters"):
        weighted = list(proxy.weighted_clusters.clusters)
        total = sum(item.weight for item in weighted) or 1
        hop.clusters = [
            _cluster_view(resources, item.name, item.weight, 100.0 * item.weight / total) for item in weighted
        ]
    else:
        hop.clusters = [_cluster_view(resources, proxy.cluster, None, None)]
    hop.upstream = dict(hop.request)
    hop.action = {"idle_timeout": _duration(proxy.idle_timeout) if proxy.HasField("idle_timeout") else "1h"}


def _next_hop(resources: Resources, hop: Hop, request: Request) -> tuple[Request, tuple[str, str]] | None:
    """Continue into this proxy's own listener when the only cluster leads back to it."""
    live = [view for view in hop.clusters if not view.missing and (view.weight is None or view.weight > 0)]
    if len(live) == 1:
        target = _own_listener(resources, resources.get(CLUSTER, {}).get(live[0].name))
        if target is not None:
            hop.outcome = f"forwarded to this proxy's own listener {target}"
            listener = resources[LISTENER][target]
            port = _port(listener) if isinstance(listener, listener_pb2.Listener) else None
            return request.with_changes(connection_port=port), (
                target,
                f"cluster {live[0].name} leads back into this proxy",
            )
    if not live:
        hop.outcome = "503: no cluster with weight above 0"
        return None
    if any(view.discovery == "ORIGINAL_DST" for view in live):
        hop.outcome = "sent to the original destination (passthrough)"
    else:
        hop.outcome = "sent upstream"
    return None


def _own_listener(resources: Resources, cluster: Message | None) -> str | None:
    """The listener of this proxy that `cluster`'s only endpoint reaches (a gateway's hop to its egress)."""
    if not isinstance(cluster, cluster_pb2.Cluster):
        return None
    addresses = [
        endpoint.endpoint.address
        for locality in cluster.load_assignment.endpoints
        for endpoint in locality.lb_endpoints
    ]
    if len(addresses) != 1:
        return None
    address = addresses[0]
    listeners = {
        name: message
        for name, message in resources.get(LISTENER, {}).items()
        if isinstance(message, listener_pb2.Listener)
    }
    if address.HasField("envoy_internal_address"):
        name = address.envoy_internal_address.server_listener_name
        return name if name in listeners else None
    if not address.HasField("socket_address"):
        return None
    host, port = address.socket_address.address, address.socket_address.port_value
    for name, listener in listeners.items():
        bound = listener.address.socket_address.address if listener.address.HasField("socket_address") else None
        if _port(listener) == port and (host == bound or (host.startswith("127.") and bound in ("0.0.0.0", "::"))):
            return name
    return None


def _rewritten(request: Request, route: rc.Route, vhost: rc.VirtualHost) -> Request:
    """The request as the upstream (or the next listener) receives it."""
    action = route.route
    path = request.path
    if action.prefix_rewrite and route.match.WhichOneof("path_specifier") == "prefix":
        path = action.prefix_rewrite + path[len(route.match.prefix) :]
    elif action.HasField("regex_rewrite"):
        path = re.sub(action.regex_rewrite.pattern.regex, action.regex_rewrite.substitution, path)
    authority = action.host_rewrite_literal or request.authority
    headers = dict(request.headers)
    for option in list(vhost.request_headers_to_add) + list(route.request_headers_to_add):
        headers[option.header.key.lower()] = option.header.value
    return request.with_changes(path=path, authority=authority, headers=headers)


def _cluster_view(resources: Resources, name: str, weight: int | None, share: float | None) -> ClusterView:
    cluster = resources.get(CLUSTER, {}).get(name)
    if not isinstance(cluster, cluster_pb2.Cluster):
        return ClusterView(name, weight, share, missing=True)
    view = ClusterView(name, weight, share)
    view.discovery = cluster_pb2.Cluster.DiscoveryType.Name(cluster.type)
    view.connect_timeout = _duration(cluster.connect_timeout)
    assignment = cluster.load_assignment
    if cluster.type == cluster_pb2.Cluster.EDS:
        served = resources.get(CLUSTER_LOAD_ASSIGNMENT, {}).get(cluster.eds_cluster_config.service_name or name)
        assignment = served if isinstance(served, endpoint_pb2.ClusterLoadAssignment) else assignment
    view.endpoints = list(_endpoints(assignment))
    if cluster.HasField("transport_socket"):
        context = tls_pb2.UpstreamTlsContext()
        cluster.transport_socket.typed_config.Unpack(context)
        view.tls = _tls_summary(context.common_tls_context, sni=context.sni)
    return view


def _endpoints(assignment: endpoint_pb2.ClusterLoadAssignment) -> Iterable[str]:
    for locality in assignment.endpoints:
        for endpoint in locality.lb_endpoints:
            address = endpoint.endpoint.address
            if address.HasField("socket_address"):
                yield f"{address.socket_address.address}:{address.socket_address.port_value}"
            elif address.HasField("envoy_internal_address"):
                yield f"internal:{address.envoy_internal_address.server_listener_name}"
            elif address.HasField("pipe"):
                yield f"unix:{address.pipe.path}"


def _tls_summary(common: tls_pb2.CommonTlsContext, *, sni: str = "", require_client: bool = False) -> dict[str, Any]:
    summary: dict[str, Any] = {}
    if sni:
        summary["sni"] = sni
    if require_client:
        summary["require_client_certificate"] = True
    certificates = [item.name for item in common.tls_certificate_sds_secret_configs]
    certificates += [
        item.certificate_chain.filename for item in common.tls_certificates if item.certificate_chain.filename
    ]
    if certificates:
        summary["certificates"] = certificates
    validation = common.validation_context if common.HasField("validation_context") else None
    if common.HasField("validation_context_sds_secret_config"):
        summary["trust"] = common.validation_context_sds_secret_config.name
    if common.HasField("combined_validation_context"):
        validation = common.combined_validation_context.default_validation_context
        summary["trust"] = common.combined_validation_context.validation_context_sds_secret_config.name
    if validation is not None:
        if validation.trusted_ca.filename:
            summary["trust"] = validation.trusted_ca.filename
        sans = [json_format.MessageToDict(item) for item in validation.match_typed_subject_alt_names]
        if sans:
            summary["subject_alt_names"] = sans
    return summary


def _retry(policy: rc.RetryPolicy) -> dict[str, Any]:
    return {
        "retry_on": policy.retry_on,
        "num_retries": policy.num_retries.value if policy.HasField("num_retries") else 1,
        "per_try_timeout": _duration(policy.per_try_timeout) if policy.HasField("per_try_timeout") else None,
        "retriable_status_codes": list(policy.retriable_status_codes) or None,
    }


def _duration(value: Duration) -> str:
    seconds = value.seconds + value.nanos / 1e9
    text = f"{seconds:.3f}".rstrip("0").rstrip(".")
    return f"{text}s"


def _request_dict(request: Request) -> dict[str, Any]:
    return {
        "method": request.method,
        "authority": request.authority,
        "path": request.path,
        "query": [list(item) for item in request.query],
        "headers": dict(request.headers),
    }


def _plain(value: Any) -> Any:
    if hasattr(value, "__dataclass_fields__"):
        return {name: _plain(getattr(value, name)) for name in value.__dataclass_fields__}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    return value


def render_text(explanation: Explanation | Mapping[str, Any]) -> str:
    """The explanation as the CLI prints it (from the object or its JSON form): one block per hop."""
    data = explanation.to_dict() if isinstance(explanation, Explanation) else explanation
    lines = [f"proxy {data['proxy']}"]
    for number, hop in enumerate(data["hops"], 1):
        request = hop["request"]
        lines.append(f"hop {number}: {request['method']} {request['authority']}{request['path']}")
        for label, key, reason in (
            ("listener", "listener", "listener_reason"),
            ("filter chain", "filter_chain", "filter_chain_reason"),
        ):
            if hop.get(key):
                lines.append(f"  {label:<13} {hop[key]} ({hop[reason]})")
        if hop.get("downstream_tls"):
            lines.append(f"  {'tls':<13} {hop['downstream_tls']}")
        if hop.get("route_configuration"):
            lines.append(f"  {'routes':<13} {hop['route_configuration']}")
        if hop.get("virtual_host") or hop.get("virtual_host_reason"):
            lines.append(f"  {'virtual host':<13} {hop.get('virtual_host') or '-'} ({hop['virtual_host_reason']})")
        for verdict in hop.get("routes") or ():
            mark = "=>" if verdict["matched"] else "  "
            lines.append(f"  {mark} route {verdict['name']}: {'; '.join(verdict['reasons'])}")
        for key, value in (hop.get("action") or {}).items():
            if value is not None:
                lines.append(f"  {key:<13} {value}")
        for view in hop.get("clusters") or ():
            share = f"{view['share']:.0f}% " if view.get("share") is not None else ""
            if view.get("missing"):
                lines.append(f"  {'cluster':<13} {share}{view['name']} (NOT SERVED: 503)")
                continue
            endpoints = ", ".join(view.get("endpoints") or ()) or "none"
            detail = f"{view['discovery']}, connect {view['connect_timeout']}, endpoints {endpoints}"
            lines.append(f"  {'cluster':<13} {share}{view['name']} ({detail})")
            if view.get("tls"):
                lines.append(f"    tls {view['tls']}")
        if hop.get("outcome"):
            lines.append(f"  -> {hop['outcome']}")
    return "\n".join(lines) + "\n"
