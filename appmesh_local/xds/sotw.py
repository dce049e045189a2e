"""State-of-the-world ADS (`StreamAggregatedResources`): one stream, every type, full sets.

Protocol points (xDS REST/gRPC protocol doc, "ACK/NACK and resource type instance version"):
- a request whose `response_nonce` is not the last nonce we sent for the type is stale: ignored;
- `error_detail` set = NACK of the version we sent with that nonce; that version is never resent,
  and nothing more is sent for the type until its snapshot version changes (no NACK loop);
- LDS/CDS are answered with every resource; EDS/RDS/SDS with the names the request lists;
- a pushed listener or cluster that is new or changed is followed, in the same push, by the
  route configurations, endpoints and secrets it awaits (`references`), even unchanged ones:
  Envoy warms the new object until they arrive and asks for nothing it already subscribes to.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Mapping

from envoy.config.core.v3 import base_pb2
from envoy.service.discovery.v3 import discovery_pb2

from appmesh_local.xds.proxy_config import TYPE_URLS
from appmesh_local.xds.references import REFERRED_TYPES, REFERRING_TYPES, awaited_of
from appmesh_local.xds.snapshot import PUSH_ORDER, WILDCARD_TYPES, Resource, TypeSnapshot
from appmesh_local.xds.stream import StreamBase

CONTROL_PLANE = base_pb2.ControlPlane(identifier="appmesh-local")


@dataclass
class SotwTypeState:
    names: frozenset[str] = frozenset()
    requested: bool = False
    must_answer: bool = False  # an initial request not answered yet
    fresh: bool = True  # Envoy holds no config of this type from this server run
    nonce: str = ""
    sent_version: str | None = None
    sent_key: tuple[str, frozenset[str]] | None = None
    held: Mapping[str, Resource] = field(default_factory=dict)  # LDS/CDS: what Envoy got from us last
    owed: set[str] = field(default_factory=set)  # names a pushed listener/cluster awaits: send even if unchanged


class SotwStream(StreamBase):
    kind = "sotw"

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.types: dict[str, SotwTypeState] = {}

    def on_request(self, request: discovery_pb2.DiscoveryRequest) -> Iterable[discovery_pb2.DiscoveryResponse]:
        type_url = request.type_url
        if type_url not in TYPE_URLS:
            self.status.stream_error(self.record, f"ignored request for unsupported type {type_url!r}")
            return []
        state = self.types.setdefault(type_url, SotwTypeState())
        if request.response_nonce:
            if request.response_nonce != state.nonce:
                return []  # stale: a newer response is on its way to Envoy
            if request.HasField("error_detail"):
                self.nack(type_url, state.sent_version or "", request.error_detail.message, request.error_detail.code)
                state.held = {}  # Envoy kept what it had before: treat everything as new next time
            else:
                self.status.acked(self.record, type_url, request.version_info)
                state.fresh = False
        else:
            # A first request on this stream (also after a reconnect): always answer it.
            state.requested = True
            state.must_answer = True
            state.fresh = not request.version_info
        state.names = frozenset(request.resource_names)
        out = self._maybe_send(type_url, state)
        if out and type_url in REFERRING_TYPES:
            out.extend(self._settle_owed())
        return out

    def on_change(self) -> Iterable[discovery_pb2.DiscoveryResponse]:
        out: list[discovery_pb2.DiscoveryResponse] = []
        for type_url in PUSH_ORDER:
            state = self.types.get(type_url)
            if state is not None and state.requested:
                out.extend(self._maybe_send(type_url, state))
        return out

    def _settle_owed(self) -> list[discovery_pb2.DiscoveryResponse]:
        """Responses for what a listener or cluster just pushed awaits (in push order)."""
        out: list[discovery_pb2.DiscoveryResponse] = []
        for type_url in PUSH_ORDER:
            state = self.types.get(type_url)
            if type_url in REFERRED_TYPES and state is not None and state.owed:
                out.extend(self._maybe_send(type_url, state))
        return out

    def _owe(self, type_snap: TypeSnapshot, state: SotwTypeState) -> None:
        """Note what the new or changed resources of this push will make Envoy wait for."""
        held = state.held
        for name, res in type_snap.resources.items():
            before = held.get(name)
            if before is res or (before is not None and before.digest == res.digest):
                continue  # snapshots reuse unchanged Resource objects: mostly an identity check
            for wanted_type, wanted in awaited_of(res):
                other = self.types.get(wanted_type)
                if other is not None and wanted in other.names:
                    other.owed.add(wanted)
        state.held = type_snap.resources

    def _maybe_send(self, type_url: str, state: SotwTypeState) -> list[discovery_pb2.DiscoveryResponse]:
        snap = self.snapshot()
        if snap is None or type_url not in snap.types:
            return []  # unknown node: nothing yet; the cache watch wakes us when it appears
        type_snap = snap.types[type_url]
        version = type_snap.version
        wildcard = type_url in WILDCARD_TYPES
        names = frozenset() if wildcard else state.names
        key = (version, names)
        if self.blocked(type_url, version, state.fresh):
            return []
        if not state.must_answer and not state.owed and key == state.sent_key:
            return []
        if not wildcard and not names and not state.must_answer:
            return []  # Envoy dropped every name of this type: nothing to say
        if wildcard:
            resources = [type_snap.resources[n].packed for n in sorted(type_snap.resources)]
        else:
            resources = [type_snap.resources[n].packed for n in sorted(names) if n in type_snap.resources]
        nonce = self.next_nonce()
        response = discovery_pb2.DiscoveryResponse(
            version_info=version, type_url=type_url, nonce=nonce, control_plane=CONTROL_PLANE
        )
        response.resources.extend(resources)
        state.nonce, state.sent_version, state.sent_key, state.must_answer = nonce, version, key, False
        state.owed.clear()
        if type_url in REFERRING_TYPES:
            self._owe(type_snap, state)
        self.status.sent(self.record, type_url, version)
        return [response]
