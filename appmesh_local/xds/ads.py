"""The gRPC `AggregatedDiscoveryService`: SotW and delta streams over one cache and one status table.

Each response is written with a watch on how long the write stays blocked. A peer that does not
read what we send (HTTP/2 flow control holds the write) while it keeps sending requests is
hostile or broken; one that reads nothing for `stall_after_s` is stalled. Either is logged with
the reason, dropped from status and disconnected (`xds.peers`), so that what it costs is one
pending response and a bounded read-ahead (`stream.MAX_PENDING_REQUESTS`), for a bounded time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from typing import Any, AsyncIterator

import grpc
from envoy.service.discovery.v3 import ads_pb2_grpc, discovery_pb2

from appmesh_local.xds.auth import XdsAuth
from appmesh_local.xds.cache import SnapshotCache
from appmesh_local.xds.delta import DeltaStream
from appmesh_local.xds.peers import disconnect_peer
from appmesh_local.xds.sotw import SotwStream
from appmesh_local.xds.status import Status
from appmesh_local.xds.stream import Authorize, StreamBase

log = logging.getLogger(__name__)
SERVICE = "envoy.service.discovery.v3.AggregatedDiscoveryService"
SOTW_METHOD = f"/{SERVICE}/StreamAggregatedResources"  # the HTTP/2 :path a signature covers
DELTA_METHOD = f"/{SERVICE}/DeltaAggregatedResources"


@dataclass(frozen=True)
class FlowLimits:
    """When a peer that does not read our responses is cut off.

    `hostile_after_s`: a write blocked this long while the peer filled its read-ahead with
    requests (Envoy waits for our answers before it sends more; a flood while not reading is no
    Envoy). `stall_after_s`: a write blocked this long whatever the peer does; generous, because
    an Envoy busy applying a large config may not read for a while.
    """

    hostile_after_s: float = 10.0
    stall_after_s: float = 120.0
    check_every_s: float = 1.0


class AdsServicer(ads_pb2_grpc.AggregatedDiscoveryServiceServicer):
    """Each RPC runs one stream; a stream's failure ends that stream, never the server."""

    def __init__(
        self, cache: SnapshotCache, status: Status, limits: FlowLimits | None = None, auth: XdsAuth | None = None
    ) -> None:
        """`auth`: when given, every stream must present credentials that open the proxy it names."""
        self.cache = cache
        self.status = status
        self.limits = limits or FlowLimits()
        self.auth = auth

    async def StreamAggregatedResources(
        self,
        request_iterator: AsyncIterator[discovery_pb2.DiscoveryRequest],
        context: grpc.aio.ServicerContext,
    ) -> None:
        stream = SotwStream(self.cache, self.status, context.peer(), self._authorizer(SOTW_METHOD, context))
        await self._run(stream, request_iterator, context)

    async def DeltaAggregatedResources(
        self,
        request_iterator: AsyncIterator[discovery_pb2.DeltaDiscoveryRequest],
        context: grpc.aio.ServicerContext,
    ) -> None:
        stream = DeltaStream(self.cache, self.status, context.peer(), self._authorizer(DELTA_METHOD, context))
        await self._run(stream, request_iterator, context)

    def _authorizer(self, method: str, context: grpc.aio.ServicerContext) -> Authorize | None:
        """The stream's credentials, read now; checked against the node its first request names."""
        auth = self.auth
        if auth is None:
            return None
        presented = auth.inspect(method, tuple(context.invocation_metadata() or ()))
        return lambda proxy, node_id: auth.authorize(presented, proxy, node_id)

    async def _run(self, stream: StreamBase, requests: AsyncIterator[Any], context: grpc.aio.ServicerContext) -> None:
        async with contextlib.aclosing(stream.serve(requests)) as responses:
            async for response in responses:
                reason = await self._write(stream, context, response)
                if reason is not None:
                    self._cut_off(stream, context, reason)
                    return
        if stream.refusal is not None:
            log.warning(
                "ADS %s stream of %r from %s refused: %s",
                stream.kind,
                stream.node_id,
                stream.peer,
                stream.refusal.reason,
            )
            code = (
                grpc.StatusCode.PERMISSION_DENIED if stream.refusal.authenticated else grpc.StatusCode.UNAUTHENTICATED
            )
            await context.abort(code, stream.refusal.reason)
        await _end(stream, context)

    async def _write(self, stream: StreamBase, context: grpc.aio.ServicerContext, response: Any) -> str | None:
        """Write `response`; None once written, else why the peer is cut off (the write is abandoned)."""
        write = asyncio.ensure_future(context.write(response))
        loop = asyncio.get_running_loop()
        started = loop.time()
        while True:
            done, _ = await asyncio.wait({write}, timeout=self.limits.check_every_s)
            if done:
                write.result()
                return None
            blocked = loop.time() - started
            if stream.backlogged() and blocked >= self.limits.hostile_after_s:
                reason = (
                    f"it has not read a response for {blocked:.0f} s while it kept sending requests "
                    f"(read-ahead full): stalled or hostile client"
                )
            elif blocked >= self.limits.stall_after_s:
                reason = f"it has not read a response for {blocked:.0f} s: stalled client"
            else:
                continue
            write.add_done_callback(_consume)  # completes (with an error) once the connection is gone
            return reason

    def _cut_off(self, stream: StreamBase, context: grpc.aio.ServicerContext, reason: str) -> None:
        peer = context.peer()
        who = stream.node_id or "(node not yet named)"
        disconnected = disconnect_peer(peer)
        log.warning(
            "ADS %s stream of %s from %s disconnected: %s%s",
            stream.kind,
            who,
            peer,
            reason,
            "" if disconnected else " (connection left to keepalive and max connection age)",
        )
        stream.status.disconnected(stream.record, reason)


def _consume(write: asyncio.Future[Any]) -> None:
    if not write.cancelled():
        write.exception()  # retrieved: an abandoned write's failure is expected, not news


async def _end(stream: StreamBase, context: grpc.aio.ServicerContext) -> None:
    """A stream whose requests could not be read ends with INVALID_ARGUMENT (the server goes on)."""
    if stream.read_error is not None:
        await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"cannot read request: {stream.read_error}")


def add_to_server(
    server: grpc.aio.Server,
    cache: SnapshotCache,
    status: Status,
    limits: FlowLimits | None = None,
    auth: XdsAuth | None = None,
) -> AdsServicer:
    servicer = AdsServicer(cache, status, limits, auth)
    ads_pb2_grpc.add_AggregatedDiscoveryServiceServicer_to_server(servicer, server)
    return servicer
