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
    """A model exactly as botocore ships it: the single source of truth. App Mesh at its one API
    version; another service (e.g. `acm-pca`) at the newest version botocore has."""
    version = API_VERSION if service == SERVICE_NAME else None
    data = Loader().load_service_model(service, "service-2", version)
    return ServiceModel(data, service_name=service)
