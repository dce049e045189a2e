"""Parsed specs of the meshes the xDS bridge reads, kept in step with every commit.

Re-reading and re-parsing a whole mesh from SQLite on each change cost ~100-300 ms
at 7,000 resources; the mirror makes a snapshot a matter of copying references.
A mesh is loaded from the database on its first snapshot, then updated by the
writes the store commits. Specs are frozen and shared between snapshots (the
translator's memo relies on that); each snapshot's maps are read-only copies,
so later writes never show through (docs/contracts.md). Copies are made again only
for what a write touched since the last snapshot (one kind's map; the routes of
one router and the map of routers), so a snapshot of a 10,000-node mesh after one
route change costs a copy of one small map and of one map of parents, not of all.
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
    """Every spec of one mesh: flat kinds by name, routes and gateway routes by parent then name.

    `_copies` keeps the read-only copy of each map handed out by the last snapshot (a flat kind's
    map, a nested kind's map of parents), `_children` each parent's read-only map of children, and
    `_dirty` the (nested field, parent) pairs written since: a snapshot refreshes only those.
    """

    spec: Spec | None = None
    flat: dict[str, dict[str, Spec]] = field(default_factory=lambda: {f: {} for f in _FLAT.values()})
    nested: dict[str, dict[str, dict[str, Spec]]] = field(default_factory=lambda: {f: {} for f in _NESTED.values()})
    _copies: dict[str, FrozenDict] = field(default_factory=dict)
    _children: dict[str, dict[str, FrozenDict]] = field(default_factory=lambda: {f: {} for f in _NESTED.values()})
    _dirty: set[tuple[str, str]] = field(default_factory=set)

    def put(self, kind: str, parent: str, name: str, spec: Spec) -> None:
        if kind == MESH:
            self.spec = spec
        elif kind in _FLAT:
            self.flat[_FLAT[kind]][name] = spec
            self._copies.pop(_FLAT[kind], None)
        else:
            self.nested[_NESTED[kind]].setdefault(parent, {})[name] = spec
            self._stale(_NESTED[kind], parent)

    def delete(self, kind: str, parent: str, name: str) -> None:
        if kind == MESH:
            self.spec = None
        elif kind in _FLAT:
            self.flat[_FLAT[kind]].pop(name, None)
            self._copies.pop(_FLAT[kind], None)
        else:
            children = self.nested[_NESTED[kind]].get(parent, {})
            children.pop(name, None)
            if not children:
                self.nested[_NESTED[kind]].pop(parent, None)
            self._stale(_NESTED[kind], parent)

    def _stale(self, field_name: str, parent: str) -> None:
        self._copies.pop(field_name, None)
        self._dirty.add((field_name, parent))

    def _flat_copy(self, field_name: str) -> FrozenDict:
        found = self._copies.get(field_name)
        if found is None:
            found = self._copies[field_name] = FrozenDict(self.flat[field_name])
        return found

    def _nested_copy(self, field_name: str) -> FrozenDict:
        found = self._copies.get(field_name)
        if found is None:
            children = self._children[field_name]
            for dirty_field, parent in [d for d in self._dirty if d[0] == field_name]:
                self._dirty.discard((dirty_field, parent))
                by_name = self.nested[field_name].get(parent)
                if by_name:
                    children[parent] = FrozenDict(by_name)
                else:
                    children.pop(parent, None)
            found = self._copies[field_name] = FrozenDict(children)
        return found

    def snapshot(self, key: MeshKey, revision: int) -> MeshSnapshot | None:
        """An immutable view: read-only copies of the maps (later writes do not show), shared frozen specs."""
        if self.spec is None:
            return None
        return MeshSnapshot(
            account=key[0],
            region=key[1],
            name=key[2],
            revision=revision,
            spec=self.spec,
            virtual_nodes=self._flat_copy("virtual_nodes"),
            virtual_routers=self._flat_copy("virtual_routers"),
            routes=self._nested_copy("routes"),
            virtual_services=self._flat_copy("virtual_services"),
            virtual_gateways=self._flat_copy("virtual_gateways"),
            gateway_routes=self._nested_copy("gateway_routes"),
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
