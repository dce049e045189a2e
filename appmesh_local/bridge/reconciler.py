"""Store change events → debounced per-mesh rebuilds → the snapshot cache.

The store's callback only marks a mesh dirty. A worker thread (not the gRPC
loop: translation is CPU work) rebuilds a mesh once it has been quiet for
`quiet_s`, or `max_delay_s` after its first pending change at the latest
(Contour's holdoff/max delay), from one store revision. A proxy that cannot be
translated keeps its last good snapshot while the rest of its mesh converges (the
builder isolates it); a whole-mesh failure keeps every last good snapshot. Both are
recorded for `status`.

Host-mode Envoys (placed proxies) count as changes too: when one connects or goes away the
cache says so (`on_wanted_change`) and its mesh is rebuilt with the placements wanted now,
which are also the virtual nodes' host-mode instances (docs/host-mode.md).

Each pending mesh carries what changed (`MeshChanges`: the store events' kind, parent and name,
the Cloud Map services and ACM material the neighbours reported), and the build redoes only what
those reach; a mark without detail, the first build and anything after a lost read rebuild the
whole mesh (docs/performance.md, "Cost proportional to the change").
"""

from __future__ import annotations

import gc
import logging
import threading
import time
import traceback
from contextlib import contextmanager
from typing import TYPE_CHECKING, Callable, Iterator, Protocol, Sequence

from appmesh_local import collector
from appmesh_local.bridge.secrets import NoSecrets, SecretSource
from appmesh_local.ir.names import DEFAULT_BIND_ADDRESS
from appmesh_local.store.protocols import MeshKey, MeshSource
from appmesh_local.store.records import ChangeEvent, MeshSnapshot
from appmesh_local.translate.changes import EVERYTHING, NOTHING, MeshChanges
from appmesh_local.translate.cloudmap import CloudMapLookup
from appmesh_local.xds.cache import SnapshotCache
from appmesh_local.xds.proxy_config import MeshConfig
from appmesh_local.xds.status import Status

if TYPE_CHECKING:
    from appmesh_local.bridge.build import MeshConfigBuilder

log = logging.getLogger(__name__)
PlacedProxy = tuple[str, str, str]  # (kind, name, placement key) of a wanted host-mode proxy
# Proxies built per round, beside those with a connected Envoy: a change that reaches 10,000 proxies,
# or a server starting on a 10,000-node state, pushes to the connected ones first and builds the rest
# in rounds, between which other meshes' changes and new Envoys are served.
ROUND_BUDGET = 250
FREEZE_AFTER_MS = 20.0  # builds this long leave enough objects behind to be worth gc.freeze()
FREEZE_AFTER_OBJECTS = 5000  # ... and so do builds that leave this many new objects (a hot change)


@contextmanager
def collector_paused(owned: bool) -> Iterator[None]:
    """Run a build with the cyclic garbage collector off, and freeze what it left if that is a lot.

    A hot change re-makes the IR, messages and snapshots of every proxy it reaches (~10 objects
    each); with the collector on, the young generations fill many times during the build and each
    collection walks the new objects again: 20-30 ms of a 1,000-proxy change, more than its
    translation. The bridge's data has no reference cycles (each object is freed by reference
    counting when the next build replaces it), so nothing is lost by not collecting during the
    build; afterwards, a build that took FREEZE_AFTER_MS or left FREEZE_AFTER_OBJECTS is frozen
    (`gc.freeze()`, constant time) so no later collection walks it either. Only when the server owns
    the process (`owned`: `serve`): pausing and freezing are process-wide (docs/contracts.md, 4).
    """
    if not owned:
        yield
        return
    started = time.perf_counter()
    with collector.paused():
        try:
            yield
        finally:
            if (time.perf_counter() - started) * 1000 >= FREEZE_AFTER_MS or gc.get_count()[0] >= FREEZE_AFTER_OBJECTS:
                # Frozen objects are still freed by reference counting when dropped; only cyclic
                # garbage among them would stay, and the translator's data has no cycles.
                gc.freeze()


def event_changes(event: ChangeEvent) -> MeshChanges | None:
    """What a store event changes for the bridge (None: nothing, tags never reach Envoy). An event that
    names no resource (a source that replaces whole meshes) may have changed anything."""
    if event.action == "tag":
        return None
    return MeshChanges.resource(event.kind, event.parent, event.name) if event.name else EVERYTHING


class MeshBuild(Protocol):
    """One mesh snapshot → every proxy's Envoy resources (`MemoTranslator` in the server).

    `placements` are the host-mode copies of proxies wanted now (kind, name, placement key).
    `changes`: what changed since the previous call for this mesh (None: unknown); a build may use
    it to redo only what the changes reach, or ignore it. `first` and `budget`: a build may do the
    proxies `first` picks and at most `budget` others, and say `incomplete` (see
    `MeshConfigBuilder.build`). Called on the reconciler's thread, one mesh at a time. A build that
    keeps memos per mesh may also have `forget(key)`, called when the mesh is deleted.
    """

    def __call__(
        self,
        snapshot: MeshSnapshot,
        *,
        bind_address: str,
        placements: Sequence[PlacedProxy] = (),
        changes: MeshChanges | None = None,
        first: Callable[[tuple[str, str]], bool] | None = None,
        budget: int | None = None,
    ) -> MeshConfig: ...


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

    def __call__(
        self,
        snapshot: MeshSnapshot,
        *,
        bind_address: str = DEFAULT_BIND_ADDRESS,
        placements: Sequence[PlacedProxy] = (),
        changes: MeshChanges | None = None,
        first: Callable[[tuple[str, str]], bool] | None = None,
        budget: int | None = None,
    ) -> MeshConfig:
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
            return build_mesh_config(
                snapshot,
                bind_address,
                builder=entry[1],
                placements=placements,
                changes=changes,
                first=first,
                budget=budget,
            )
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
        build: MeshBuild | None = None,
        quiet_s: float = 0.002,
        max_delay_s: float = 0.02,
        bind_address: str = DEFAULT_BIND_ADDRESS,
        gc_freeze: bool = False,
    ) -> None:
        """`gc_freeze`: pause the cyclic garbage collector during builds and move a big build's
        survivors out of its reach (`collector_paused`). That is process-wide, so only a process the
        server owns (`serve`) asks for it; embedded and pytest use leave the host's collector alone."""
        self.store = store
        self.cache = cache
        self.status = status
        self.build = build
        self.quiet_s = quiet_s
        self.max_delay_s = max_delay_s
        self.bind_address = bind_address
        self.gc_freeze = gc_freeze
        self.round_budget: int | None = ROUND_BUDGET
        self._cond = threading.Condition()
        # mesh -> (first, last) change time, and what changed
        self._dirty: dict[MeshKey, tuple[float, float, MeshChanges]] = {}
        self._lost: set[MeshKey] = set()  # meshes whose changes were dropped (a failed read): rebuild whole
        self._busy = False
        self._stopping = False
        self._thread: threading.Thread | None = None
        self.rebuilds = 0

    def start(self) -> None:
        """Subscribe, queue every existing mesh (initial sync), and start the worker."""
        if self.build is None:
            self.build = MemoTranslator()
        self.store.subscribe(self.on_change)
        self.cache.on_wanted_change = self.placements_changed
        for key in self.store.mesh_keys():
            self.mark_dirty(key)
        self._thread = threading.Thread(target=self._run, name="appmesh-xds-reconciler", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self.store.unsubscribe(self.on_change)
        self.cache.on_wanted_change = None
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)

    def on_change(self, event: ChangeEvent) -> None:
        """Store callback (writer's thread): enqueue only."""
        changes = event_changes(event)
        if changes is not None:
            self.mark_dirty((event.account, event.region, event.mesh), changes)

    def placements_changed(self, key: MeshKey) -> None:
        """The cache's `on_wanted_change`: the build compares the placements wanted now with its last."""
        self.mark_dirty(key, NOTHING)

    def mark_dirty(self, key: MeshKey, changes: MeshChanges = EVERYTHING, urgent: bool = False) -> None:
        """Rebuild mesh `key` soon; `changes` says what changed (the default: anything may have).
        `urgent`: as soon as the worker is free, without waiting for quiet (the next round of a build)."""
        now = time.monotonic()
        with self._cond:
            first, _, pending = self._dirty.get(key, (now, now, NOTHING))
            if urgent:
                first = now - self.max_delay_s
            self._dirty[key] = (first, now, pending | changes)
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
                    k: min(last + self.quiet_s, first + self.max_delay_s) for k, (first, last, _) in self._dirty.items()
                }
                due = [(k, self._dirty[k][2]) for k, at in due_at.items() if at <= now]
                if not due:
                    self._cond.wait(max(0.0, min(due_at.values()) - now))
                    continue
                for key, _ in due:
                    del self._dirty[key]
                self._busy = True
            try:
                # The whole rebuild, from reading the snapshot to recording the outcome, allocates
                # in proportion to the mesh: collections it would trigger walk the whole heap
                # (300-500 ms measured with 30,000-listener nodes), holding the GIL meanwhile.
                with collector_paused(self.gc_freeze):
                    for key, changes in due:
                        self.reconcile(key, changes)
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()

    def reconcile(self, key: MeshKey, changes: MeshChanges = EVERYTHING) -> None:
        """Rebuild one mesh from one store revision; never raises. `changes`: what changed since its
        previous rebuild (events that arrive while it runs are in the next one's)."""
        started = time.perf_counter()
        if key in self._lost:
            self._lost.discard(key)
            changes = EVERYTHING
        try:
            # (the collector is paused by `_run`: the first read of a mesh parses every spec, 70,000 at
            # 10,000 nodes, and collections in it would cost 2-3x the parsing)
            snapshot = self.store.mesh_snapshot(*key)
        except Exception as exc:
            log.exception("reading mesh %s failed", key)
            self._lost.add(key)
            self.status.record_translation(key, None, [], f"store read failed: {exc!r}")
            return
        if snapshot is None:
            self.cache.remove_mesh(key)
            self.status.forget_mesh(key)
            forget = getattr(self.build, "forget", None)
            if callable(forget):
                forget(key)
            return
        if self.build is None:
            self.build = MemoTranslator()
        placements = tuple((p.kind, p.name, p.placement) for p in self.cache.wanted(key))
        try:
            watched = self.cache.watched(key)
            config = self.build(
                snapshot,
                bind_address=self.bind_address,
                placements=placements,
                changes=changes,
                first=watched.__contains__,
                budget=self.round_budget,
            )
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
        if config.incomplete:
            self.mark_dirty(key, NOTHING, urgent=True)  # the next round goes on with the rest
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
            proxies=len(config.proxies) + len(config.placed),
            failures=config.failures,
        )
