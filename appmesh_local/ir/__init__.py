"""Intermediate representation between App Mesh specs and Envoy protos (plain frozen data)."""
from appmesh_local.ir.dump import dump
from appmesh_local.ir.model import (
    GRPC, HTTP, HTTP2, HTTP_FAMILY, TCP, AccessLog, CircuitBreakers, Cluster, DownstreamTls, Endpoint, FilterChain,
    HeaderMatch, HealthCheck, HttpFilter, HttpRoute, Listener, MeshIR, OutlierDetection, ProxyIR,
    QueryMatch, RetryPolicy, RouteConfig, RouteMatch, StatsTag, TcpFilter, TlsCertificate, TlsValidation, UpstreamTls, VirtualHost,
    WeightedTarget,
)

__all__ = [
    "GRPC", "HTTP", "HTTP2", "HTTP_FAMILY", "TCP", "AccessLog", "CircuitBreakers", "Cluster", "DownstreamTls", "Endpoint",
    "FilterChain", "HeaderMatch", "HealthCheck", "HttpFilter", "HttpRoute", "Listener", "MeshIR",
    "OutlierDetection", "ProxyIR", "QueryMatch", "RetryPolicy", "RouteConfig", "RouteMatch", "StatsTag",
    "TcpFilter", "TlsCertificate", "TlsValidation", "UpstreamTls", "VirtualHost", "WeightedTarget", "dump",
]
