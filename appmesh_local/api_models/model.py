"""Load the botocore App Mesh service model once per process."""

from __future__ import annotations

from functools import cache

from botocore.loaders import Loader
from botocore.model import ServiceModel

SERVICE_NAME = "appmesh"
API_VERSION = "2019-01-25"


@cache
def service_model() -> ServiceModel:
    """The App Mesh model exactly as botocore ships it: the single source of truth."""
    data = Loader().load_service_model(SERVICE_NAME, "service-2", API_VERSION)
    return ServiceModel(data, service_name=SERVICE_NAME)
