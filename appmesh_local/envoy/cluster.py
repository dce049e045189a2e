"""IR Cluster → envoy.config.cluster.v3.Cluster (docs/reference.md#local-app-cluster, #egress-clusters, #outlier-detection, #connection-pools, #health-checks)."""

from __future__ import annotations

from envoy.config.cluster.v3 import circuit_breaker_pb2, cluster_pb2, outlier_detection_pb2
from envoy.config.core.v3 import base_pb2, health_check_pb2, protocol_pb2
from envoy.extensions.upstreams.http.v3 import http_protocol_options_pb2 as hpo_pb2
from google.protobuf import wrappers_pb2

from appmesh_local.envoy.endpoint import build_load_assignment
from appmesh_local.envoy.tls import upstream_socket
from appmesh_local.envoy.values import ads_source, duration, pack, stats_metadata, uint32
from appmesh_local.ir import CircuitBreakers, Cluster, HealthCheck, OutlierDetection

HTTP_OPTIONS_KEY = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
_TYPES = {
    "static": cluster_pb2.Cluster.STATIC,
    "logical_dns": cluster_pb2.Cluster.LOGICAL_DNS,
    "strict_dns": cluster_pb2.Cluster.STRICT_DNS,
    "eds": cluster_pb2.Cluster.EDS,
    "original_dst": cluster_pb2.Cluster.ORIGINAL_DST,
}


def build_circuit_breakers(spec: CircuitBreakers) -> circuit_breaker_pb2.CircuitBreakers:
    return circuit_breaker_pb2.CircuitBreakers(
        thresholds=[
            circuit_breaker_pb2.CircuitBreakers.Thresholds(
                priority=base_pb2.DEFAULT,
                max_connections=uint32(spec.max_connections),
                max_pending_requests=uint32(spec.max_pending_requests),
                max_requests=uint32(spec.max_requests),
                max_retries=uint32(spec.max_retries),
            )
        ]
    )


def build_outlier_detection(spec: OutlierDetection) -> outlier_detection_pb2.OutlierDetection:
    detection = outlier_detection_pb2.OutlierDetection(
        consecutive_5xx=uint32(spec.consecutive_5xx),
        max_ejection_percent=uint32(spec.max_ejection_percent),
        # Envoy's default (true) lets one passing health check bring back a host that keeps
        # failing real requests; App Mesh kept ejected hosts out until their ejection ran out.
        successful_active_health_check_uneject_host=wrappers_pb2.BoolValue(value=False),
    )
    if spec.interval_ms is not None:
        detection.interval.CopyFrom(duration(spec.interval_ms))
    if spec.base_ejection_time_ms is not None:
        detection.base_ejection_time.CopyFrom(duration(spec.base_ejection_time_ms))
    return detection


def build_health_check(spec: HealthCheck) -> health_check_pb2.HealthCheck:
    check = health_check_pb2.HealthCheck(
        timeout=duration(spec.timeout_ms),
        interval=duration(spec.interval_ms),
        healthy_threshold=uint32(spec.healthy_threshold),
        unhealthy_threshold=uint32(spec.unhealthy_threshold),
    )
    if spec.protocol == "grpc":
        check.grpc_health_check.SetInParent()
        if spec.host:
            check.grpc_health_check.authority = spec.host
    elif spec.protocol in ("http", "http2"):
        check.http_health_check.path = spec.path
        if spec.host:  # else Envoy sends the cluster name (cds_egress_...) as Host
            check.http_health_check.host = spec.host
        if spec.protocol == "http2":
            check.http_health_check.codec_client_type = 1  # envoy.type.v3.CodecClientType.HTTP2
    else:
        check.tcp_health_check.SetInParent()
    return check


def build_cluster(spec: Cluster, pending: frozenset[str] = frozenset()) -> cluster_pb2.Cluster:
    """`pending`: ACM secrets the control plane cannot deliver yet (`envoy.tls`)."""
    cluster = cluster_pb2.Cluster(
        name=spec.name,
        type=_TYPES[spec.discovery],
        connect_timeout=duration(spec.connect_timeout_ms),
        circuit_breakers=build_circuit_breakers(spec.circuit_breakers),
    )
    if spec.discovery == "original_dst":
        cluster.lb_policy = cluster_pb2.Cluster.CLUSTER_PROVIDED
    elif spec.discovery == "eds":
        cluster.eds_cluster_config.eds_config.CopyFrom(ads_source())
    else:
        cluster.load_assignment.CopyFrom(build_load_assignment(spec.name, spec.endpoints))
    if spec.dns_lookup_family is not None and spec.discovery in ("logical_dns", "strict_dns"):
        cluster.dns_lookup_family = cluster_pb2.Cluster.DnsLookupFamily.Value(spec.dns_lookup_family)
    if spec.http2:
        options = hpo_pb2.HttpProtocolOptions(
            explicit_http_config=hpo_pb2.HttpProtocolOptions.ExplicitHttpConfig(
                http2_protocol_options=protocol_pb2.Http2ProtocolOptions()
            )
        )
        cluster.typed_extension_protocol_options[HTTP_OPTIONS_KEY].CopyFrom(pack(options))
    if spec.outlier_detection is not None:
        cluster.outlier_detection.CopyFrom(build_outlier_detection(spec.outlier_detection))
    if spec.health_check is not None:
        cluster.health_checks.append(build_health_check(spec.health_check))
    if spec.drop_removed_hosts:
        cluster.ignore_health_on_host_removal = True
    if spec.tls is not None:
        cluster.transport_socket.CopyFrom(upstream_socket(spec.tls, pending))
    if spec.stats_tags:
        cluster.metadata.CopyFrom(stats_metadata(spec.stats_tags))
    return cluster
