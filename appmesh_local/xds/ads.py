"""The gRPC `AggregatedDiscoveryService`: SotW and delta streams over one cache and one status table."""

from __future__ import annotations

from typing import AsyncIterator

import grpc
from envoy.service.discovery.v3 import ads_pb2_grpc, discovery_pb2

from appmesh_local.xds.cache import SnapshotCache
from appmesh_local.xds.delta import DeltaStream
from appmesh_local.xds.sotw import SotwStream
from appmesh_local.xds.status import Status


class AdsServicer(ads_pb2_grpc.AggregatedDiscoveryServiceServicer):
    """Each RPC is an async generator; a stream's failure ends that stream, never the server."""

    def __init__(self, cache: SnapshotCache, status: Status) -> None:
        self.cache = cache
        self.status = status

    async def StreamAggregatedResources(
        self,
        request_iterator: AsyncIterator[discovery_pb2.DiscoveryRequest],
        context: grpc.aio.ServicerContext,
    ) -> AsyncIterator[discovery_pb2.DiscoveryResponse]:
        stream = SotwStream(self.cache, self.status, context.peer())
        async for response in stream.serve(request_iterator):
            yield response
        await _end(stream, context)

    async def DeltaAggregatedResources(
        self,
        request_iterator: AsyncIterator[discovery_pb2.DeltaDiscoveryRequest],
        context: grpc.aio.ServicerContext,
    ) -> AsyncIterator[discovery_pb2.DeltaDiscoveryResponse]:
        stream = DeltaStream(self.cache, self.status, context.peer())
        async for response in stream.serve(request_iterator):
            yield response
        await _end(stream, context)


async def _end(stream: SotwStream | DeltaStream, context: grpc.aio.ServicerContext) -> None:
    """A stream whose requests could not be read ends with INVALID_ARGUMENT (the server goes on)."""
    if stream.read_error is not None:
        await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"cannot read request: {stream.read_error}")


def add_to_server(server: grpc.aio.Server, cache: SnapshotCache, status: Status) -> AdsServicer:
    servicer = AdsServicer(cache, status)
    ads_pb2_grpc.add_AggregatedDiscoveryServiceServicer_to_server(servicer, server)
    return servicer
