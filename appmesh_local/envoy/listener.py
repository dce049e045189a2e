"""IR Listener → envoy.config.listener.v3.Listener (HCM over ADS RDS, or tcp_proxy)."""

from __future__ import annotations

from envoy.config.core.v3 import address_pb2, base_pb2
from envoy.config.listener.v3 import listener_components_pb2 as lc_pb2
from envoy.config.listener.v3 import listener_pb2
from envoy.extensions.filters.http.router.v3 import router_pb2
from envoy.extensions.filters.listener.tls_inspector.v3 import tls_inspector_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import http_connection_manager_pb2 as hcm_pb2
from envoy.extensions.filters.network.tcp_proxy.v3 import tcp_proxy_pb2
from google.protobuf import wrappers_pb2

from appmesh_local.envoy.access_log import build_access_logs
from appmesh_local.envoy.tls import downstream_socket
from appmesh_local.envoy.values import ads_source, duration, pack, stats_metadata, uint32
from appmesh_local.ir import FilterChain, HttpFilter, Listener, TcpFilter

HCM_NAME = "envoy.filters.network.http_connection_manager"
TCP_PROXY_NAME = "envoy.filters.network.tcp_proxy"


def build_http_filter(spec: HttpFilter) -> lc_pb2.Filter:
    hcm = hcm_pb2.HttpConnectionManager(
        stat_prefix=spec.stat_prefix,
        codec_type=hcm_pb2.HttpConnectionManager.AUTO,
        rds=hcm_pb2.Rds(config_source=ads_source(), route_config_name=spec.route_config),
        http_filters=[hcm_pb2.HttpFilter(name="envoy.filters.http.router", typed_config=pack(router_pb2.Router()))],
        upgrade_configs=[
            hcm_pb2.HttpConnectionManager.UpgradeConfig(upgrade_type=kind)
            for kind in (("websocket", "CONNECT") if spec.allow_connect else ("websocket",))
        ],
        # App Mesh's connection managers carried `tracing: {}`: spans go to whatever tracer the
        # bootstrap declares (ENABLE_ENVOY_XRAY_TRACING...), none without one.
        tracing=hcm_pb2.HttpConnectionManager.Tracing(),
        normalize_path=wrappers_pb2.BoolValue(value=True),
        merge_slashes=True,
        path_with_escaped_slashes_action=hcm_pb2.HttpConnectionManager.KEEP_UNCHANGED,
        access_log=build_access_logs(spec.access_logs),
    )
    return lc_pb2.Filter(name=HCM_NAME, typed_config=pack(hcm))


def build_tcp_filter(spec: TcpFilter) -> lc_pb2.Filter:
    if not spec.clusters or any(c.weight < 1 for c in spec.clusters):
        raise ValueError(f"tcp_proxy {spec.stat_prefix}: Envoy needs at least one cluster, each weighing 1 or more")
    proxy = tcp_proxy_pb2.TcpProxy(stat_prefix=spec.stat_prefix, access_log=build_access_logs(spec.access_logs))
    if len(spec.clusters) == 1:
        proxy.cluster = spec.clusters[0].cluster
    else:
        proxy.weighted_clusters.CopyFrom(
            tcp_proxy_pb2.TcpProxy.WeightedCluster(
                clusters=[
                    tcp_proxy_pb2.TcpProxy.WeightedCluster.ClusterWeight(name=c.cluster, weight=c.weight)
                    for c in spec.clusters
                ]
            )
        )
    if spec.idle_timeout_ms is not None:
        proxy.idle_timeout.CopyFrom(duration(spec.idle_timeout_ms))
    return lc_pb2.Filter(name=TCP_PROXY_NAME, typed_config=pack(proxy))


def build_filter_chain(chain: FilterChain, pending: frozenset[str] = frozenset()) -> lc_pb2.FilterChain:
    match = lc_pb2.FilterChainMatch(server_names=list(chain.server_names))
    if chain.destination_port is not None:
        match.destination_port.CopyFrom(uint32(chain.destination_port))
    if chain.transport_protocol:
        match.transport_protocol = chain.transport_protocol
    if chain.http is not None:
        terminal = build_http_filter(chain.http)
    elif chain.tcp is not None:
        terminal = build_tcp_filter(chain.tcp)
    else:
        raise ValueError(f"filter chain {chain.name} has neither an HTTP nor a TCP filter")
    built = lc_pb2.FilterChain(name=chain.name, filter_chain_match=match, filters=[terminal])
    if chain.tls is not None:
        built.transport_socket.CopyFrom(downstream_socket(chain.tls, pending))
    return built


# Filter chains copied into a listener per C call (~1 ms each): between calls other threads run.
COPY_SLICE = 256


def _socket_address(address: str, port: int) -> address_pb2.Address:
    """`::` also takes IPv4 (ipv4_compat): one socket for every address, as App Mesh's dual-stack listeners."""
    return address_pb2.Address(
        socket_address=address_pb2.SocketAddress(address=address, port_value=port, ipv4_compat=address == "::")
    )


def build_listener(spec: Listener, pending: frozenset[str] = frozenset()) -> listener_pb2.Listener:
    """`pending`: ACM secrets the control plane cannot deliver yet (`envoy.tls`)."""
    listener = listener_pb2.Listener(
        name=spec.name,
        traffic_direction=base_pb2.TrafficDirection.Value(spec.direction),
        metadata=stats_metadata(()),
    )
    # Added in slices: protobuf copies a repeated field's messages in one C call that holds the
    # GIL throughout (150 ms for a node with 30,000 listeners, every other client stalled meanwhile).
    chains = [build_filter_chain(c, pending) for c in spec.filter_chains]
    for start in range(0, len(chains), COPY_SLICE):
        listener.filter_chains.extend(chains[start : start + COPY_SLICE])
    if spec.internal:
        # No socket at all: only this Envoy's own clusters reach it (envoy_internal_address), so no
        # other process on the machine can take its place or receive its traffic.
        listener.internal_listener.SetInParent()
    else:
        listener.address.CopyFrom(_socket_address(spec.address, spec.port))
        for extra in spec.additional_addresses:  # dual-stack loopback: ::1 beside 127.0.0.1, same port
            listener.additional_addresses.add(address=_socket_address(extra, spec.port))
        for address, port in spec.additional:  # host mode: every backend port of the egress listener
            listener.additional_addresses.add(address=_socket_address(address, port))
        # Off, a second Envoy binding the same address is a bind error Envoy reports (a NACK in
        # `status`) instead of silently sharing its connections (SO_REUSEPORT).
        listener.enable_reuse_port.value = spec.reuse_port
    if spec.use_original_dst:
        listener.use_original_dst.value = True
    if spec.tls_inspector:
        listener.listener_filters.append(
            lc_pb2.ListenerFilter(
                name="envoy.filters.listener.tls_inspector", typed_config=pack(tls_inspector_pb2.TlsInspector())
            )
        )
    return listener
