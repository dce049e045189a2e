"""Parsed records of the resource groups the API has read, kept in step with every commit.

Every Describe, List and quota check used to run SQL and `json.loads` the spec and
tags of each row it touched (a list page of 100 virtual nodes: ~2.5 ms of parsing).
A group is every resource of one kind under one parent (all meshes of an account
and region; all virtual nodes of a mesh; all routes of a router): it is loaded from
the database whole on its first read, then updated by the writes the store
commits, so get, list and count of a loaded group are dictionary and bisect work.
Records are frozen and their spec dicts are shared, never mutated.
"""

from __future__ import annotations

from bisect import bisect_right, insort
from typing import Iterable

from .records import MESH, ResourceKey, ResourceRecord

GroupKey = tuple[str, str, str, str, str]  # account, region, kind, mesh, parent


def group_of(key: ResourceKey) -> GroupKey:
    """Meshes form one group per account and region; other kinds one per (mesh, parent)."""
    if key.kind == MESH:
        return (key.account, key.region, MESH, "", "")
    return (key.account, key.region, key.kind, key.mesh, key.parent)


class Group:
    """The records of one group by name, with their names kept sorted for pagination."""

    __slots__ = ("names", "records")

    def __init__(self, records: Iterable[ResourceRecord]) -> None:
        self.records: dict[str, ResourceRecord] = {r.key.name: r for r in records}
        self.names: list[str] = sorted(self.records)

    def put(self, record: ResourceRecord) -> None:
        name = record.key.name
        if name not in self.records:
            insort(self.names, name)
        self.records[name] = record

    def delete(self, name: str) -> None:
        if self.records.pop(name, None) is not None:
            del self.names[bisect_right(self.names, name) - 1]

    def page(self, after: str, limit: int | None) -> list[ResourceRecord]:
        """Records with a name greater than `after`, in name order (what `ORDER BY name` gives)."""
        start = bisect_right(self.names, after)
        names = self.names[start:] if limit is None else self.names[start : start + limit]
        return [self.records[n] for n in names]


class RecordCache:
    """The loaded groups; the store applies each committed write to the group it touches."""

    def __init__(self) -> None:
        self._groups: dict[GroupKey, Group] = {}

    def group(self, key: GroupKey) -> Group | None:
        return self._groups.get(key)

    def load(self, key: GroupKey, records: Iterable[ResourceRecord]) -> Group:
        group = self._groups[key] = Group(records)
        return group

    def apply(self, key: ResourceKey, record: ResourceRecord | None) -> None:
        """A committed put (record) or delete (None); groups never loaded are skipped."""
        group = self._groups.get(group_of(key))
        if group is None:
            return
        if record is None:
            group.delete(key.name)
        else:
            group.put(record)

    def clear(self) -> None:
        self._groups.clear()
