"""The intermediate representation: what each proxy should do, in plain Envoy-neutral data.

No AWS camelCase and no protobuf: the translator fills these from App Mesh specs, the
`envoy` builders turn them into protos. Every class is a frozen dataclass whose
fields are scalars or tuples, so values are hashable and comparable; the memos in
`translate` and `xds.build` rely on that. Durations are integer milliseconds
(`None` = not set; `0` = explicitly disabled, as App Mesh's `{value: 0}`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

from appmesh_local.records import record

# Protocols of App Mesh listeners, also the `<proto>` segment of resource names.
HTTP, HTTP2, GRPC, TCP = "http", "http2", "grpc", "tcp"
HTTP_FAMILY = (HTTP, HTTP2, GRPC)


@dataclass(frozen=True)
class StatsTag:
    """One `aws.appmesh.aggregate_stats` tag (e.g. TargetVirtualNode=<vn>)."""

    key: str
    value: str


@dataclass(frozen=True)
class HeaderMatch:
    """Match on one request header (also `:method`, `:scheme`, `:authority`, gRPC metadata).

    kind: exact | prefix | suffix | regex | range | present.
    """

    name: str
    kind: str
    value: str = ""
    range_start: int = 0
    range_end: int = 0
    invert: bool = False


@dataclass(frozen=True)
class QueryMatch:
    """Match on one query parameter: `exact` value, or presence when `exact` is None."""

    name: str
    exact: str | None = None


@dataclass(frozen=True)
class RouteMatch:
    """Path match (path_kind: prefix | exact | regex) plus header and query conditions.

    path_kind `connect` matches HTTP CONNECT requests (path unused); their route tunnels the
    connection's bytes to its cluster (host mode's HTTP proxy)."""

    path_kind: str
    path: str
    headers: tuple[HeaderMatch, ...] = ()
    query: tuple[QueryMatch, ...] = ()


@dataclass(frozen=True)
class RetryPolicy:
    """Envoy retry policy; host predicate previous_hosts is always added by the builder."""

    retry_on: tuple[str, ...]
    num_retries: int
    retriable_status_codes: tuple[int, ...] = ()
    per_try_timeout_ms: int | None = None
    host_selection_retry_max_attempts: int = 5


@dataclass(frozen=True)
class WeightedTarget:
    """One upstream cluster of a route with its (raw App Mesh) weight."""

    cluster: str
    weight: int


@dataclass(frozen=True)
class HttpRoute:
    """One Envoy route. Exactly one action: `clusters` (weighted), or `direct_status`."""

    name: str
    match: RouteMatch
    clusters: tuple[WeightedTarget, ...] = ()
    direct_status: int | None = None
    weighted: bool = True  # False: `cluster:` action (single target, e.g. self_redirect)
    timeout_ms: int | None = None
    idle_timeout_ms: int | None = None
    retry: RetryPolicy | None = None
    prefix_rewrite: str | None = None
    path_rewrite: str | None = None  # whole-path replacement (regex_rewrite ^.*$)
    host_rewrite: str | None = None
    request_headers_to_add: tuple[tuple[str, str], ...] = ()
    stats_tags: tuple[StatsTag, ...] = ()


@dataclass(frozen=True)
class VirtualHost:
    name: str
    domains: tuple[str, ...]
    routes: tuple[HttpRoute, ...] = ()
    response_headers_to_remove: tuple[str, ...] = ()


@record(slots=True)  # one per proxy per change: no __dict__ to make and free
class RouteConfig:
    name: str
    virtual_hosts: tuple[VirtualHost, ...]


@dataclass(frozen=True)
class AccessLog:
    """File access log; `text` or `json` format, or Envoy's default when both unset."""

    path: str
    text: str | None = None
    json: tuple[tuple[str, str], ...] | None = None


@dataclass(frozen=True)
class TlsCertificate:
    """A certificate from files, an SDS secret fetched from the local SDS socket, or an ACM
    certificate (by ARN) that the control plane delivers over ADS as an SDS secret."""

    certificate_chain: str | None = None
    private_key: str | None = None
    sds_secret: str | None = None
    acm_certificate: str | None = None


@dataclass(frozen=True)
class TlsValidation:
    """Trust and the subject alternative names the peer must present.

    Trust is one of: a CA file, an SDS secret from the local socket, ACM PCA certificate
    authorities (ARNs), or the CA chain of an ACM certificate (a server's, when clients
    follow the server's TLS without a policy of their own); the ACM kinds arrive over ADS.
    """

    trusted_ca: str | None = None
    sds_secret: str | None = None
    subject_alt_names: tuple[str, ...] = ()
    acm_authorities: tuple[str, ...] = ()
    acm_issuer_of: str | None = None


@dataclass(frozen=True)
class DownstreamTls:
    """TLS a listener chain terminates; `validation` set = client certificates required."""

    certificate: TlsCertificate
    validation: TlsValidation | None = None


@dataclass(frozen=True)
class UpstreamTls:
    """TLS a cluster originates; no `validation` = encrypt without verifying the server."""

    sni: str
    certificate: TlsCertificate | None = None
    validation: TlsValidation | None = None


@dataclass(frozen=True)
class HttpFilter:
    """A chain ending in an HTTP connection manager that loads `route_config` over ADS.

    `allow_connect`: the connection manager accepts HTTP CONNECT (host mode's HTTP proxy)."""

    stat_prefix: str
    route_config: str
    access_logs: tuple[AccessLog, ...] = ()
    allow_connect: bool = False


@dataclass(frozen=True)
class TcpFilter:
    """A chain ending in tcp_proxy to one cluster or weighted clusters."""

    stat_prefix: str
    clusters: tuple[WeightedTarget, ...]
    idle_timeout_ms: int | None = None
    access_logs: tuple[AccessLog, ...] = ()


@dataclass(frozen=True)
class FilterChain:
    """Match (destination port, SNI) and the one terminal filter (`http` xor `tcp`)."""

    name: str
    destination_port: int | None = None
    server_names: tuple[str, ...] = ()
    transport_protocol: str | None = None  # "tls" | "raw_buffer" (PERMISSIVE split)
    http: HttpFilter | None = None
    tcp: TcpFilter | None = None
    tls: DownstreamTls | None = None


@dataclass(frozen=True)
class Listener:
    """One Envoy listener. `address` "::" binds IPv6 and IPv4 (ipv4_compat); `additional_addresses`
    are more sockets on the same port (e.g. ::1 next to 127.0.0.1 for a dual-stack loopback listener).
    `internal`: an Envoy internal listener (no socket; reached only by this Envoy's own clusters through
    `Endpoint.internal_listener`), so `address`/`port` are nominal. `additional`: more (address, port)
    pairs the same listener binds (host mode). `reuse_port`: SO_REUSEPORT, which Envoy needs to update a
    listener whose address list changes (host mode, where every backend port is an address of the egress
    listener); off otherwise, so a second process on the same address is a bind error instead of a
    silent share."""

    name: str
    address: str
    port: int
    direction: str  # "INBOUND" | "OUTBOUND"
    use_original_dst: bool
    filter_chains: tuple[FilterChain, ...]
    tls_inspector: bool = True
    additional_addresses: tuple[str, ...] = ()
    internal: bool = False
    additional: tuple[tuple[str, int], ...] = ()
    reuse_port: bool = False


@dataclass(frozen=True)
class Endpoint:
    """A socket address, or (`internal_listener` set) this Envoy's own internal listener of that name."""

    address: str
    port: int
    internal_listener: str = ""


@dataclass(frozen=True)
class CircuitBreakers:
    """Default-priority thresholds; App Mesh's default is 2147483647 for every field."""

    max_connections: int = 2147483647
    max_pending_requests: int = 2147483647
    max_requests: int = 2147483647
    max_retries: int = 2147483647


@dataclass(frozen=True)
class OutlierDetection:
    """Passive ejection; `None` durations are left to Envoy's defaults. A passing active health
    check never un-ejects a host (App Mesh kept `successful_active_health_check_uneject_host` off)."""

    consecutive_5xx: int
    interval_ms: int | None
    base_ejection_time_ms: int | None
    max_ejection_percent: int


@dataclass(frozen=True)
class HealthCheck:
    """Active health check; protocol http | http2 | grpc | tcp. `host` is the Host (or gRPC
    :authority) the checks carry: App Mesh sent the target's `<hostname>:<port>`."""

    protocol: str
    timeout_ms: int
    interval_ms: int
    healthy_threshold: int
    unhealthy_threshold: int
    path: str = "/"
    host: str | None = None


@dataclass(frozen=True)
class Cluster:
    """One upstream cluster.

    discovery: static | logical_dns | strict_dns | eds | original_dst. For `eds`,
    `endpoints` become the ClusterLoadAssignment pushed over ADS. `drop_removed_hosts`: a host
    that leaves service discovery leaves the cluster at once, even while its health check passes.
    """

    name: str
    discovery: str
    endpoints: tuple[Endpoint, ...] = ()
    connect_timeout_ms: int = 1000
    http2: bool = False
    dns_lookup_family: str | None = None  # AUTO | V4_ONLY | V6_ONLY | V4_PREFERRED | ALL
    circuit_breakers: CircuitBreakers = field(default_factory=CircuitBreakers)
    outlier_detection: OutlierDetection | None = None
    health_check: HealthCheck | None = None
    tls: UpstreamTls | None = None
    stats_tags: tuple[StatsTag, ...] = ()
    drop_removed_hosts: bool = False


@record(slots=True)  # one per proxy per change: no __dict__ to make and free
class ProxyIR:
    """Everything one Envoy (virtual node or virtual gateway) gets."""

    kind: str  # "virtualNode" | "virtualGateway"
    name: str
    listeners: tuple[Listener, ...] = ()
    route_configs: tuple[RouteConfig, ...] = ()
    clusters: tuple[Cluster, ...] = ()
    problems: tuple[str, ...] = ()


@dataclass(frozen=True)
class ProxyFailure:
    """A proxy that could not be translated or built, and why (naming the resource at fault).

    One bad value must not stop a whole mesh: the failure stays with the proxies that use the
    resource, which keep their last good configuration, while the rest of the mesh converges.
    """

    kind: str  # "virtualNode" | "virtualGateway"
    name: str
    reason: str


@dataclass(frozen=True)
class MeshIR:
    account: str
    region: str
    mesh: str
    revision: int
    proxies: Sequence[ProxyIR] = ()  # virtual nodes by name, then virtual gateways by name
    problems: tuple[str, ...] = ()
    failures: tuple[ProxyFailure, ...] = ()  # proxies left out of `proxies`
    # (kind, name) of the proxies whose IR or failure may differ from the previous translation by the
    # same translator (an incremental one); None: any may (a full translation).
    changed: frozenset[tuple[str, str]] | None = None
    incomplete: bool = False  # some proxies were left for the next translation (a budget)

    def proxy(self, kind: str, name: str) -> ProxyIR | None:
        """The proxy of that kind and name, if the mesh has it."""
        for proxy in self.proxies:
            if proxy.kind == kind and proxy.name == name:
                return proxy
        return None
