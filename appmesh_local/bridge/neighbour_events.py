"""Turn neighbour-service changes into reconciler work: which meshes to re-translate.

A Cloud Map or ACM change can matter to any mesh in its region: a shared mesh (owner
account O) holds virtual nodes of other accounts, and which account's Cloud Map and ACM
serve them is the translator's choice. So every mesh of the region is marked dirty, with
what changed: the Cloud Map service (namespace, service) whose instances may differ, or "ACM
material". The build then redoes only the nodes discovered through that service (and their
clients), or the proxies that name ACM material; a mesh with neither costs a lookup in its
dependency index, never a push. Runs on the request thread: one store read of mesh keys,
then enqueue only.
"""

from __future__ import annotations

import logging
from typing import Callable, Protocol, Sequence

from appmesh_local.store.protocols import MeshKey
from appmesh_local.translate.changes import EVERYTHING, MeshChanges

log = logging.getLogger(__name__)


class MeshKeys(Protocol):
    def mesh_keys(self) -> Sequence[MeshKey]: ...


class DirtyMarker(Protocol):
    def mark_dirty(self, key: MeshKey, changes: MeshChanges = EVERYTHING) -> None: ...


def changes_of(detail: tuple[str, ...]) -> MeshChanges:
    """`on_change` passes (namespace, service): that Cloud Map service; `on_tls_change` nothing: ACM."""
    if len(detail) == 2:
        return MeshChanges(cloud_map=frozenset({(detail[0], detail[1])}))
    return MeshChanges(secrets=True) if not detail else EVERYTHING


def mark_region_dirty(store: MeshKeys, reconciler: DirtyMarker) -> Callable[..., None]:
    """A listener for NeighbourApis' `on_change(account, region, namespace, service)` and
    `on_tls_change(account, region)`."""

    def listener(account: str, region: str, *detail: str) -> None:
        changes = changes_of(detail)
        for key in store.mesh_keys():
            if key[1] == region:
                reconciler.mark_dirty(key, changes)
        log.debug("neighbour change in %s/%s %s: meshes of the region marked", account, region, detail)

    return listener
