"""A scripted ADS client (plain grpcio) to drive the protocol without Envoy: exact requests, exact counts."""

from __future__ import annotations

import queue
import threading
from typing import Any

import grpc
from envoy.config.core.v3 import base_pb2
from envoy.service.discovery.v3 import ads_pb2_grpc, discovery_pb2
from google.protobuf import struct_pb2

_END = object()


class AdsClient:
    """One ADS stream: `send(...)` requests, `recv(timeout)` responses (None when nothing came)."""

    def __init__(
        self,
        port: int,
        delta: bool = False,
        *,
        target: str | None = None,
        metadata: tuple[tuple[str, str], ...] = (),
    ) -> None:
        """`target`: a gRPC target instead of 127.0.0.1:`port` (e.g. unix:/path); `metadata`: stream headers."""
        self.channel = grpc.insecure_channel(target or f"127.0.0.1:{port}")
        stub = ads_pb2_grpc.AggregatedDiscoveryServiceStub(self.channel)
        self._requests: queue.Queue[Any] = queue.Queue()
        self.responses: queue.Queue[Any] = queue.Queue()
        self.delta = delta
        method = stub.DeltaAggregatedResources if delta else stub.StreamAggregatedResources
        self._call = method(iter(self._requests.get, _END), metadata=metadata or None)
        self.error: grpc.RpcError | None = None
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        try:
            for response in self._call:
                self.responses.put(response)
        except grpc.RpcError as exc:
            self.error = exc

    @staticmethod
    def node(node_id: str, metadata: dict[str, Any] | None = None) -> base_pb2.Node:
        node = base_pb2.Node(id=node_id)
        if metadata:
            struct = struct_pb2.Struct()
            struct.update(metadata)
            node.metadata.CopyFrom(struct)
        return node

    def send(self, request: Any) -> None:
        self._requests.put(request)

    def request(
        self,
        type_url: str,
        *,
        node: base_pb2.Node | None = None,
        names: tuple[str, ...] = (),
        version: str = "",
        nonce: str = "",
        error: str | None = None,
    ) -> None:
        req = discovery_pb2.DiscoveryRequest(
            type_url=type_url, version_info=version, response_nonce=nonce, resource_names=list(names)
        )
        if node is not None:
            req.node.CopyFrom(node)
        if error is not None:
            req.error_detail.code = 3
            req.error_detail.message = error
        self.send(req)

    def recv(self, timeout: float = 2.0) -> Any:
        try:
            return self.responses.get(timeout=timeout)
        except queue.Empty:
            return None

    def ended(self, timeout: float = 5.0) -> grpc.RpcError | None:
        """How the stream ended (its error), waiting up to `timeout`; None while it is still open."""
        self._reader.join(timeout)
        return self.error

    def close(self) -> None:
        self._requests.put(_END)
        self._call.cancel()
        self.channel.close()
        self._reader.join(5)
