"""Store change events → debounced per-mesh rebuilds → the snapshot cache.

The store's callback only marks a mesh dirty. A worker thread (not the gRPC
loop: translation is CPU work) rebuilds a mesh once it has been quiet for
`quiet_s`, or `max_delay_s` after its first pending change at the latest
(Contour's holdoff/max delay), from one store revision. A proxy that cannot be
translated keeps its last good snapshot while the rest of its mesh converges (the
builder isolates it); a whole-mesh failure keeps every last good snapshot. Both are
recorded for `status`.
"""

from __future__ import annotations

import gc
import logging
import threading
import time
import traceback
from typing import TYPE_CHECKING, Any, Callable, Protocol

from appmesh_local.bridge.secrets import NoSecrets, SecretSource
from appmesh_local.store.records import ChangeEvent, MeshSnapshot
from appmesh_local.translate.cloudmap import CloudMapLookup
from appmesh_local.xds.cache import SnapshotCache
from appmesh_local.xds.proxy_config import MeshConfig
from appmesh_local.xds.status import Status

if TYPE_CHECKING:
    from appmesh_local.bridge.build import MeshConfigBuilder

log = logging.getLogger(__name__)
MeshKey = tuple[str, str, str]
BuildFn = Callable[..., MeshConfig]
FREEZE_AFTER_MS = 20.0  # builds this long leave enough objects behind to be worth gc.freeze()


class MeshSource(Protocol):
    """The part of the store the reconciler reads."""

    def mesh_snapshot(self, account: str, region: str, mesh: str) -> MeshSnapshot | None: ...
    def mesh_keys(self) -> list[MeshKey]: ...
    def subscribe(self, callback: Callable[[ChangeEvent], None]) -> Any: ...


class MemoTranslator:
    """The real translator with one `MeshConfigBuilder` per mesh, so unchanged proxies and
    resources come back as the same objects (and the cache never re-serializes them).

    Imported late so the bridge can start (and be tested) without the translator.
    `cloud_map` fills Cloud Map nodes' EDS endpoints and `secrets` resolves ACM certificate
    and ACM PCA ARNs into SDS secrets. The server passes its own Cloud Map and ACM
    (`neighbours.sources`), whose change events mark the meshes concerned dirty
    (`bridge.neighbour_events`); without them Cloud Map nodes have no endpoints and ACM
    secrets are missing, as for an offline translation.
    """

    def __init__(self, cloud_map: CloudMapLookup | None = None, secrets: SecretSource | None = None) -> None:
        self.cloud_map = cloud_map
        self.secrets = secrets if secrets is not None else NoSecrets()
        self._builders: dict[MeshKey, tuple[str, MeshConfigBuilder]] = {}

    def __call__(self, snapshot: MeshSnapshot, bind_address: str = "0.0.0.0") -> MeshConfig:
        from appmesh_local.bridge.build import MeshConfigBuilder, build_mesh_config
        from appmesh_local.translate import TranslateOptions

        key = (snapshot.account, snapshot.region, snapshot.name)
        entry = self._builders.get(key)
        if entry is None or entry[0] != bind_address:
            entry = (
                bind_address,
                MeshConfigBuilder(TranslateOptions(bind_address=bind_address), self.cloud_map, secrets=self.secrets),
            )
            self._builders[key] = entry
        try:
            return build_mesh_config(snapshot, bind_address, builder=entry[1])
        except Exception:
            self._builders.pop(key, None)  # its memo may be half-updated: start afresh next time
            raise

    def forget(self, key: MeshKey) -> None:
        self._builders.pop(key, None)


class Reconciler:
    def __init__(
        self,
        store: MeshSource,
        cache: SnapshotCache,
        status: Status,
        *,
        build: BuildFn | None = None,
        quiet_s: float = 0.002,
        max_delay_s: float = 0.02,
        bind_address: str = "0.0.0.0",
    ) -> None:
        self.store = store
        self.cache = cache
        self.status = status
        self.build = build
        self.quiet_s = quiet_s
        self.max_delay_s = max_delay_s
        self.bind_address = bind_address
        self._cond = threading.Condition()
        self._dirty: dict[MeshKey, tuple[float, float]] = {}  # mesh -> (first, last) change time
        self._busy = False
        self._stopping = False
        self._thread: threading.Thread | None = None
        self.rebuilds = 0

    def start(self) -> None:
        """Subscribe, queue every existing mesh (initial sync), and start the worker."""
        if self.build is None:
            self.build = MemoTranslator()
        self.store.subscribe(self.on_change)
        for key in self.store.mesh_keys():
            self.mark_dirty(tuple(key))
        self._thread = threading.Thread(target=self._run, name="appmesh-xds-reconciler", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        unsubscribe = getattr(self.store, "unsubscribe", None)
        if callable(unsubscribe):
            unsubscribe(self.on_change)
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)

    def on_change(self, event: ChangeEvent) -> None:
        """Store callback (writer's thread): enqueue only."""
        if event.action == "tag":
            return  # tags never reach Envoy
        self.mark_dirty((event.account, event.region, event.mesh))

    def mark_dirty(self, key: MeshKey) -> None:
        now = time.monotonic()
        with self._cond:
            first, _ = self._dirty.get(key, (now, now))
            self._dirty[key] = (first, now)
            self._cond.notify_all()

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until every pending change is in the cache (tests, benchmarks)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._dirty or self._busy:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(remaining)
        return True

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._dirty and not self._stopping:
                    self._cond.wait()
                if self._stopping:
                    return
                now = time.monotonic()
                due_at = {
                    k: min(last + self.quiet_s, first + self.max_delay_s) for k, (first, last) in self._dirty.items()
                }
                due = [k for k, at in due_at.items() if at <= now]
                if not due:
                    self._cond.wait(max(0.0, min(due_at.values()) - now))
                    continue
                for key in due:
                    del self._dirty[key]
                self._busy = True
            try:
                for key in due:
                    self.reconcile(key)
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()

    def reconcile(self, key: MeshKey) -> None:
        """Rebuild one mesh from one store revision; never raises."""
        started = time.perf_counter()
        try:
            snapshot = self.store.mesh_snapshot(*key)
        except Exception as exc:
            log.exception("reading mesh %s failed", key)
            self.status.record_translation(key, None, [], f"store read failed: {exc!r}")
            return
        if snapshot is None:
            self.cache.remove_mesh(key)
            self.status.forget_mesh(key)
            forget = getattr(self.build, "forget", None)
            if callable(forget):
                forget(key)
            return
        assert self.build is not None
        try:
            config = self.build(snapshot, bind_address=self.bind_address)
            update = self.cache.apply_mesh_config(config)
        except Exception as exc:
            log.exception("translating mesh %s at revision %s failed", key, snapshot.revision)
            detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
            self.status.record_translation(
                key,
                snapshot.revision,
                [],
                f"translation failed: {detail}",
                duration_ms=(time.perf_counter() - started) * 1000,
            )
            return
        self.rebuilds += 1
        duration_ms = (time.perf_counter() - started) * 1000
        for (kind, name), reason in config.failures.items():
            if self.status.proxy_failure(key, kind, name) != reason:
                log.warning(
                    "mesh %s: %s %s is held back (its last good config, if any, stays): %s", key[2], kind, name, reason
                )
        self.status.record_translation(
            key,
            config.revision,
            list(config.problems) + update.problems,
            None,
            duration_ms=duration_ms,
            proxies=len(config.proxies),
            failures=config.failures,
        )
        if duration_ms >= FREEZE_AFTER_MS:
            # A big mesh leaves ~300,000 long-lived objects (IR, memo, messages) that every full
            # collection would walk again (350-450 ms pauses in the middle of later pushes).
            # Frozen objects are still freed by reference counting when dropped; only cyclic
            # garbage among them would stay, and the translator's data has no cycles.
            gc.freeze()
