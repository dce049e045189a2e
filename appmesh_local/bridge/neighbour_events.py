"""Turn neighbour-service changes into reconciler work: which meshes to re-translate.

A Cloud Map or ACM change can matter to any mesh in its region: a shared mesh (owner
account O) holds virtual nodes of other accounts, and which account's Cloud Map and ACM
serve them is the translator's choice. So every mesh of the region is marked dirty. The
reconciler debounces, and unchanged meshes translate to unchanged snapshots, so
over-marking costs a rebuild, never a push. Runs on the request thread: one store read of
mesh keys, then enqueue only.
"""

from __future__ import annotations

import logging
from typing import Callable, Protocol, Sequence

from appmesh_local.store.protocols import MeshKey

log = logging.getLogger(__name__)


class MeshKeys(Protocol):
    def mesh_keys(self) -> Sequence[MeshKey]: ...


class DirtyMarker(Protocol):
    def mark_dirty(self, key: MeshKey) -> None: ...


def mark_region_dirty(store: MeshKeys, reconciler: DirtyMarker) -> Callable[..., None]:
    """A listener for NeighbourApis' `on_change` and `on_tls_change` (extra arguments ignored)."""

    def listener(account: str, region: str, *detail: str) -> None:
        for key in store.mesh_keys():
            if key[1] == region:
                reconciler.mark_dirty(key)
        log.debug("neighbour change in %s/%s %s: meshes of the region marked", account, region, detail)

    return listener
