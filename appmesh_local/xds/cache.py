"""The snapshot cache: the latest consistent snapshot per proxy, and who to wake when it changes.

Writers (the reconciler's thread, or a test) replace snapshots; readers (ADS
streams on the gRPC loop) take the current immutable snapshot without waiting
for a build. Watch callbacks run on the writer's thread and must only schedule
work (streams use `loop.call_soon_threadsafe`).

Placed proxies (`ProxyRef.placement`, host mode) get snapshots only while someone wants them:
watching one (an Envoy's stream) or `want()`ing it (a starter, before its Envoy connects). When a
placement becomes wanted or unwanted, `on_wanted_change(mesh key)` lets the writer rebuild that
mesh (the reconciler reads `wanted(mesh key)`).
"""

from __future__ import annotations

import itertools
import secrets
import threading
from dataclasses import dataclass, field
from typing import Callable, Mapping

from google.protobuf.message import Message

from appmesh_local.xds.node_id import ProxyRef
from appmesh_local.xds.proxy_config import (
    CLUSTER,
    CLUSTER_LOAD_ASSIGNMENT,
    LISTENER,
    ROUTE_CONFIGURATION,
    SECRET,
    TYPE_URLS,
    MeshConfig,
    ProxyConfig,
    ProxyKey,
)
from appmesh_local.xds.snapshot import (
    EncodedMessages,
    EncodeMemo,
    Resource,
    Snapshot,
    TypeSnapshot,
    check_consistency,
    make_resource,
)

Watcher = Callable[[], None]
MeshKey = tuple[str, str, str]
_KNOWN_TYPES = frozenset(TYPE_URLS)


@dataclass
class CacheUpdate:
    """What one write did: proxies whose snapshot changed or went away, and why some were refused."""

    changed: list[ProxyRef] = field(default_factory=list)
    removed: list[ProxyRef] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


class SnapshotCache:
    """Per-proxy snapshots with per-type versions `<boot_id>-<n>` and a NACK ledger."""

    def __init__(self, boot_id: str | None = None) -> None:
        self.boot_id = boot_id or secrets.token_hex(4)
        self._counter = itertools.count(1)
        self._lock = threading.Lock()  # guards the dicts below (held briefly)
        self._write_lock = threading.Lock()  # one writer at a time (builds happen outside _lock)
        self._snapshots: dict[ProxyRef, Snapshot] = {}
        self._watchers: dict[ProxyRef, dict[int, Watcher]] = {}
        self._watch_ids = itertools.count(1)
        self._nacks: dict[tuple[str, str], set[str]] = {}
        # The resources mapping each snapshot was built from (writer-side only): an identical
        # object next time means an unchanged proxy, skipped without hashing anything.
        self._sources: dict[ProxyRef, Mapping[str, Mapping[str, Message]]] = {}
        self._wanted: dict[ProxyRef, int] = {}  # placed proxies → how many watches/wants hold them
        self.on_wanted_change: Callable[[MeshKey], None] | None = None
        # Per mesh: the serial of the MeshConfig applied last, and the proxies of it that were refused
        # (inconsistent): a config whose delta is relative to that serial is applied by its delta alone.
        self._applied: dict[MeshKey, int] = {}
        self._refused: dict[MeshKey, set[ProxyKey]] = {}

    # ---- reads -------------------------------------------------------------------------------
    def get(self, proxy: ProxyRef) -> Snapshot | None:
        with self._lock:
            return self._snapshots.get(proxy)

    def proxies(self) -> list[ProxyRef]:
        with self._lock:
            return sorted(self._snapshots)

    # ---- writes ------------------------------------------------------------------------------
    def set_proxy(
        self, proxy: ProxyRef, resources: Mapping[str, Mapping[str, Message]], revision: int = 0
    ) -> CacheUpdate:
        """Replace one proxy's resources (type URL → name → message)."""
        with self._write_lock:
            update = CacheUpdate()
            snap = self._build(proxy, resources, revision, self.get(proxy), update.problems)
            self._applied.pop(proxy.mesh_key, None)  # the next MeshConfig of its mesh is looked at whole
            if snap is not None:
                with self._lock:
                    self._snapshots[proxy] = snap
                update.changed.append(proxy)
        self._notify(update.changed)
        return update

    def apply_mesh_config(self, config: MeshConfig) -> CacheUpdate:
        """Install a translated mesh: changed proxies get new snapshots, vanished ones are removed.

        When `config.delta` is relative to the config this cache applied last for the mesh, only the
        proxies it names (and any refused last time) are looked at: the others hold the identical
        config objects they had, whose snapshots stand."""
        mesh_key = (config.account, config.region, config.mesh)
        update = CacheUpdate()
        with self._write_lock:
            delta = config.delta
            by_delta = delta is not None and delta.base != 0 and self._applied.get(mesh_key) == delta.base
            if delta is not None and by_delta:
                keys: set[ProxyKey] = set(delta.changed) | self._refused.get(mesh_key, set())
                gone = [self._ref(config, key) for key in delta.removed]
            else:
                keys = {(kind, name, "") for kind, name in config.proxies} | set(config.placed)
                with self._lock:
                    gone = [p for p in self._snapshots if p.mesh_key == mesh_key]
            configs: dict[ProxyRef, ProxyConfig] = {}
            account, region, mesh = mesh_key
            proxies, placed = config.proxies, config.placed
            for key in keys:
                kind, name, placement = key
                found = placed.get(key) if placement else proxies.get((kind, name))
                if found is not None:
                    configs[ProxyRef(account, region, mesh, kind, name, placement)] = found
            # Snapshots change only under the write lock, which this thread holds: read without `_lock`.
            existing = self._snapshots
            built: dict[ProxyRef, Snapshot] = {}
            refused: set[ProxyKey] = set()
            memo: EncodeMemo = {}  # messages shared between proxies are encoded once
            problems = update.problems
            for proxy, proxy_config in configs.items():
                problems_before = len(problems)
                snap = self._build(
                    proxy, proxy_config.resources, config.revision, existing.get(proxy), problems, True, memo
                )
                if snap is not None:
                    built[proxy] = snap
                elif len(problems) > problems_before:
                    refused.add((proxy.kind, proxy.name, proxy.placement))
            update.removed = sorted(p for p in gone if p not in configs and existing.get(p) is not None)
            update.changed = sorted(built)
            with self._lock:
                self._snapshots.update(built)
                for proxy in update.removed:
                    del self._snapshots[proxy]
                    self._sources.pop(proxy, None)
            if config.serial:
                self._applied[mesh_key] = config.serial
            else:
                self._applied.pop(mesh_key, None)
            self._refused[mesh_key] = refused
        self._notify(update.changed + update.removed)
        return update

    @staticmethod
    def _ref(config: MeshConfig, key: ProxyKey) -> ProxyRef:
        return ProxyRef(config.account, config.region, config.mesh, key[0], key[1], key[2])

    def remove_mesh(self, mesh_key: tuple[str, str, str]) -> list[ProxyRef]:
        """Forget every proxy of a deleted mesh (its Envoys keep their last config, as unknown nodes)."""
        with self._write_lock, self._lock:
            self._applied.pop(mesh_key, None)
            self._refused.pop(mesh_key, None)
            removed = sorted(p for p in self._snapshots if p.mesh_key == mesh_key)
            for proxy in removed:
                del self._snapshots[proxy]
                self._sources.pop(proxy, None)
        self._notify(removed)
        return removed

    def remove_proxy(self, proxy: ProxyRef) -> bool:
        with self._write_lock, self._lock:
            self._applied.pop(proxy.mesh_key, None)
            found = self._snapshots.pop(proxy, None) is not None
            self._sources.pop(proxy, None)
        if found:
            self._notify([proxy])
        return found

    def _build(
        self,
        proxy: ProxyRef,
        resources: Mapping[str, Mapping[str, Message]],
        revision: int,
        previous: Snapshot | None,
        problems: list[str],
        trust_identity: bool = False,
        memo: EncodeMemo | None = None,
    ) -> Snapshot | None:
        """A new snapshot, or None when nothing changed or the result is inconsistent (kept the old one).

        `trust_identity`: the caller never mutates a config it handed over (the translator's
        contract), so the same mapping object as last time means nothing changed.
        """
        source = self._sources.get(proxy) if trust_identity and previous is not None else None
        if source is resources:
            return None  # the translator handed back the very same config object: nothing to look at
        unknown = set(resources) - _KNOWN_TYPES if not _KNOWN_TYPES.issuperset(resources) else None
        if unknown:
            problems.append(f"{proxy.short_id()}: ignored unknown resource types {sorted(unknown)}")
        if source is not None and previous is not None:
            # The types whose mapping is the very object last accepted (the builder hands back an
            # unchanged type's mapping as is) keep their resources without a look.
            return self._update(proxy, resources, source, revision, previous, problems, memo)
        by_type: dict[str, Mapping[str, Resource]] = {}
        digests: dict[str, str] = {}
        for type_url in TYPE_URLS:
            named = resources.get(type_url, {})
            old = previous.types[type_url].resources if previous else {}
            items = named.encoded.items() if type(named) is EncodedMessages else named.items()  # never parsed
            by_type[type_url] = {name: make_resource(type_url, name, msg, old.get(name), memo) for name, msg in items}
            digests[type_url] = TypeSnapshot.content_digest(by_type[type_url])
        if previous is not None and all(previous.types[t].digest == d for t, d in digests.items()):
            self._sources[proxy] = resources
            return None
        inconsistent = [] if _references_unchanged(previous, by_type, digests) else check_consistency(by_type)
        if inconsistent:
            problems.extend(f"{proxy.short_id()}: {p} (kept the previous snapshot)" for p in inconsistent)
            return None
        types: dict[str, TypeSnapshot] = {}
        for type_url, built in by_type.items():
            old_ts = previous.types.get(type_url) if previous else None
            if old_ts is not None and old_ts.digest == digests[type_url]:
                types[type_url] = old_ts
            else:
                types[type_url] = TypeSnapshot.with_digest(self.next_version(), built, digests[type_url])
        self._sources[proxy] = resources
        return Snapshot(proxy=proxy, revision=revision, types=types)

    def _update(
        self,
        proxy: ProxyRef,
        resources: Mapping[str, Mapping[str, Message]],
        source: Mapping[str, Mapping[str, Message]],
        revision: int,
        previous: Snapshot,
        problems: list[str],
        memo: EncodeMemo | None,
    ) -> Snapshot | None:
        """`_build` of a config whose unchanged types are the very mappings accepted last time (the
        builder's contract): only the other types are looked at, and the consistency check runs only
        if what refers to other resources, or the set of names referred to, changed.

        A type is unchanged when it holds the same names and `make_resource` handed back every
        previous resource (it does exactly when the bytes are the same): no type digest is hashed
        here (a change reaching 1,000 proxies would hash 1,000 of them); it is made when a full
        `_build` compares against it."""
        built: dict[str, dict[str, Resource]] = {}
        for type_url in TYPE_URLS:
            named = resources.get(type_url)
            if named is source.get(type_url):
                continue
            olds = previous.types[type_url].resources
            items = (
                named.encoded.items() if type(named) is EncodedMessages else named.items() if named else ()
            )  # never parsed
            fresh: dict[str, Resource] = {}
            same = True  # every resource is the previous one (then the names are the same if as many)
            for name, msg in items:
                old = olds.get(name)
                made = fresh[name] = make_resource(type_url, name, msg, old, memo)
                same = same and made is old
            if not same or len(fresh) != len(olds):
                built[type_url] = fresh
        if not built:
            self._sources[proxy] = resources
            return None
        if (
            LISTENER in built
            or CLUSTER in built
            or CLUSTER_LOAD_ASSIGNMENT in built
            or (
                ROUTE_CONFIGURATION in built
                and built[ROUTE_CONFIGURATION].keys() != previous.types[ROUTE_CONFIGURATION].resources.keys()
            )
            or (SECRET in built and built[SECRET].keys() != previous.types[SECRET].resources.keys())
        ):
            by_type = {t: built[t] if t in built else previous.types[t].resources for t in TYPE_URLS}
            inconsistent = check_consistency(by_type)
            if inconsistent:
                problems.extend(f"{proxy.short_id()}: {p} (kept the previous snapshot)" for p in inconsistent)
                return None
        types = dict(previous.types)
        for type_url, fresh in built.items():
            types[type_url] = TypeSnapshot(self.next_version(), fresh)
        self._sources[proxy] = resources
        return Snapshot(proxy, revision, types)  # positional: one per proxy a change reaches

    def next_version(self) -> str:
        return f"{self.boot_id}-{next(self._counter)}"

    # ---- watches -----------------------------------------------------------------------------
    def watch(self, proxy: ProxyRef, callback: Watcher) -> tuple[ProxyRef, int]:
        """Call `callback()` (on the writer's thread) whenever `proxy`'s snapshot changes or goes.

        Watching a placed proxy also wants it (see `want`)."""
        token = next(self._watch_ids)
        with self._lock:
            self._watchers.setdefault(proxy, {})[token] = callback
        self.want(proxy)
        return (proxy, token)

    def unwatch(self, handle: tuple[ProxyRef, int]) -> None:
        proxy, token = handle
        with self._lock:
            watchers = self._watchers.get(proxy)
            if watchers is None or watchers.pop(token, None) is None:
                return
            if not watchers:
                del self._watchers[proxy]
        self.unwant(proxy)

    # ---- placed proxies ----------------------------------------------------------------------
    def want(self, proxy: ProxyRef) -> None:
        """Ask for a snapshot of placed proxy `proxy` (no-op for App Mesh's placement, always built).

        Pair with `unwant`. The first want of a placement calls `on_wanted_change`."""
        if not proxy.placement:
            return
        with self._lock:
            count = self._wanted.get(proxy, 0)
            self._wanted[proxy] = count + 1
        if count == 0 and self.on_wanted_change is not None:
            self.on_wanted_change(proxy.mesh_key)

    def unwant(self, proxy: ProxyRef) -> None:
        """Drop one `want`; the last one lets the next build of its mesh forget that placement."""
        if not proxy.placement:
            return
        with self._lock:
            count = self._wanted.get(proxy, 0) - 1
            if count > 0:
                self._wanted[proxy] = count
                return
            self._wanted.pop(proxy, None)
        if count == 0 and self.on_wanted_change is not None:
            self.on_wanted_change(proxy.mesh_key)

    def watched(self, mesh_key: MeshKey) -> set[tuple[str, str]]:
        """(kind, name) of the proxies of one mesh that a stream watches now (placed or not)."""
        with self._lock:
            return {(p.kind, p.name) for p in self._watchers if p.mesh_key == mesh_key}

    def wanted(self, mesh_key: MeshKey) -> list[ProxyRef]:
        """The placed proxies of one mesh that someone wants, sorted."""
        with self._lock:
            return sorted(p for p in self._wanted if p.mesh_key == mesh_key)

    def _notify(self, proxies: list[ProxyRef]) -> None:
        with self._lock:
            watchers = self._watchers
            callbacks = [cb for p in proxies if p in watchers for cb in watchers[p].values()]
        for callback in callbacks:
            callback()

    # ---- NACK ledger -------------------------------------------------------------------------
    def record_nack(self, node_id: str, type_url: str, version: str) -> None:
        """Remember that `node_id` rejected `version` of `type_url`: it is never sent to it again."""
        with self._lock:
            self._nacks.setdefault((node_id, type_url), set()).add(version)

    def is_nacked(self, node_id: str, type_url: str, version: str) -> bool:
        with self._lock:
            return version in self._nacks.get((node_id, type_url), ())


def _references_unchanged(
    previous: Snapshot | None, by_type: Mapping[str, Mapping[str, Resource]], digests: Mapping[str, str]
) -> bool:
    """True when `previous` (consistent, or it would not exist) had the same listeners, clusters
    and endpoints and the same route configuration and secret names: the consistency check would
    pass again."""
    if previous is None:
        return False
    if any(previous.types[t].digest != digests[t] for t in (LISTENER, CLUSTER, CLUSTER_LOAD_ASSIGNMENT)):
        return False
    return all(previous.types[t].resources.keys() == by_type[t].keys() for t in (ROUTE_CONFIGURATION, SECRET))
