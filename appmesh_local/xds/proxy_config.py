"""The seam between the translator (mesh → IR → Envoy protos) and the ADS server.

The translator produces a `MeshConfig` for one mesh at one store revision; the
snapshot cache turns each `ProxyConfig` into versioned per-node snapshots.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

from google.protobuf.message import Message

LISTENER = "type.googleapis.com/envoy.config.listener.v3.Listener"
ROUTE_CONFIGURATION = "type.googleapis.com/envoy.config.route.v3.RouteConfiguration"
CLUSTER = "type.googleapis.com/envoy.config.cluster.v3.Cluster"
CLUSTER_LOAD_ASSIGNMENT = "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment"
SECRET = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret"
TYPE_URLS = (CLUSTER, CLUSTER_LOAD_ASSIGNMENT, LISTENER, ROUTE_CONFIGURATION, SECRET)

# A proxy is a virtual node or a virtual gateway of one mesh.
ProxyKind = str  # "virtualNode" | "virtualGateway"


@dataclass(frozen=True)
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
    """

    account: str
    region: str
    mesh: str
    revision: int
    proxies: Mapping[tuple[ProxyKind, str], ProxyConfig] = field(default_factory=dict)
    problems: tuple[str, ...] = ()
    failures: Mapping[tuple[ProxyKind, str], str] = field(default_factory=dict)
