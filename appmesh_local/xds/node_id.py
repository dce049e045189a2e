"""Envoy node ids as App Mesh read them: `APPMESH_RESOURCE_ARN` in `node.id`.

Accepted forms (docs/reference.md#node-id):
- `arn:aws:appmesh:<region>:<account>:mesh/<mesh>/virtualNode/<name>`
- `mesh/<mesh>/virtualNode/<name>` (also `virtualGateway`)
- the mesh segment may be `<mesh>@<meshOwnerAccount>` in either form.
The short form carries no account or region: they come from the bootstrap's
`node.metadata` (`appmesh_local.account`, `appmesh_local.region`), else the
emulator's defaults. `appmesh_local.host` in the metadata places the proxy in host mode
(`ir.placement.HostPlacement`): its key becomes `ProxyRef.placement`, so each host-mode
Envoy gets a snapshot of its own. This module is the one place that knows these formats.
"""

from __future__ import annotations

import re
from typing import Any, Mapping, NamedTuple

from appmesh_local.ir.placement import METADATA_KEY as METADATA_HOST
from appmesh_local.ir.placement import HostPlacement
from appmesh_local.settings import DEFAULT_ACCOUNT, DEFAULT_REGION
from appmesh_local.store.records import PROXY_KINDS

METADATA_ACCOUNT = "appmesh_local.account"
METADATA_REGION = "appmesh_local.region"
# Where the proxy's Envoy admin interface answers, so the console can read its stats.
METADATA_ADMIN = "appmesh_local.admin"

_ARN = re.compile(r"^arn:aws[a-zA-Z-]*:appmesh(?:-preview)?:(?P<region>[^:]*):(?P<account>[^:]*):(?P<path>.*)$")
_ACCOUNT = re.compile(r"^\d{12}$")


class NodeIdError(ValueError):
    """The node id is not an App Mesh resource id (the Envoy gets no config)."""


class ProxyRef(NamedTuple):
    """One proxy (virtual node or virtual gateway) of one mesh: the cache key of a snapshot.

    A named tuple, not a dataclass: a change that reaches every proxy of a 1,000-node mesh makes,
    hashes and sorts these thousands of times, and a tuple's construction, hash, equality and
    ordering (field by field, as a dataclass with `order=True` compares) run in C."""

    account: str  # the mesh owner's account: the store's mesh key
    region: str
    mesh: str
    kind: str  # "virtualNode" | "virtualGateway"
    name: str
    placement: str = ""  # "" as App Mesh placed proxies; else HostPlacement.key() (host mode)

    @property
    def mesh_key(self) -> tuple[str, str, str]:
        return (self.account, self.region, self.mesh)

    def short_id(self) -> str:
        """The `mesh/<mesh>/<kind>/<name>` form, as the k8s controller and our bootstrap write it."""
        return format_node_id(self.mesh, self.kind, self.name)

    def __str__(self) -> str:
        where = f" ({self.placement})" if self.placement else ""
        return f"{self.account}/{self.region}/mesh/{self.mesh}/{self.kind}/{self.name}{where}"


def format_node_id(mesh: str, kind: str, name: str, mesh_owner: str | None = None) -> str:
    """The short node id `mesh/<mesh>[@owner]/<kind>/<name>`."""
    if kind not in PROXY_KINDS:
        raise NodeIdError(f"proxy kind must be one of {PROXY_KINDS}, not {kind!r}")
    mesh_part = f"{mesh}@{mesh_owner}" if mesh_owner else mesh
    return f"mesh/{mesh_part}/{kind}/{name}"


def parse_node_id(node_id: str, metadata: Mapping[str, Any] | None = None) -> ProxyRef:
    """Resolve `node.id` (+ `node.metadata`) to the proxy it names; raise NodeIdError if it names none."""
    if not node_id:
        raise NodeIdError("node.id is empty (APPMESH_RESOURCE_ARN must be set)")
    metadata = metadata or {}
    region = _text(metadata.get(METADATA_REGION)) or DEFAULT_REGION
    account = _text(metadata.get(METADATA_ACCOUNT)) or DEFAULT_ACCOUNT
    path = node_id
    match = _ARN.match(node_id)
    if match:
        region = match["region"] or region
        account = match["account"] or account
        path = match["path"]
    parts = path.split("/")
    # The agent needs at least 4 parts: mesh/<mesh>/<type>/<name> (getMeshResourceFromNodeId).
    if len(parts) != 4 or parts[0] != "mesh":
        raise NodeIdError(f"node id {node_id!r} is not mesh/<mesh>/virtualNode|virtualGateway/<name>")
    mesh, kind, name = parts[1], parts[2], parts[3]
    if kind not in PROXY_KINDS:
        raise NodeIdError(f"node id {node_id!r}: resource type {kind!r} is not virtualNode or virtualGateway")
    if "@" in mesh:
        mesh, owner = mesh.split("@", 1)
        if not _ACCOUNT.match(owner):
            raise NodeIdError(f"node id {node_id!r}: mesh owner {owner!r} is not a 12-digit account")
        account = owner
    if not mesh or not name:
        raise NodeIdError(f"node id {node_id!r}: empty mesh or resource name")
    placement = ""
    if metadata.get(METADATA_HOST) is not None:
        try:
            placement = HostPlacement.from_metadata(metadata[METADATA_HOST]).key()
        except ValueError as exc:
            raise NodeIdError(f"node {node_id!r}: {exc}") from None
    return ProxyRef(account=account, region=region, mesh=mesh, kind=kind, name=name, placement=placement)


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""
