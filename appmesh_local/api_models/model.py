"""Load botocore service models once per process: App Mesh's, and the neighbours' for the
operations appmesh-local answers itself on their APIs."""

from __future__ import annotations

from functools import cache

from botocore.loaders import Loader
from botocore.model import ServiceModel

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
