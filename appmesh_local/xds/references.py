"""What a listener or cluster makes Envoy wait for: the resources it names over ADS.

Envoy warms every cluster and listener it receives, new or changed, and only puts it to
use once each resource it names has arrived: an EDS cluster its ClusterLoadAssignment, an
HTTP connection manager its RouteConfiguration, a TLS context its SDS secrets. "Management
server is expected to provide the EDS/RDS updates during warming"; without them the
update takes effect only when Envoy's initial fetch timeout (15 s) gives up waiting
(xDS protocol, "Resource warming":
https://www.envoyproxy.io/docs/envoy/latest/api-docs/xds_protocol#resource-warming).

Two users: the snapshot check (`snapshot.check_consistency`: every awaited resource must
be in the snapshot) and the streams (a pushed listener or cluster is followed by what it
awaits, even when that did not change). Only references whose config source is ADS count:
this server owes those; a secret from the local SDS socket is someone else's.

A reference with a short `initial_fetch_timeout` (at most `NOT_AWAITED_MAX_MS`) is one the
control plane knows it cannot answer yet (an ACM certificate not issued): Envoy gives up
on it at once and keeps it subscribed, so it holds nothing back and is not awaited.
"""

from __future__ import annotations

from typing import Iterator, Protocol

from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.core.v3 import base_pb2, config_source_pb2
from envoy.config.listener.v3 import listener_components_pb2, listener_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import http_connection_manager_pb2 as hcm_pb2
from envoy.extensions.transport_sockets.tls.v3 import secret_pb2, tls_pb2
from google.protobuf.message import Message

from appmesh_local.xds.proxy_config import CLUSTER, CLUSTER_LOAD_ASSIGNMENT, LISTENER, ROUTE_CONFIGURATION, SECRET

NOT_AWAITED_MAX_MS = 100
Awaited = tuple[tuple[str, str], ...]  # (type URL, resource name), in the order found

_HCM = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"
_DOWNSTREAM_TLS = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext"
_UPSTREAM_TLS = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext"
# Types that name others, and the types they may name.
REFERRING_TYPES = (CLUSTER, LISTENER)
REFERRED_TYPES = (CLUSTER_LOAD_ASSIGNMENT, ROUTE_CONFIGURATION, SECRET)


def awaited(type_url: str, message: Message, name: str) -> Awaited:
    """The ADS resources Envoy waits for when it (re)creates this listener or cluster."""
    if type_url == CLUSTER:
        return tuple(_cluster_refs(message, name))
    if type_url == LISTENER:
        return tuple(_listener_refs(message))
    return ()


class NamedResource(Protocol):
    """What the memo needs of a snapshot resource (`snapshot.Resource`)."""

    @property
    def name(self) -> str: ...

    @property
    def type_url(self) -> str: ...

    @property
    def message(self) -> Message: ...

    @property
    def awaited(self) -> Awaited: ...


def awaited_of(resource: NamedResource) -> Awaited:
    """`awaited` of a snapshot resource, which keeps it (snapshot.Resource.awaited): snapshot resources
    are immutable and reused while unchanged, so each is parsed once however often it is pushed."""
    return resource.awaited


def _is_ads(source: config_source_pb2.ConfigSource) -> bool:
    return source.HasField("ads")


def _not_awaited(source: config_source_pb2.ConfigSource) -> bool:
    if not source.HasField("initial_fetch_timeout"):
        return False
    timeout_ms = source.initial_fetch_timeout.ToMilliseconds()
    return 0 < timeout_ms <= NOT_AWAITED_MAX_MS


def _cluster_refs(cluster: cluster_pb2.Cluster, name: str) -> Iterator[tuple[str, str]]:
    is_eds = cluster.WhichOneof("cluster_discovery_type") == "type" and cluster.type == cluster_pb2.Cluster.EDS
    if is_eds and _is_ads(cluster.eds_cluster_config.eds_config):
        yield CLUSTER_LOAD_ASSIGNMENT, cluster.eds_cluster_config.service_name or name
    if cluster.HasField("transport_socket"):
        yield from _socket_refs(cluster.transport_socket)


def _listener_refs(listener: listener_pb2.Listener) -> Iterator[tuple[str, str]]:
    chains: list[listener_components_pb2.FilterChain] = list(listener.filter_chains)
    if listener.HasField("default_filter_chain"):
        chains.append(listener.default_filter_chain)
    for chain in chains:
        for flt in chain.filters:
            if flt.typed_config.type_url != _HCM:
                continue
            manager = hcm_pb2.HttpConnectionManager.FromString(flt.typed_config.value)
            if manager.HasField("rds") and _is_ads(manager.rds.config_source):
                yield ROUTE_CONFIGURATION, manager.rds.route_config_name
        if chain.HasField("transport_socket"):
            yield from _socket_refs(chain.transport_socket)


def _socket_refs(socket: base_pb2.TransportSocket) -> Iterator[tuple[str, str]]:
    config = socket.typed_config
    if config.type_url == _DOWNSTREAM_TLS:
        common = tls_pb2.DownstreamTlsContext.FromString(config.value).common_tls_context
    elif config.type_url == _UPSTREAM_TLS:
        common = tls_pb2.UpstreamTlsContext.FromString(config.value).common_tls_context
    else:
        return
    secrets: list[secret_pb2.SdsSecretConfig] = list(common.tls_certificate_sds_secret_configs)
    if common.HasField("validation_context_sds_secret_config"):
        secrets.append(common.validation_context_sds_secret_config)
    if common.HasField("combined_validation_context"):
        combined = common.combined_validation_context
        if combined.HasField("validation_context_sds_secret_config"):
            secrets.append(combined.validation_context_sds_secret_config)
    for secret in secrets:
        if _is_ads(secret.sds_config) and not _not_awaited(secret.sds_config):
            yield SECRET, secret.name
