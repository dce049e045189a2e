"""What SotW and delta ADS streams share: node resolution, cache watches, the event loop of a stream.

A stream is one async generator on the gRPC loop. Requests (read by a task)
and "your snapshot changed" wake-ups (scheduled from the writer's thread with
`call_soon_threadsafe`) go through one queue, so all protocol state is touched
by one coroutine only and no lock is held across a send.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from typing import Any, AsyncGenerator, AsyncIterator, Callable, Iterable

from google.protobuf import json_format
from google.protobuf.message import Message

from appmesh_local.xds.auth import Refusal
from appmesh_local.xds.cache import SnapshotCache
from appmesh_local.xds.node_id import METADATA_ADMIN, NodeIdError, ProxyRef, parse_node_id
from appmesh_local.xds.snapshot import Snapshot
from appmesh_local.xds.status import Status, StreamStatus

log = logging.getLogger(__name__)
_CHANGED = object()
_END = object()
# Requests read ahead of their handling (each up to gRPC's 4 MiB receive limit). Envoy sends a
# request when it starts, subscribes, or has read one of our responses (its ACK); a client that
# keeps sending while it does not read our answers fills these slots, and is then no longer read
# from: HTTP/2 flow control stops it instead of our memory.
MAX_PENDING_REQUESTS = 4


Authorize = Callable[[ProxyRef | None, str], Refusal | None]


class StreamRefused(Exception):
    """The stream's credentials do not open the proxy its first request names: it gets nothing."""


class StreamBase:
    """One ADS stream: subclasses implement `on_request` and `on_change` returning responses to send.

    With `authorize`, the node the first request names must be one the stream's credentials
    open (xds.auth); otherwise the stream ends before anything is sent (`refusal` says why).
    """

    kind = ""

    def __init__(self, cache: SnapshotCache, status: Status, peer: str, authorize: Authorize | None = None) -> None:
        self.cache = cache
        self.status = status
        self.peer = peer
        self._authorize = authorize
        self.refusal: Refusal | None = None
        self.record: StreamStatus  # registered when serve() starts, removed when it ends
        self.node_seen = False
        self.node_id = ""
        self.proxy: ProxyRef | None = None
        self._nonces = itertools.count(1)
        self._watch: tuple[ProxyRef, int] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queue: asyncio.Queue[Any] | None = None
        self._slots: asyncio.Semaphore | None = None  # bounds the requests read but not yet handled
        self._change_pending = False
        self._nacked: set[tuple[str, str]] = set()
        self.read_error: str | None = None  # why the request stream broke, if it did

    # ---- protocol hooks ----------------------------------------------------------------------
    def on_request(self, request: Any) -> Iterable[Message]:
        raise NotImplementedError

    def on_change(self) -> Iterable[Message]:
        raise NotImplementedError

    # ---- shared helpers ----------------------------------------------------------------------
    def next_nonce(self) -> str:
        return str(next(self._nonces))

    def resolve_node(self, request: Any) -> None:
        """The first request names the node (later ones may omit it: xDS spec)."""
        if self.node_seen:
            return
        self.node_seen = True
        node = request.node if request.HasField("node") else None
        self.node_id = node.id if node is not None else ""
        metadata: dict[str, Any] = {}
        if node is not None and node.HasField("metadata"):
            metadata = json_format.MessageToDict(node.metadata)
        try:
            self.proxy = parse_node_id(self.node_id, metadata)
            error = None
        except NodeIdError as exc:
            self.proxy, error = None, str(exc)
        admin = metadata.get(METADATA_ADMIN)
        self.status.set_node(self.record, self.node_id, self.proxy, error, admin if isinstance(admin, str) else None)
        if self._authorize is not None:
            self.refusal = self._authorize(self.proxy, self.node_id)
            if self.refusal is not None:
                self.status.refused(self.record, self.refusal.reason)
                raise StreamRefused(self.refusal.reason)
        if self.proxy is not None:
            self._watch = self.cache.watch(self.proxy, self._on_cache_change)
        self.refresh_known()

    def snapshot(self) -> Snapshot | None:
        return self.cache.get(self.proxy) if self.proxy is not None else None

    def refresh_known(self) -> None:
        self.status.set_known(self.record, self.snapshot() is not None)

    def nack(self, type_url: str, version: str, message: str, code: int) -> None:
        """Record a rejection: this version of this type is never sent to this node again."""
        self._nacked.add((type_url, version))
        self.cache.record_nack(self.node_id, type_url, version)
        self.status.nacked(self.record, type_url, version, message, code)
        log.warning("%s NACKed %s version %s: %s", self.node_id, type_url, version, message)

    def blocked(self, type_url: str, version: str, fresh: bool) -> bool:
        """True if sending `version` would resend a NACKed config.

        The node-wide ledger is skipped for an Envoy that holds no config of
        this type yet (`fresh`): a new replica of the same node must get a
        chance; it costs one NACK, not a loop.
        """
        if (type_url, version) in self._nacked:
            return True
        return not fresh and self.cache.is_nacked(self.node_id, type_url, version)

    # ---- the stream loop ---------------------------------------------------------------------
    def _on_cache_change(self) -> None:
        loop = self._loop
        if loop is None:
            return
        try:
            loop.call_soon_threadsafe(self._enqueue_change)
        except RuntimeError:  # loop closed: the server is shutting down
            pass

    def _enqueue_change(self) -> None:
        if self._queue is not None and not self._change_pending:
            self._change_pending = True
            self._queue.put_nowait(_CHANGED)

    def backlogged(self) -> bool:
        """Every read-ahead slot is taken: the peer sent MAX_PENDING_REQUESTS requests we have not handled."""
        return self._slots is not None and self._slots.locked()

    async def _read(self, request_iterator: AsyncIterator[Any]) -> None:
        assert self._queue is not None and self._slots is not None
        try:
            async for request in request_iterator:
                self._queue.put_nowait(request)
                await self._slots.acquire()  # the next read waits until a slot is free
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the peer went away or sent garbage: end this stream only
            self.read_error = f"{type(exc).__name__}: {exc}"
            self.status.stream_error(self.record, f"read failed: {self.read_error}")
        finally:
            self._queue.put_nowait(_END)

    async def serve(self, request_iterator: AsyncIterator[Any]) -> AsyncGenerator[Message, None]:
        self._loop = asyncio.get_running_loop()
        self._queue = asyncio.Queue()
        self._slots = asyncio.Semaphore(MAX_PENDING_REQUESTS)
        self.record = self.status.open_stream(self.kind, self.peer)
        reader = self._loop.create_task(self._read(request_iterator))
        try:
            while True:
                item = await self._queue.get()
                if item is _END:
                    break
                try:
                    if item is _CHANGED:
                        self._change_pending = False
                        self.refresh_known()
                        responses = list(self.on_change())
                    else:
                        self._slots.release()
                        self.resolve_node(item)
                        responses = list(self.on_request(item))
                except StreamRefused:
                    break
                except Exception as exc:  # a bug or a malformed request must not end the server
                    log.exception("ADS %s stream for %r failed to handle an event", self.kind, self.node_id)
                    self.status.stream_error(self.record, f"{type(exc).__name__}: {exc}")
                    continue
                for response in responses:
                    yield response
        finally:
            reader.cancel()
            if self._watch is not None:
                self.cache.unwatch(self._watch)
            self.status.close_stream(self.record)
            self._loop = None
