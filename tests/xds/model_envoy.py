"""A scripted ADS client that subscribes and warms like Envoy, to check what a push leaves waiting.

Envoy's rules, as the xDS protocol states them ("Resource warming"): a listener or cluster
that arrives new or changed is warming until every resource it names over ADS has arrived
*after* it (a ClusterLoadAssignment, a RouteConfiguration, a Secret); names it already
subscribes to are not asked for again, new names are (SotW: the next request lists them;
delta: `resource_names_subscribe`). Every response is ACKed. After the server goes quiet,
`waiting()` is what a real Envoy would still be warming: it must be empty.
"""

from __future__ import annotations

from typing import Any

from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.endpoint.v3 import endpoint_pb2
from envoy.config.listener.v3 import listener_pb2
from envoy.config.route.v3 import route_pb2
from envoy.extensions.transport_sockets.tls.v3 import secret_pb2
from envoy.service.discovery.v3 import discovery_pb2
from google.protobuf import any_pb2

from appmesh_local.xds.proxy_config import CLUSTER, CLUSTER_LOAD_ASSIGNMENT, LISTENER, ROUTE_CONFIGURATION, SECRET
from appmesh_local.xds.references import REFERRED_TYPES, awaited
from tests.xds.ads_client import AdsClient

_MESSAGES = {CLUSTER: cluster_pb2.Cluster, LISTENER: listener_pb2.Listener}  # the types that name others
_ALL_MESSAGES = {
    **_MESSAGES,
    CLUSTER_LOAD_ASSIGNMENT: endpoint_pb2.ClusterLoadAssignment,
    ROUTE_CONFIGURATION: route_pb2.RouteConfiguration,
    SECRET: secret_pb2.Secret,
}


class ModelEnvoy:
    def __init__(self, port: int, node_id: str, delta: bool) -> None:
        self.ads = AdsClient(port, delta=delta)
        self.delta = delta
        self.node = AdsClient.node(node_id)
        self.held: dict[str, dict[str, bytes]] = {}  # type URL → name → serialized resource
        self.warming: dict[tuple[str, str], set[tuple[str, str]]] = {}  # object → what it still awaits
        self.subscribed: dict[str, set[str]] = {t: set() for t in REFERRED_TYPES}
        self.last: dict[str, tuple[str, str]] = {}  # type URL → (version, nonce) of the last response
        self.received: list[Any] = []

    def start(self) -> None:
        """Subscribe to clusters and listeners (wildcard), as Envoy does at boot."""
        for type_url in (CLUSTER, LISTENER):
            if self.delta:
                first = discovery_pb2.DeltaDiscoveryRequest(type_url=type_url)
                if type_url == CLUSTER:
                    first.node.CopyFrom(self.node)
                self.ads.send(first)
            else:
                self.ads.request(type_url, node=self.node if type_url == CLUSTER else None)

    def settle(self, quiet: float = 0.4) -> list[Any]:
        """Process responses until the server says nothing for `quiet` seconds; return them."""
        got = []
        while (response := self.ads.recv(quiet)) is not None:
            self._apply(response)
            got.append(response)
        self.received.extend(got)
        return got

    def waiting(self) -> dict[tuple[str, str], set[tuple[str, str]]]:
        return {key: wanted for key, wanted in self.warming.items() if wanted}

    def close(self) -> None:
        self.ads.close()

    # ---- Envoy's side of the protocol ------------------------------------------------------
    def _apply(self, response: Any) -> None:
        type_url = response.type_url
        held = self.held.setdefault(type_url, {})
        if self.delta:
            arrived = {r.name: r.resource for r in response.resources}
            for name in response.removed_resources:
                held.pop(name, None)
                self.warming.pop((type_url, name), None)
        else:
            arrived = {self._name(type_url, r): r for r in response.resources}
            if type_url in _MESSAGES:  # SotW wildcard types: the response is the whole set
                for name in [n for n in held if n not in arrived]:
                    del held[name]
                    self.warming.pop((type_url, name), None)
        for name, packed in arrived.items():
            changed = held.get(name) != packed.value
            held[name] = packed.value
            for wanted in self.warming.values():
                wanted.discard((type_url, name))  # delivered to every watcher of that name
            if changed and type_url in _MESSAGES:
                message = _MESSAGES[type_url].FromString(packed.value)
                self.warming[(type_url, name)] = set(awaited(type_url, message, name))
        self.last[type_url] = (response.system_version_info if self.delta else response.version_info, response.nonce)
        self._ack(type_url, response)
        if type_url in _MESSAGES:
            self._resubscribe()

    def _wanted_names(self) -> dict[str, set[str]]:
        wanted: dict[str, set[str]] = {t: set() for t in REFERRED_TYPES}
        for type_url, messages in self.held.items():
            if type_url not in _MESSAGES:
                continue
            for name, data in messages.items():
                for wanted_type, wanted_name in awaited(type_url, _MESSAGES[type_url].FromString(data), name):
                    wanted[wanted_type].add(wanted_name)
        return wanted

    def _ack(self, type_url: str, response: Any) -> None:
        if self.delta:
            self.ads.send(discovery_pb2.DeltaDiscoveryRequest(type_url=type_url, response_nonce=response.nonce))
        else:
            names = () if type_url in _MESSAGES else tuple(sorted(self.subscribed.get(type_url, ())))
            self.ads.request(type_url, names=names, version=response.version_info, nonce=response.nonce)

    def _resubscribe(self) -> None:
        """Ask for names the held listeners and clusters newly reference; drop the others."""
        for type_url, names in self._wanted_names().items():
            before = self.subscribed[type_url]
            if names == before:
                continue
            self.subscribed[type_url] = names
            if self.delta:
                self.ads.send(
                    discovery_pb2.DeltaDiscoveryRequest(
                        type_url=type_url,
                        resource_names_subscribe=sorted(names - before),
                        resource_names_unsubscribe=sorted(before - names),
                    )
                )
            else:
                version, nonce = self.last.get(type_url, ("", ""))
                self.ads.request(type_url, names=tuple(sorted(names)), version=version, nonce=nonce)

    @staticmethod
    def _name(type_url: str, packed: any_pb2.Any) -> str:
        message = _ALL_MESSAGES[type_url].FromString(packed.value)
        return message.cluster_name if type_url == CLUSTER_LOAD_ASSIGNMENT else message.name
