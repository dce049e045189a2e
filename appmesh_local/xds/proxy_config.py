"""The seam between the translator (mesh → IR → Envoy protos) and the ADS server.

The translator produces a `MeshConfig` for one mesh at one store revision; the
snapshot cache turns each `ProxyConfig` into versioned per-node snapshots.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Mapping

from google.protobuf.message import Message

from appmesh_local.records import record

LISTENER = "type.googleapis.com/envoy.config.listener.v3.Listener"
ROUTE_CONFIGURATION = "type.googleapis.com/envoy.config.route.v3.RouteConfiguration"
CLUSTER = "type.googleapis.com/envoy.config.cluster.v3.Cluster"
CLUSTER_LOAD_ASSIGNMENT = "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment"
SECRET = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret"
TYPE_URLS = (CLUSTER, CLUSTER_LOAD_ASSIGNMENT, LISTENER, ROUTE_CONFIGURATION, SECRET)

# A proxy is a virtual node or a virtual gateway of one mesh.
ProxyKind = str  # "virtualNode" | "virtualGateway"
ProxyKey = tuple[ProxyKind, str, str]  # (kind, name, placement key): "" as App Mesh placed it
_SERIALS = itertools.count(1)


def next_serial() -> int:
    """A number no other MeshConfig of this process carries (what a `ConfigDelta` is relative to)."""
    return next(_SERIALS)


@record(slots=True)  # one per proxy per change: no __dict__ to make and free
class ProxyConfig:
    """Everything one Envoy (one virtual node or gateway) should hold, by type URL then name."""

    kind: ProxyKind
    name: str
    resources: Mapping[str, Mapping[str, Message]]


@dataclass(frozen=True)
class MeshConfig:
    """The translation of one mesh: a config per proxy, plus problems found on the way.

    Problems are things App Mesh silently dropped (a route target port that
    matches no listener, a backend with no provider...): shown by `status`.
    Failures are proxies that could not be translated or built, with the reason;
    `proxies` holds their last good config when they had one (it is kept, not removed).
    `placed` holds the configs of proxies placed elsewhere than App Mesh placed them (host
    mode), keyed by (kind, name, placement key): built only for placements an Envoy asked for.
    """

    account: str
    region: str
    mesh: str
    revision: int
    proxies: Mapping[tuple[ProxyKind, str], ProxyConfig] = field(default_factory=dict)
    problems: tuple[str, ...] = ()
    failures: Mapping[tuple[ProxyKind, str], str] = field(default_factory=dict)
    placed: Mapping[tuple[ProxyKind, str, str], ProxyConfig] = field(default_factory=dict)
    serial: int = 0  # 0: not numbered (a delta can never be relative to it)
    delta: ConfigDelta | None = None  # how it differs from an earlier MeshConfig; None: not known
    incomplete: bool = False  # a round of a bigger build: the next build of the mesh goes on with it


@dataclass(frozen=True)
class ConfigDelta:
    """The proxies whose config object differs between MeshConfig number `base` and this one.

    Every proxy not named keeps the identical ProxyConfig object it had in `base`, so a consumer that
    applied `base` may look at `changed` and `removed` only (the snapshot cache does), in time
    proportional to the change. Keys are (kind, name, placement key), "" for App Mesh's placement.
    """

    base: int
    changed: frozenset[ProxyKey] = frozenset()
    removed: frozenset[ProxyKey] = frozenset()
