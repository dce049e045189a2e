"""App Mesh semantics: one method per operation, knowing nothing of HTTP or Envoy."""

from .context import RequestContext
from .provider import AppMeshService
from .quotas import Quotas

__all__ = ["AppMeshService", "Quotas", "RequestContext"]
