"""Service quotas (AWS's documented defaults, overridable with `serve --quota NAME=VALUE`)."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace


@dataclass(frozen=True)
class Quotas:
    meshesPerAccount: int = 15
    virtualNodesPerMesh: int = 200
    virtualRoutersPerMesh: int = 200
    virtualServicesPerMesh: int = 200
    virtualGatewaysPerMesh: int = 200
    routesPerVirtualRouter: int = 50
    gatewayRoutesPerVirtualGateway: int = 50
    backendsPerVirtualNode: int = 50

    @classmethod
    def parse(cls, assignments: list[str]) -> Quotas:
        """Build from `NAME=VALUE` strings; unknown names are an error, not a silent no-op."""
        known = {f.name for f in fields(cls)}
        values: dict[str, int] = {}
        for item in assignments:
            name, _, value = item.partition("=")
            if name not in known or not value.isdigit():
                raise ValueError(f"bad quota {item!r}: expected NAME=INTEGER with NAME one of {sorted(known)}")
            values[name] = int(value)
        return replace(cls(), **values)

    def per_mesh(self, kind: str) -> int:
        return int(getattr(self, f"{kind}sPerMesh"))
