"""The one place that writes and reads App Mesh ARNs."""

from __future__ import annotations

from ..store.records import MESH, ResourceKey
from .kinds import BY_KIND


def arn_for(key: ResourceKey, owner: str) -> str:
    """`arn:aws:appmesh:REGION:OWNER:mesh/M[/virtualRouter/R/route/N ...]`."""
    path = f"mesh/{key.mesh}"
    kind = BY_KIND[key.kind]
    if key.kind != MESH:
        if kind.parent is not None:
            path += f"/{kind.parent.kind}/{key.parent}"
        path += f"/{key.kind}/{key.name}"
    return f"arn:aws:appmesh:{key.region}:{owner}:{path}"
