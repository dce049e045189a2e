"""IR endpoints → envoy.config.endpoint.v3.ClusterLoadAssignment (static clusters and EDS)."""

from __future__ import annotations

from envoy.config.core.v3 import address_pb2
from envoy.config.endpoint.v3 import endpoint_components_pb2 as ec_pb2
from envoy.config.endpoint.v3 import endpoint_pb2

from appmesh_local.ir import Endpoint


def build_address(endpoint: Endpoint) -> address_pb2.Address:
    """A socket address, or an Envoy internal address naming one of this Envoy's internal listeners."""
    if endpoint.internal_listener:
        return address_pb2.Address(
            envoy_internal_address=address_pb2.EnvoyInternalAddress(server_listener_name=endpoint.internal_listener)
        )
    return address_pb2.Address(
        socket_address=address_pb2.SocketAddress(address=endpoint.address, port_value=endpoint.port)
    )


def build_load_assignment(cluster: str, endpoints: tuple[Endpoint, ...]) -> endpoint_pb2.ClusterLoadAssignment:
    """One locality holding every endpoint; an empty assignment when there are none."""
    assignment = endpoint_pb2.ClusterLoadAssignment(cluster_name=cluster)
    if endpoints:
        assignment.endpoints.append(
            ec_pb2.LocalityLbEndpoints(
                lb_endpoints=[ec_pb2.LbEndpoint(endpoint=ec_pb2.Endpoint(address=build_address(e))) for e in endpoints]
            )
        )
    return assignment
