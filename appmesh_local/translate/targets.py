"""A virtual node seen as a route target: its listeners and the egress clusters clients use.

Policies the *server* declares on its listener (outlier detection, health check) are
realised in the clients' egress clusters (docs/reference.md#big-picture, #egress-clusters, #outlier-detection, #health-checks).

A DNS node with host-mode instances (its Envoys run on this machine with host placements) is
reached at those instances' addresses: its clients' egress clusters become EDS clusters over
them, as ECS's service registry made a task's address what its DNS name resolved to
(docs/host-mode.md). Cloud Map nodes keep Cloud Map's instances.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from appmesh_local.ir import GRPC, HTTP2, Cluster, Endpoint, HealthCheck, OutlierDetection, StatsTag, names
from appmesh_local.translate.cloudmap import Discovered, cloud_map_endpoints
from appmesh_local.translate.tls import server_default, server_name
from appmesh_local.translate.values import dns_lookup_family, duration_ms, ip_preference, opt, uint32


@dataclass(frozen=True)
class TargetListener:
    port: int
    protocol: str
    cluster: Cluster | None  # None when the node has no usable service discovery
    server_name: str = ""  # service-discovery name: default SNI and certificate SAN


@dataclass(frozen=True)
class NodeTarget:
    """The node's listeners (in spec order) with their egress clusters."""

    name: str
    listeners: tuple[TargetListener, ...]
    problems: tuple[str, ...] = ()

    def listener(self, port: int | None, fallback_port: int | None = None) -> tuple[TargetListener | None, str | None]:
        """The listener a weighted target selects: by `port`, or the single one.

        With several listeners and no port, a listener on `fallback_port` (the router
        listener's) is used; otherwise the target is ambiguous. Returns (listener, problem).
        """
        if port is not None:
            for item in self.listeners:
                if item.port == port:
                    return item, None
            return None, f"virtual node {self.name} has no listener on port {port}"
        if len(self.listeners) == 1:
            return self.listeners[0], None
        if not self.listeners:
            return None, f"virtual node {self.name} has no listeners"
        for item in self.listeners:
            if item.port == fallback_port:
                return item, None
        return None, f"virtual node {self.name} has several listeners and the target names no port"


def _outlier(spec: Mapping[str, Any] | None, where: str, problems: list[str]) -> OutlierDetection | None:
    if not spec:
        return None
    durations: dict[str, int | None] = {}
    for field, envoy_default in (("interval", "10 s"), ("baseEjectionDuration", "30 s")):
        value = duration_ms(spec.get(field))
        if value == 0:  # the API allows 0; Envoy requires more than zero and would refuse the cluster
            problems.append(
                f"{where}: outlierDetection {field} 0 is not usable; Envoy's default {envoy_default} applies"
            )
            value = None
        durations[field] = value
    return OutlierDetection(
        consecutive_5xx=uint32(spec["maxServerErrors"]),
        interval_ms=durations["interval"],
        base_ejection_time_ms=durations["baseEjectionDuration"],
        max_ejection_percent=int(opt(spec, "maxEjectionPercent", 10)),
    )


def _health_check(
    spec: Mapping[str, Any] | None, host: str | None, http2: bool, where: str, problems: list[str]
) -> HealthCheck | None:
    if not spec:
        return None
    if opt(spec, "protocol", "tcp") == GRPC and not http2:
        # Envoy refuses the cluster ("cluster must support HTTP/2 for gRPC healthchecking") and
        # the listener's protocol decides the cluster's, so the check cannot be kept.
        problems.append(f"{where}: a grpc health check needs an http2 or grpc listener; health check not applied")
        return None
    return HealthCheck(
        protocol=opt(spec, "protocol", "tcp"),
        timeout_ms=int(spec["timeoutMillis"]),
        interval_ms=int(spec["intervalMillis"]),
        healthy_threshold=int(spec["healthyThreshold"]),
        unhealthy_threshold=int(spec["unhealthyThreshold"]),
        path=spec.get("path") or "/",
        host=host,
    )


def _egress_cluster(
    mesh: str,
    mesh_spec: Mapping[str, Any],
    node: str,
    node_spec: Mapping[str, Any],
    listener: Mapping[str, Any],
    instances: Discovered,
    problems: list[str],
    host_addresses: tuple[str, ...] = (),
) -> Cluster | None:
    mapping = listener.get("portMapping") or {}
    port, protocol = int(mapping["port"]), mapping["protocol"]
    discovery = node_spec.get("serviceDiscovery") or {}
    hostname = server_name(discovery)
    http2 = protocol in (HTTP2, GRPC)
    where = f"virtual node {node} listener {port}"

    def cluster(
        kind: str, endpoints: tuple[Endpoint, ...], family: str | None = None, drop_removed_hosts: bool = False
    ) -> Cluster:
        """The egress cluster with this discovery kind; everything else comes from the listener."""
        return Cluster(
            name=names.egress_cluster(mesh, node, protocol, port),
            discovery=kind,
            endpoints=endpoints,
            http2=http2,
            dns_lookup_family=family,
            outlier_detection=_outlier(listener.get("outlierDetection"), where, problems),
            health_check=_health_check(
                listener.get("healthCheck"), f"{hostname}:{port}" if hostname else None, http2, where, problems
            ),
            tls=server_default(listener, hostname),
            stats_tags=(StatsTag("TargetVirtualNode", node),),
            drop_removed_hosts=drop_removed_hosts,
        )

    if discovery.get("dns") and host_addresses:
        return cluster("eds", tuple(Endpoint(a, port) for a in host_addresses), drop_removed_hosts=True)
    if discovery.get("dns"):
        dns = discovery["dns"]
        kind = "strict_dns" if dns.get("responseType") == "ENDPOINTS" else "logical_dns"
        family = dns_lookup_family(ip_preference(mesh_spec, dns))
        return cluster(kind, (Endpoint(dns["hostname"], port),), family, drop_removed_hosts=kind == "strict_dns")
    if discovery.get("awsCloudMap"):
        preference = ip_preference(mesh_spec, discovery["awsCloudMap"])
        return cluster("eds", cloud_map_endpoints(instances, port, preference), drop_removed_hosts=True)
    return None


def node_target(
    mesh: str,
    mesh_spec: Mapping[str, Any],
    name: str,
    spec: Mapping[str, Any],
    instances: Discovered = (),
    host_addresses: tuple[str, ...] = (),
) -> NodeTarget:
    """Build the target view of virtual node `name` (pure; memoized by the caller).

    `instances`: what Cloud Map returned for the node's `awsCloudMap` (cloudmap.discover).
    `host_addresses`: the task addresses of the node's host-mode instances, sorted.
    """
    listeners: list[TargetListener] = []
    problems: list[str] = []
    for listener in spec.get("listeners") or ():
        mapping = listener.get("portMapping") or {}
        cluster = _egress_cluster(mesh, mesh_spec, name, spec, listener, instances, problems, host_addresses)
        if cluster is None:
            problems.append(f"virtual node {name} is a route target but has no service discovery")
        listeners.append(
            TargetListener(
                port=int(mapping["port"]),
                protocol=mapping["protocol"],
                cluster=cluster,
                server_name=server_name(spec.get("serviceDiscovery") or {}),
            )
        )
    return NodeTarget(name=name, listeners=tuple(listeners), problems=tuple(dict.fromkeys(problems)))
