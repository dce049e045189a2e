"""Incremental ADS (`DeltaAggregatedResources`): only what changed, per-resource versions.

Per-resource versions are the digests of their serialized bytes, so they survive a
server restart (an Envoy that reconnects with `initial_resource_versions` gets only
what really differs); `system_version_info` is the type's snapshot version, which
is what ACKs and NACKs are recorded against.

A listener or cluster sent as new or changed is followed, in the same push, by the route
configurations, endpoints and secrets it awaits (`references`) that Envoy subscribes to,
even unchanged ones: Envoy warms the new object until they arrive, and re-subscribes to
nothing, since it already holds those names.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable

from envoy.service.discovery.v3 import discovery_pb2

from appmesh_local.xds.proxy_config import TYPE_URLS
from appmesh_local.xds.references import REFERRED_TYPES, REFERRING_TYPES, awaited_of
from appmesh_local.xds.snapshot import PUSH_ORDER, WILDCARD_TYPES, Resource
from appmesh_local.xds.sotw import CONTROL_PLANE
from appmesh_local.xds.stream import StreamBase


@dataclass
class DeltaTypeState:
    wildcard: bool = False
    names: set[str] = field(default_factory=set)
    known: dict[str, str] = field(default_factory=dict)  # what Envoy holds: name -> version
    requested: bool = False
    must_answer: bool = False
    fresh: bool = True
    nonce: str = ""
    sent_version: str | None = None


class DeltaStream(StreamBase):
    kind = "delta"

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.types: dict[str, DeltaTypeState] = {}

    def on_request(
        self, request: discovery_pb2.DeltaDiscoveryRequest
    ) -> Iterable[discovery_pb2.DeltaDiscoveryResponse]:
        type_url = request.type_url
        if type_url not in TYPE_URLS:
            self.status.stream_error(self.record, f"ignored request for unsupported type {type_url!r}")
            return []
        state = self.types.get(type_url)
        subscribe, unsubscribe = set(request.resource_names_subscribe), set(request.resource_names_unsubscribe)
        if state is None:
            # First request of the type on this stream: LDS/CDS with no names is a wildcard subscription.
            state = self.types[type_url] = DeltaTypeState()
            state.requested = state.must_answer = True
            state.wildcard = "*" in subscribe or (type_url in WILDCARD_TYPES and not subscribe)
            state.names = subscribe - {"*"}
            state.known = dict(request.initial_resource_versions)
            state.fresh = not state.known
        else:
            if "*" in subscribe:
                state.wildcard = True
            if "*" in unsubscribe:
                state.wildcard = False
            for name in subscribe - {"*"}:
                state.names.add(name)
                state.known.pop(name, None)  # a (re)subscription is answered with the resource
            for name in unsubscribe - {"*"}:
                state.names.discard(name)
                state.known.pop(name, None)
        if request.response_nonce and request.response_nonce == state.nonce:
            if request.HasField("error_detail"):
                self.nack(type_url, state.sent_version or "", request.error_detail.message, request.error_detail.code)
            elif state.sent_version is not None:
                self.status.acked(self.record, type_url, state.sent_version)
                state.fresh = False
        out = self._maybe_send(type_url, state)
        if out and type_url in REFERRING_TYPES:
            for referred in PUSH_ORDER:
                other = self.types.get(referred)
                if referred in REFERRED_TYPES and other is not None and other.requested:
                    out.extend(self._maybe_send(referred, other))
        return out

    def on_change(self) -> Iterable[discovery_pb2.DeltaDiscoveryResponse]:
        out: list[discovery_pb2.DeltaDiscoveryResponse] = []
        for type_url in PUSH_ORDER:
            state = self.types.get(type_url)
            if state is not None and state.requested:
                out.extend(self._maybe_send(type_url, state))
        return out

    def _maybe_send(self, type_url: str, state: DeltaTypeState) -> list[discovery_pb2.DeltaDiscoveryResponse]:
        snap = self.snapshot()
        if snap is None or type_url not in snap.types:
            return []
        type_snap = snap.types[type_url]
        version = type_snap.version
        if self.blocked(type_url, version, state.fresh):
            return []
        if state.wildcard:
            wanted = dict(type_snap.resources)
        else:
            wanted = {n: type_snap.resources[n] for n in state.names if n in type_snap.resources}
        updated = [r for n, r in sorted(wanted.items()) if state.known.get(n) != r.digest]
        removed = sorted(n for n in state.known if n not in wanted)
        if not updated and not removed and not state.must_answer:
            return []
        nonce = self.next_nonce()
        response = discovery_pb2.DeltaDiscoveryResponse(
            system_version_info=version,
            type_url=type_url,
            nonce=nonce,
            control_plane=CONTROL_PLANE,
            removed_resources=removed,
        )
        for res in updated:
            response.resources.add(name=res.name, version=res.digest).resource.CopyFrom(res.packed)
            state.known[res.name] = res.digest
            if type_url in REFERRING_TYPES:
                self._owe(res)
        for name in removed:
            del state.known[name]
        state.nonce, state.sent_version, state.must_answer = nonce, version, False
        self.status.sent(self.record, type_url, version)
        return [response]

    def _owe(self, resource: Resource) -> None:
        """Envoy will warm `resource` (new or changed) until what it awaits arrives: forget that
        Envoy holds those, so the next response of their type carries them again."""
        for wanted_type, wanted in awaited_of(resource):
            other = self.types.get(wanted_type)
            if other is not None and (other.wildcard or wanted in other.names):
                other.known.pop(wanted, None)
