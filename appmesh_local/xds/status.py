"""What the bridge knows about connected Envoys and failed translations, for `status`.

Streams (on the gRPC loop) and the reconciler (on its thread) write here;
`snapshot()` returns plain JSON-able data for the HTTP endpoint and the CLI.
"""

from __future__ import annotations

import itertools
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from appmesh_local.xds.node_id import ProxyRef
from appmesh_local.xds.snapshot import SHORT_TYPE_NAMES


def _short(type_url: str) -> str:
    return SHORT_TYPE_NAMES.get(type_url, type_url)


@dataclass
class TypeStatus:
    """One resource type on one stream."""

    sent_version: str | None = None
    sent_count: int = 0
    last_push: float | None = None
    acked_version: str | None = None
    acked_at: float | None = None
    nack: dict[str, Any] | None = None


@dataclass
class StreamStatus:
    """One ADS stream (one Envoy connection)."""

    stream_id: int
    kind: str  # "sotw" | "delta"
    peer: str
    connected_since: float
    node_id: str = ""
    proxy: ProxyRef | None = None
    node_error: str | None = None
    known: bool = False
    admin: str | None = None  # the Envoy admin address its bootstrap announced (node metadata)
    types: dict[str, TypeStatus] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    def type(self, type_url: str) -> TypeStatus:
        return self.types.setdefault(_short(type_url), TypeStatus())


class Status:
    """Thread-safe registry of streams, unknown nodes and translation problems."""

    MAX_ERRORS = 20

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._streams: dict[int, StreamStatus] = {}
        self._translation: dict[tuple[str, str, str], dict[str, Any]] = {}
        self._cache_problems: dict[tuple[str, str, str], list[str]] = {}
        self._failures: dict[tuple[str, str, str], dict[tuple[str, str], dict[str, Any]]] = {}
        self._disconnected: list[dict[str, Any]] = []  # the last MAX_ERRORS streams the server cut off
        self._refused: list[dict[str, Any]] = []  # the last MAX_ERRORS streams refused by authentication
        self._changed = threading.Condition()  # own lock: waiters may read the view
        self._generation = 0

    # ---- streams -----------------------------------------------------------------------------
    def open_stream(self, kind: str, peer: str) -> StreamStatus:
        with self._lock:
            record = StreamStatus(next(self._ids), kind, peer, time.time())
            self._streams[record.stream_id] = record
        self._bump()
        return record

    def close_stream(self, record: StreamStatus) -> None:
        with self._lock:
            self._streams.pop(record.stream_id, None)
        self._bump()

    def set_node(
        self, record: StreamStatus, node_id: str, proxy: ProxyRef | None, error: str | None, admin: str | None = None
    ) -> None:
        with self._lock:
            record.node_id, record.proxy, record.node_error, record.admin = node_id, proxy, error, admin
        self._bump()

    def set_known(self, record: StreamStatus, known: bool) -> None:
        with self._lock:
            record.known = known
        self._bump()

    def sent(self, record: StreamStatus, type_url: str, version: str) -> None:
        with self._lock:
            ts = record.type(type_url)
            ts.sent_version, ts.last_push = version, time.time()
            ts.sent_count += 1

    def acked(self, record: StreamStatus, type_url: str, version: str) -> None:
        with self._lock:
            ts = record.type(type_url)
            ts.acked_version, ts.acked_at = version, time.time()
        self._bump()

    def nacked(self, record: StreamStatus, type_url: str, version: str, message: str, code: int) -> None:
        with self._lock:
            record.type(type_url).nack = {"version": version, "message": message, "code": code, "at": time.time()}
        self._bump()

    def _bump(self) -> None:
        with self._changed:
            self._generation += 1
            self._changed.notify_all()

    def disconnected(self, record: StreamStatus, reason: str) -> None:
        """The server cut this stream off (its stream entry goes when the stream ends): kept for `status`."""
        with self._lock:
            entry = {"node_id": record.node_id, "peer": record.peer, "stream": record.kind, "reason": reason}
            self._disconnected = (self._disconnected + [{**entry, "at": time.time()}])[-self.MAX_ERRORS :]
        self._bump()

    def refused(self, record: StreamStatus, reason: str) -> None:
        """The stream's credentials did not open the proxy it named (xds.auth): kept for `status`."""
        with self._lock:
            entry = {"node_id": record.node_id, "peer": record.peer, "stream": record.kind, "reason": reason}
            self._refused = (self._refused + [{**entry, "at": time.time()}])[-self.MAX_ERRORS :]
        self._bump()

    @property
    def generation(self) -> int:
        """Bumped on every change a viewer would notice (stream, ACK/NACK, translation)."""
        with self._changed:
            return self._generation

    def stream_error(self, record: StreamStatus, message: str) -> None:
        with self._lock:
            record.errors = (record.errors + [message])[-self.MAX_ERRORS :]

    def streams(self) -> list[StreamStatus]:
        with self._lock:
            return list(self._streams.values())

    def wait_for(self, predicate: Callable[[Status], bool], timeout: float) -> bool:
        """Block until `predicate(self)` holds (re-checked after each ACK/NACK, stream or problem change)."""
        deadline = time.monotonic() + timeout
        while True:
            with self._changed:
                generation = self._generation
            if predicate(self):
                return True
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            with self._changed:
                if self._generation == generation:
                    self._changed.wait(remaining)

    # ---- translation -------------------------------------------------------------------------
    def record_translation(
        self,
        mesh_key: tuple[str, str, str],
        revision: int | None,
        problems: list[str],
        error: str | None,
        duration_ms: float | None = None,
        proxies: int | None = None,
        failures: Mapping[tuple[str, str], str] | None = None,
    ) -> None:
        """The outcome of the last translation of a mesh (an error means the last good one is kept).

        `failures`: (kind, name) → why that proxy could not be translated; it keeps its last
        good config, and `since_revision` says from which revision on it has been held back.
        """
        now = time.time()
        with self._lock:
            entry = self._translation.setdefault(mesh_key, {})
            entry.update(revision=revision, problems=list(problems), error=error, at=now, duration_ms=duration_ms)
            if proxies is not None:
                entry["proxies"] = proxies
            if error is None:
                entry["good_revision"] = revision
                previous = self._failures.get(mesh_key, {})
                current: dict[tuple[str, str], dict[str, Any]] = {}
                for ident, reason in sorted((failures or {}).items()):
                    kept = previous.get(ident)
                    if kept is not None and kept["error"] == reason:
                        current[ident] = kept
                    else:
                        current[ident] = {"error": reason, "since_revision": revision, "since": now}
                self._failures[mesh_key] = current
        self._bump()

    def proxy_failure(self, mesh_key: tuple[str, str, str], kind: str, name: str) -> str | None:
        """Why that proxy is held back at its last good config (None: it is not)."""
        with self._lock:
            failure = self._failures.get(mesh_key, {}).get((kind, name))
            return failure["error"] if failure else None

    def forget_mesh(self, mesh_key: tuple[str, str, str]) -> None:
        with self._lock:
            self._translation.pop(mesh_key, None)
            self._failures.pop(mesh_key, None)

    # ---- the view ----------------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        """JSON-able: {proxies, unknown_nodes, meshes, disconnected, refused} (lists)."""
        with self._lock:
            proxies, unknown = [], []
            for record in sorted(self._streams.values(), key=lambda r: r.stream_id):
                entry = _stream_dict(record)
                failure = self._failures.get(record.proxy.mesh_key, {}) if record.proxy else {}
                held = failure.get((record.proxy.kind, record.proxy.name)) if record.proxy else None
                entry["translation_error"] = held["error"] if held else None
                if held and not record.known:
                    entry["reason"] = f"cannot be translated yet: {held['error']}"
                (proxies if record.known else unknown).append(entry)
            meshes = [
                {
                    "account": k[0],
                    "region": k[1],
                    "mesh": k[2],
                    **v,
                    "failed_proxies": [
                        {"kind": kind, "name": name, **detail}
                        for (kind, name), detail in self._failures.get(k, {}).items()
                    ],
                }
                for k, v in sorted(self._translation.items())
            ]
            disconnected, refused = list(self._disconnected), list(self._refused)
        return {
            "proxies": proxies,
            "unknown_nodes": unknown,
            "meshes": meshes,
            "disconnected": disconnected,
            "refused": refused,
        }


def _stream_dict(record: StreamStatus) -> dict[str, Any]:
    return {
        "stream_id": record.stream_id,
        "node_id": record.node_id,
        "proxy": str(record.proxy) if record.proxy else None,
        "mesh": record.proxy.mesh if record.proxy else None,
        "kind": record.proxy.kind if record.proxy else None,
        "name": record.proxy.name if record.proxy else None,
        "reason": None if record.known else (record.node_error or "no such mesh or proxy"),
        "stream": record.kind,
        "peer": record.peer,
        "account": record.proxy.account if record.proxy else None,
        "region": record.proxy.region if record.proxy else None,
        "admin": record.admin,
        "connected_since": record.connected_since,
        "types": {
            name: {
                "sent_version": ts.sent_version,
                "sent_count": ts.sent_count,
                "last_push": ts.last_push,
                "acked_version": ts.acked_version,
                "acked_at": ts.acked_at,
                "last_nack": ts.nack,
            }
            for name, ts in sorted(record.types.items())
        },
        "errors": list(record.errors),
    }
