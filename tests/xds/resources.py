"""Small Envoy resources for the bridge's tests: the "fake config source" (not the translator)."""

from __future__ import annotations

from envoy.config.accesslog.v3 import accesslog_pb2
from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.core.v3 import address_pb2, base_pb2, config_source_pb2, substitution_format_string_pb2
from envoy.config.endpoint.v3 import endpoint_components_pb2, endpoint_pb2
from envoy.config.listener.v3 import listener_components_pb2, listener_pb2
from envoy.config.route.v3 import route_pb2
from envoy.extensions.access_loggers.file.v3 import file_pb2
from envoy.extensions.filters.http.router.v3 import router_pb2
from envoy.extensions.filters.listener.original_dst.v3 import original_dst_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import http_connection_manager_pb2 as hcm_pb2
from google.protobuf import any_pb2
from google.protobuf.message import Message

from appmesh_local.xds.proxy_config import (
    CLUSTER,
    CLUSTER_LOAD_ASSIGNMENT,
    LISTENER,
    ROUTE_CONFIGURATION,
)


def pack(message: Message) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message)
    return packed


def socket_address(address: str, port: int) -> address_pb2.Address:
    return address_pb2.Address(socket_address=address_pb2.SocketAddress(address=address, port_value=port))


def hcm(
    stat_prefix: str,
    *,
    rds_name: str | None = None,
    route_config: route_pb2.RouteConfiguration | None = None,
    access_log_format: str | None = None,
) -> listener_components_pb2.Filter:
    manager = hcm_pb2.HttpConnectionManager(stat_prefix=stat_prefix)
    manager.http_filters.add(name="envoy.filters.http.router").typed_config.CopyFrom(pack(router_pb2.Router()))
    if rds_name is not None:
        manager.rds.route_config_name = rds_name
        manager.rds.config_source.ads.SetInParent()
        manager.rds.config_source.resource_api_version = config_source_pb2.V3
    else:
        manager.route_config.CopyFrom(route_config)
    if access_log_format is not None:
        file_log = file_pb2.FileAccessLog(
            path="/dev/null",
            log_format=substitution_format_string_pb2.SubstitutionFormatString(
                text_format_source=base_pb2.DataSource(inline_string=access_log_format)
            ),
        )
        manager.access_log.append(
            accesslog_pb2.AccessLog(name="envoy.access_loggers.file", typed_config=pack(file_log))
        )
    return listener_components_pb2.Filter(
        name="envoy.filters.network.http_connection_manager", typed_config=pack(manager)
    )


def direct_route_config(name: str, body: str, status: int = 200) -> route_pb2.RouteConfiguration:
    config = route_pb2.RouteConfiguration(name=name)
    vhost = config.virtual_hosts.add(name="all", domains=["*"])
    route = vhost.routes.add()
    route.match.prefix = "/"
    route.direct_response.status = status
    route.direct_response.body.inline_string = body
    return config


def cluster_route_config(name: str, cluster: str, domains: tuple[str, ...] = ("*",)) -> route_pb2.RouteConfiguration:
    config = route_pb2.RouteConfiguration(name=name)
    vhost = config.virtual_hosts.add(name=name, domains=list(domains))
    route = vhost.routes.add()
    route.match.prefix = "/"
    route.route.cluster = cluster
    return config


def http_listener(
    name: str,
    address: str,
    port: int,
    *,
    rds_name: str | None = None,
    body: str = "hello",
    access_log_format: str | None = None,
) -> listener_pb2.Listener:
    route_config = None if rds_name else direct_route_config(f"{name}_inline", body)
    listener = listener_pb2.Listener(name=name, address=socket_address(address, port))
    listener.filter_chains.add().filters.append(
        hcm(name, rds_name=rds_name, route_config=route_config, access_log_format=access_log_format)
    )
    return listener


def intercepting_listener(name: str, port: int, chains: dict[int, str]) -> listener_pb2.Listener:
    """An App Mesh-style 0.0.0.0 listener: original_dst restores the pre-REDIRECT port, chains match on it."""
    listener = listener_pb2.Listener(name=name, address=socket_address("0.0.0.0", port))
    listener.listener_filters.add(
        name="envoy.filters.listener.original_dst", typed_config=pack(original_dst_pb2.OriginalDst())
    )
    for destination_port, rds_name in chains.items():
        chain = listener.filter_chains.add()
        chain.filter_chain_match.destination_port.value = destination_port
        chain.filters.append(hcm(name, rds_name=rds_name))
    return listener


def static_cluster(name: str, address: str, port: int) -> cluster_pb2.Cluster:
    cluster = cluster_pb2.Cluster(name=name, type=cluster_pb2.Cluster.STATIC)
    cluster.connect_timeout.FromMilliseconds(1000)
    cluster.load_assignment.CopyFrom(load_assignment(name, address, port))
    return cluster


def eds_cluster(name: str) -> cluster_pb2.Cluster:
    cluster = cluster_pb2.Cluster(name=name, type=cluster_pb2.Cluster.EDS)
    cluster.connect_timeout.FromMilliseconds(1000)
    cluster.eds_cluster_config.eds_config.ads.SetInParent()
    cluster.eds_cluster_config.eds_config.resource_api_version = config_source_pb2.V3
    return cluster


def load_assignment(name: str, address: str, port: int) -> endpoint_pb2.ClusterLoadAssignment:
    cla = endpoint_pb2.ClusterLoadAssignment(cluster_name=name)
    cla.endpoints.add().lb_endpoints.append(
        endpoint_components_pb2.LbEndpoint(
            endpoint=endpoint_components_pb2.Endpoint(address=socket_address(address, port))
        )
    )
    return cla


def simple_resources(
    port: int, body: str = "hello", *, cluster_port: int = 9, rds: bool = True, access_log_format: str | None = None
) -> dict[str, dict[str, Message]]:
    """One loopback listener (RDS → direct_response `body`), one EDS cluster with its CLA."""
    listener_name = f"lds_ingress_127.0.0.1_{port}"
    route_name = f"rds_ingress_http_{port}"
    resources: dict[str, dict[str, Message]] = {
        LISTENER: {
            listener_name: http_listener(
                listener_name,
                "127.0.0.1",
                port,
                rds_name=route_name if rds else None,
                body=body,
                access_log_format=access_log_format,
            )
        },
        CLUSTER: {"cds_egress_test_backend_http_9": eds_cluster("cds_egress_test_backend_http_9")},
        CLUSTER_LOAD_ASSIGNMENT: {
            "cds_egress_test_backend_http_9": load_assignment(
                "cds_egress_test_backend_http_9", "127.0.0.1", cluster_port
            )
        },
        ROUTE_CONFIGURATION: {},
    }
    if rds:
        resources[ROUTE_CONFIGURATION][route_name] = direct_route_config(route_name, body)
    return resources
