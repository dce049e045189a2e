"""What changed in one mesh since its previous translation: the input of an incremental build.

The reconciler folds the store's change events (kind, parent, name) and the neighbours' events
(a Cloud Map service's instances, ACM material) into one `MeshChanges` per rebuild, so the
translator and the builder redo only what depends on them (`translate.dependencies`). Anything
the reconciler cannot name precisely (the first build, a mark without detail, a lost event) is
`EVERYTHING`: a full translation, as before incremental builds existed.
"""

from __future__ import annotations

from dataclasses import dataclass

from appmesh_local.store.records import MESH

ResourceName = tuple[str, str, str]  # (kind, parent, name) as in ChangeEvent and ResourceKey
CloudMapName = tuple[str, str]  # (namespace name, service name) as an awsCloudMap node names them


@dataclass(frozen=True)
class MeshChanges:
    """Resources written (created, updated or deleted), Cloud Map services whose instances may have
    changed, and whether ACM / ACM PCA material may have changed. `everything`: translate it all."""

    resources: frozenset[ResourceName] = frozenset()
    cloud_map: frozenset[CloudMapName] = frozenset()
    secrets: bool = False
    everything: bool = False

    def __or__(self, other: MeshChanges) -> MeshChanges:
        if self.everything or other.everything:
            return EVERYTHING
        return MeshChanges(
            resources=self.resources | other.resources,
            cloud_map=self.cloud_map | other.cloud_map,
            secrets=self.secrets or other.secrets,
        )

    @property
    def whole_mesh(self) -> bool:
        """True when nothing short of a full translation is correct: `everything`, or the mesh's own
        spec changed (its egress filter and IP preference reach every proxy)."""
        return self.everything or any(kind == MESH for kind, _, _ in self.resources)

    @classmethod
    def resource(cls, kind: str, parent: str, name: str) -> MeshChanges:
        return cls(resources=frozenset({(kind, parent, name)}))


EVERYTHING = MeshChanges(everything=True)
NOTHING = MeshChanges()
