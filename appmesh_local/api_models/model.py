"""Load botocore service models once per process: App Mesh's, and the neighbours' for the
operations appmesh-local answers itself on their APIs."""

from __future__ import annotations

from functools import cache

from botocore.loaders import Loader
from botocore.model import ServiceModel, StructureShape

SERVICE_NAME = "appmesh"
API_VERSION = "2019-01-25"


@cache
def service_model(service: str = SERVICE_NAME) -> ServiceModel:
    """A model exactly as botocore ships it: the single source of truth.

    App Mesh's is pinned to its one API version; the neighbours' (servicediscovery, acm,
    acm-pca), used to validate their input before moto sees it, are botocore's newest.
    """
    loader = Loader()
    if service == SERVICE_NAME:
        data = loader.load_service_model(SERVICE_NAME, "service-2", API_VERSION)
    else:
        data = loader.load_service_model(service, "service-2")
    return ServiceModel(data, service_name=service)


ROUTE_SPEC = "RouteSpec"
GATEWAY_ROUTE_SPEC = "GatewayRouteSpec"


@cache
def route_types(spec_shape: str) -> tuple[str, ...]:
    """The route members of `RouteSpec` or `GatewayRouteSpec`, as the model names them.

    They are the spec's structure members (`grpcRoute`, `http2Route`, `httpRoute`, and `tcpRoute` for
    routes), each a protocol followed by "Route"; `priority` is the other member. A spec has exactly one.
    """
    shape = service_model().shape_for(spec_shape)
    assert isinstance(shape, StructureShape), spec_shape
    return tuple(name for name, member in shape.members.items() if member.type_name == "structure")


def route_protocol(route_type: str) -> str:
    """The listener protocol a route member serves: `http2Route` → `http2`."""
    return route_type.removesuffix("Route")
