"""What the layers above read and write of the store: the seams, as Protocols.

`AppMeshService` needs `ResourceStore` (reads plus one-transaction writes; `StateStore` adds
what `appmesh-local apply` keeps, for the web front); the xDS bridge
needs only `MeshSource` (whole-mesh snapshots and change events). `Store` (store/sqlite.py)
is the one implementation; tests may hand in anything with the same shape. Everything these
return is immutable (docs/contracts.md).
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any, Callable, Mapping, Protocol, Sequence

from .records import ChangeEvent, MeshSnapshot, ResourceKey, ResourceRecord

MeshKey = tuple[str, str, str]  # (account, region, mesh name)
Subscriber = Callable[[ChangeEvent], None]


class WriteTransaction(Protocol):
    """The write half of one store transaction: nothing is visible to others before it commits."""

    def put(self, record: ResourceRecord, action: str, encoded_spec: str | None = None) -> ResourceRecord: ...

    def delete(self, key: ResourceKey) -> None: ...

    def remember_token(
        self, account: str, region: str, operation: str, token: str, fingerprint: str, response: dict[str, Any]
    ) -> None: ...


class ResourceReader(Protocol):
    """Reads of single resources, pages and counts (the API's Describe, List and in-use checks)."""

    @property
    def revision(self) -> int:
        """The store revision of the last committed write (0 for an empty store)."""
        ...

    def get(self, key: ResourceKey) -> ResourceRecord | None: ...

    def get_by_arn(self, arn: str) -> ResourceRecord | None: ...

    def list_records(
        self,
        account: str,
        region: str,
        kind: str,
        mesh: str = "",
        parent: str = "",
        after: str = "",
        limit: int | None = None,
    ) -> list[ResourceRecord]: ...

    def count(
        self, account: str, region: str, kind: str, mesh: str | None = None, parent: str | None = None
    ) -> int: ...

    def in_mesh(self, account: str, region: str, mesh: str, kind: str) -> list[ResourceRecord]: ...

    def mesh_keys(self) -> Sequence[MeshKey]: ...

    def token(self, account: str, region: str, operation: str, token: str) -> tuple[str, dict[str, Any]] | None: ...


class ResourceStore(ResourceReader, Protocol):
    """What the App Mesh service uses: reads, and writes as one atomic transaction each."""

    def write(self) -> AbstractContextManager[WriteTransaction]: ...


class AppliedSetStore(Protocol):
    """What `appmesh-local apply` keeps on the server: opaque JSON documents by (account, region, name)."""

    def applied_set(self, account: str, region: str, name: str) -> dict[str, Any] | None: ...

    def applied_sets(self, account: str, region: str) -> list[dict[str, Any]]: ...

    def put_applied_set(self, account: str, region: str, name: str, document: Mapping[str, Any]) -> None: ...

    def delete_applied_set(self, account: str, region: str, name: str) -> bool: ...


class StateStore(ResourceStore, AppliedSetStore, Protocol):
    """All the state a server keeps, as the service and its web front use it."""


class MeshSource(Protocol):
    """What the xDS bridge reads: every mesh's key, whole-mesh snapshots, and change events.

    Each event names the resource a commit wrote (kind, parent, name), and is delivered before a
    snapshot at that revision can be read: the bridge re-translates only what the named resources
    reach. A source that cannot name them publishes events with an empty name (anything changed).
    """

    def mesh_keys(self) -> Sequence[MeshKey]: ...

    def mesh_snapshot(self, account: str, region: str, mesh: str) -> MeshSnapshot | None: ...

    def subscribe(self, callback: Subscriber) -> None: ...

    def unsubscribe(self, callback: Subscriber) -> None: ...
