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

from appmesh_local.xds.cache import SnapshotCache
from appmesh_local.xds.delta import DeltaStream
from appmesh_local.xds.peers import disconnect_peer
from appmesh_local.xds.sotw import SotwStream
from appmesh_local.xds.status import Status
from appmesh_local.xds.stream import StreamBase

log = logging.getLogger(__name__)


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

    def __init__(self, cache: SnapshotCache, status: Status, limits: FlowLimits | None = None) -> None:
        self.cache = cache
        self.status = status
        self.limits = limits or FlowLimits()

    async def StreamAggregatedResources(
        self,
        request_iterator: AsyncIterator[discovery_pb2.DiscoveryRequest],
        context: grpc.aio.ServicerContext,
    ) -> None:
        await self._run(SotwStream(self.cache, self.status, context.peer()), request_iterator, context)

    async def DeltaAggregatedResources(
        self,
        request_iterator: AsyncIterator[discovery_pb2.DeltaDiscoveryRequest],
        context: grpc.aio.ServicerContext,
    ) -> None:
        await self._run(DeltaStream(self.cache, self.status, context.peer()), request_iterator, context)

    async def _run(self, stream: StreamBase, requests: AsyncIterator[Any], context: grpc.aio.ServicerContext) -> None:
        async with contextlib.aclosing(stream.serve(requests)) as responses:
            async for response in responses:
                reason = await self._write(stream, context, response)
                if reason is not None:
                    self._cut_off(stream, context, reason)
                    return
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
    server: grpc.aio.Server, cache: SnapshotCache, status: Status, limits: FlowLimits | None = None
) -> AdsServicer:
    servicer = AdsServicer(cache, status, limits)
    ads_pb2_grpc.add_AggregatedDiscoveryServiceServicer_to_server(servicer, server)
    return servicer
