"""Parsed specs of the meshes the xDS bridge reads, kept in step with every commit.

Re-reading and re-parsing a whole mesh from SQLite on each change cost ~100-300 ms
at 7,000 resources; the mirror makes a snapshot a matter of copying references.
A mesh is loaded from the database on its first snapshot, then updated by the
writes the store commits. Specs are frozen and shared between snapshots (the
translator's memo relies on that); each snapshot's maps are read-only copies,
so later writes never show through (docs/contracts.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from .frozen import FrozenDict
from .protocols import MeshKey
from .records import (
    GATEWAY_ROUTE,
    MESH,
    ROUTE,
    VIRTUAL_GATEWAY,
    VIRTUAL_NODE,
    VIRTUAL_ROUTER,
    VIRTUAL_SERVICE,
    MeshSnapshot,
    ResourceKey,
)

Spec = Mapping[str, Any]
_FLAT = {
    VIRTUAL_NODE: "virtual_nodes",
    VIRTUAL_ROUTER: "virtual_routers",
    VIRTUAL_SERVICE: "virtual_services",
    VIRTUAL_GATEWAY: "virtual_gateways",
}
_NESTED = {ROUTE: "routes", GATEWAY_ROUTE: "gateway_routes"}


@dataclass
class MeshMirror:
    """Every spec of one mesh: flat kinds by name, routes and gateway routes by parent then name."""

    spec: Spec | None = None
    flat: dict[str, dict[str, Spec]] = field(default_factory=lambda: {f: {} for f in _FLAT.values()})
    nested: dict[str, dict[str, dict[str, Spec]]] = field(default_factory=lambda: {f: {} for f in _NESTED.values()})

    def put(self, kind: str, parent: str, name: str, spec: Spec) -> None:
        if kind == MESH:
            self.spec = spec
        elif kind in _FLAT:
            self.flat[_FLAT[kind]][name] = spec
        else:
            self.nested[_NESTED[kind]].setdefault(parent, {})[name] = spec

    def delete(self, kind: str, parent: str, name: str) -> None:
        if kind == MESH:
            self.spec = None
        elif kind in _FLAT:
            self.flat[_FLAT[kind]].pop(name, None)
        else:
            children = self.nested[_NESTED[kind]].get(parent, {})
            children.pop(name, None)
            if not children:
                self.nested[_NESTED[kind]].pop(parent, None)

    def snapshot(self, key: MeshKey, revision: int) -> MeshSnapshot | None:
        """An immutable view: read-only copies of the maps (later writes do not show), shared frozen specs."""
        if self.spec is None:
            return None
        flat = self.flat
        nested = {
            name: FrozenDict({parent: FrozenDict(children) for parent, children in by_parent.items()})
            for name, by_parent in self.nested.items()
        }
        return MeshSnapshot(
            account=key[0],
            region=key[1],
            name=key[2],
            revision=revision,
            spec=self.spec,
            virtual_nodes=FrozenDict(flat["virtual_nodes"]),
            virtual_routers=FrozenDict(flat["virtual_routers"]),
            routes=nested["routes"],
            virtual_services=FrozenDict(flat["virtual_services"]),
            virtual_gateways=FrozenDict(flat["virtual_gateways"]),
            gateway_routes=nested["gateway_routes"],
        )


class Mirrors:
    """The loaded meshes; the store applies each committed write to the one it touches."""

    def __init__(self) -> None:
        self._meshes: dict[MeshKey, MeshMirror] = {}

    def get(self, key: MeshKey) -> MeshMirror | None:
        return self._meshes.get(key)

    def load(self, key: MeshKey, rows: list[tuple[str, str, str, Spec]]) -> MeshMirror:
        mirror = MeshMirror()
        for kind, parent, name, spec in rows:
            mirror.put(kind, parent, name, spec)
        self._meshes[key] = mirror
        return mirror

    def apply(self, key: ResourceKey, spec: Spec | None) -> None:
        """A committed put (spec) or delete (None); meshes never loaded are skipped."""
        mirror = self._meshes.get((key.account, key.region, key.mesh))
        if mirror is None:
            return
        if spec is None:
            mirror.delete(key.kind, key.parent, key.name)
            if key.kind == MESH:
                del self._meshes[(key.account, key.region, key.mesh)]
        else:
            mirror.put(key.kind, key.parent, key.name, spec)
