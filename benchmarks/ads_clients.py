"""Many lightweight SotW ADS clients in one process: stand-ins for connected Envoys.

    python -m benchmarks.ads_clients SPEC.json

SPEC: {"target": "127.0.0.1:PORT", "max_seconds": 120, "delta": false,
       "clients": [{"node_id": "...", "rds": [names], "eds": [names]}, ...]}
Each client opens its own channel (its own TCP connection, as each Envoy does),
subscribes like Envoy (CDS and LDS wildcard, RDS and EDS by name) on a state-of-the-world
stream, or on an incremental one (`DeltaAggregatedResources`) with "delta": true, ACKs every
response, and records (type, version, CLOCK_MONOTONIC time, resources in it, its bytes) of
each. It stops when a line arrives on stdin (or after max_seconds) and prints every record as
one JSON document on stdout.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import Any, Callable

import grpc
from envoy.config.core.v3 import base_pb2
from envoy.service.discovery.v3 import ads_pb2_grpc, discovery_pb2

CDS = "type.googleapis.com/envoy.config.cluster.v3.Cluster"
LDS = "type.googleapis.com/envoy.config.listener.v3.Listener"
RDS = "type.googleapis.com/envoy.config.route.v3.RouteConfiguration"
EDS = "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment"
SHORT = {CDS: "cds", LDS: "lds", RDS: "rds", EDS: "eds"}


Record = tuple[str, str, float, int, int]  # type, version, time, resources, bytes


def _subscriptions(spec: dict[str, Any]) -> dict[str, list[str]]:
    """As Envoy subscribes: CDS and LDS wildcard, RDS and EDS by name (types with no names are not asked)."""
    return {CDS: [], LDS: [], RDS: list(spec.get("rds", [])), EDS: list(spec.get("eds", []))}


def _asked(names: dict[str, list[str]]) -> list[str]:
    """The types a stream opens with, in Envoy's order: the wildcard ones, and the others it names resources of."""
    return [type_url for type_url in (CDS, EDS, LDS, RDS) if type_url in (CDS, LDS) or names[type_url]]


async def run_client(target: str, spec: dict[str, Any], log: list[Record], stop: asyncio.Event) -> None:
    """A state-of-the-world stream: every response ACKed with its version and nonce."""
    names = _subscriptions(spec)
    node = base_pb2.Node(id=spec["node_id"], cluster=spec["node_id"])
    first = [
        discovery_pb2.DiscoveryRequest(node=node, type_url=type_url, resource_names=names[type_url])
        for type_url in _asked(names)
    ]

    def ack(response: discovery_pb2.DiscoveryResponse) -> tuple[str, discovery_pb2.DiscoveryRequest]:
        return response.version_info, discovery_pb2.DiscoveryRequest(
            type_url=response.type_url,
            version_info=response.version_info,
            response_nonce=response.nonce,
            resource_names=names.get(response.type_url, []),
        )

    await _stream(target, "StreamAggregatedResources", first, ack, log, stop)


async def run_delta_client(target: str, spec: dict[str, Any], log: list[Record], stop: asyncio.Event) -> None:
    """As `run_client`, on an incremental stream: Envoy's subscriptions, an ACK (the nonce) per response."""
    names = _subscriptions(spec)
    node = base_pb2.Node(id=spec["node_id"], cluster=spec["node_id"])
    first = [
        discovery_pb2.DeltaDiscoveryRequest(node=node, type_url=type_url, resource_names_subscribe=names[type_url])
        for type_url in _asked(names)
    ]

    def ack(response: discovery_pb2.DeltaDiscoveryResponse) -> tuple[str, discovery_pb2.DeltaDiscoveryRequest]:
        return response.system_version_info, discovery_pb2.DeltaDiscoveryRequest(
            type_url=response.type_url, response_nonce=response.nonce
        )

    await _stream(target, "DeltaAggregatedResources", first, ack, log, stop)


async def _stream(
    target: str,
    method: str,
    first: list[Any],
    ack: Callable[[Any], tuple[str, Any]],
    log: list[Record],
    stop: asyncio.Event,
) -> None:
    """One ADS stream on its own channel: send `first`, then log each response and send `ack`'s answer
    (its version for the log, the request) until the server ends the stream or `stop` is set."""
    outbox: asyncio.Queue = asyncio.Queue()
    for request in first:
        outbox.put_nowait(request)

    async def requests():
        while True:
            item = await outbox.get()
            if item is None:
                return
            yield item

    async with grpc.aio.insecure_channel(target) as channel:
        stub = ads_pb2_grpc.AggregatedDiscoveryServiceStub(channel)
        call = getattr(stub, method)(requests())
        stopper = asyncio.ensure_future(stop.wait())
        try:
            while True:
                read = asyncio.ensure_future(call.read())
                done, _ = await asyncio.wait({read, stopper}, return_when=asyncio.FIRST_COMPLETED)
                if read not in done:
                    read.cancel()
                    return
                response = read.result()
                if response is grpc.aio.EOF:
                    return
                version, request = ack(response)
                short = SHORT.get(response.type_url, response.type_url)
                log.append((short, version, time.monotonic(), len(response.resources), response.ByteSize()))
                outbox.put_nowait(request)
        finally:
            outbox.put_nowait(None)
            call.cancel()
            stopper.cancel()


async def main_async(spec: dict[str, Any]) -> dict[str, Any]:
    stop = asyncio.Event()
    logs: list[list[Record]] = [[] for _ in spec["clients"]]
    client = run_delta_client if spec.get("delta") else run_client
    loop = asyncio.get_running_loop()
    loop.add_reader(sys.stdin.fileno(), stop.set)
    loop.call_later(float(spec.get("max_seconds", 120)), stop.set)
    tasks = [asyncio.ensure_future(client(spec["target"], one, log, stop)) for one, log in zip(spec["clients"], logs)]
    results = await asyncio.gather(*tasks, return_exceptions=True)
    errors = [repr(r) for r in results if isinstance(r, BaseException)]
    return {
        "clients": [{"node_id": c["node_id"], "received": log} for c, log in zip(spec["clients"], logs)],
        "errors": errors,
    }


def main(argv: list[str] | None = None) -> None:
    args = argv if argv is not None else sys.argv[1:]
    with open(args[0]) as handle:
        spec = json.load(handle)
    print(json.dumps(asyncio.run(main_async(spec))), flush=True)


if __name__ == "__main__":
    main()
