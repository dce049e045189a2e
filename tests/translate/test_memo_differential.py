"""Memoised build == fresh build, over thousands of seeded random change sequences (docs/contracts.md).

The bridge never rebuilds what did not change: the store hands out the same frozen spec objects
between revisions, the translator reuses results whose inputs compare equal, the builder reuses
messages by IR identity, and the snapshot cache skips a proxy whose config is the same object.
Each shortcut is only correct if the contract holds; this test checks the sum of them against a
build that uses none. Every sequence starts from an empty store and applies random changes of every
kind (create / update / equal-copy / delete of each resource kind, Cloud Map registrations, health
and attributes, ACM certificates and ACM PCA authorities, host-mode Envoys arriving and leaving);
after each change

- the memo path: the real `Store` (its record cache and mesh mirror), one `MemoTranslator` (the
  reconciler's memo, with Cloud Map and ACM sources) and one `SnapshotCache`, as in the server. It is
  told what changed as the reconciler tells it (the store's change events through
  `reconciler.event_changes`, the neighbours' reports through `neighbour_events.changes_of`), so it
  takes the incremental path (the dependency index, the builder's delta, the cache's delta); about
  one build in eight is told nothing (a full translation with the same memo), as after a lost read;
  about one in three is split into rounds (a budget of 0-2 proxies beside a random "connected" few,
  as the reconciler does for big changes and at start-up), each round applied to the cache;
- the fresh path: a new `MeshConfigBuilder` on independent copies of the same mesh;

must give the same proxies and placed copies, the same bytes for every resource, the same problems,
and the cache must hold exactly the fresh resources whenever a fresh cache accepts them.

`APPMESH_MEMO_SEQUENCES` / `APPMESH_MEMO_SEED` scale it up or replay one failure (the assertion
names the seed of the sequence and the changes that led to it).
"""

from __future__ import annotations

import os
import random
from functools import partial
from typing import Any

import pytest
from google.protobuf.message import Message

from appmesh_local.bridge.build import MeshConfigBuilder
from appmesh_local.bridge.neighbour_events import changes_of
from appmesh_local.bridge.reconciler import MemoTranslator, event_changes
from appmesh_local.service.arns import arn_for
from appmesh_local.store import Store
from appmesh_local.store.records import ChangeEvent, ResourceKey, ResourceRecord
from appmesh_local.translate import TranslateOptions
from appmesh_local.translate.changes import NOTHING, MeshChanges
from appmesh_local.xds.cache import SnapshotCache
from appmesh_local.xds.node_id import ProxyRef
from appmesh_local.xds.proxy_config import MeshConfig
from appmesh_local.xds.snapshot import EncodedMessage, EncodedMessages
from tests.translate.changes import ACCOUNT, MESH_NAME, REGION, Change, World, random_change

SEQUENCES = int(os.environ.get("APPMESH_MEMO_SEQUENCES", "2000"))
BASE_SEED = int(os.environ.get("APPMESH_MEMO_SEED", "20261203"))
MAX_CHANGES = 16
BIND = "127.0.0.1"
BATCHES = 8

pytestmark = pytest.mark.timeout(600)


def apply_to_store(store: Store, change: Change) -> None:
    if change[0] in ("neighbours", "placements"):
        return
    action, kind, parent, name = change[:4]
    key = ResourceKey(ACCOUNT, REGION, kind, MESH_NAME, parent, name)
    with store.write() as tx:
        if action == "delete":
            tx.delete(key)
            return
        record = ResourceRecord(
            key=key,
            arn=arn_for(key, ACCOUNT),
            uid=name,
            version=1,
            created_at=0.0,
            last_updated_at=0.0,
            mesh_owner=ACCOUNT,
            resource_owner=ACCOUNT,
            status="ACTIVE",
            spec=change[4],
        )
        tx.put(record, "update")


def encoded(message: Message | EncodedMessage) -> bytes:
    if isinstance(message, EncodedMessage):
        return message.data
    return message.SerializeToString(deterministic=True)


def resources_of(config: MeshConfig) -> dict[tuple[str, ...], dict[tuple[str, str], bytes]]:
    out: dict[tuple[str, ...], dict[tuple[str, str], bytes]] = {}
    for ident, proxy in [*config.proxies.items(), *config.placed.items()]:
        found: dict[tuple[str, str], bytes] = {}
        for type_url, by_name in proxy.resources.items():
            items = by_name.encoded.items() if isinstance(by_name, EncodedMessages) else by_name.items()
            for name, message in items:
                found[(type_url, name)] = encoded(message)
        out[ident] = found
    return out


def cached(cache: SnapshotCache, proxy: ProxyRef) -> dict[tuple[str, str], bytes] | None:
    snapshot = cache.get(proxy)
    if snapshot is None:
        return None
    return {
        (type_url, name): resource.packed.value
        for type_url, ts in snapshot.types.items()
        for name, resource in ts.resources.items()
    }


def outcome(build: Any) -> tuple[str, Any]:
    try:
        return "ok", build()
    except Exception as error:  # noqa: BLE001 - both paths must fail alike
        return "error", f"{type(error).__name__}: {error}"


def run_sequence(seed: int) -> int:
    """One random sequence; returns the number of changes compared."""
    rng = random.Random(seed)
    world = World()
    store = Store()
    memo = MemoTranslator(cloud_map=world.discover, secrets=world)
    cache = SnapshotCache()
    history: list[str] = []
    pending = [NOTHING]  # what changed since the memo path's last build, as the reconciler collects it

    def collect(event: ChangeEvent) -> None:
        changes = event_changes(event)
        if changes is not None:
            pending[0] |= changes

    store.subscribe(collect)
    try:
        for _ in range(rng.randint(1, MAX_CHANGES)):
            change = random_change(world, rng)
            history.append(" ".join(str(part) for part in change[:4]))
            apply_to_store(store, change)
            if change[0] == "neighbours":
                pending[0] |= changes_of(tuple(change[2:]))
            where = f"seed {seed}, after {history}"
            snapshot = store.mesh_snapshot(ACCOUNT, REGION, MESH_NAME)
            truth = world.snapshot()
            assert (snapshot is None) == (truth is None), where
            if snapshot is None or truth is None:
                memo.forget((ACCOUNT, REGION, MESH_NAME))
                cache.remove_mesh((ACCOUNT, REGION, MESH_NAME))
                pending[0] = NOTHING
                continue
            placements = tuple(sorted(world.placements))
            told: MeshChanges | None = None if rng.random() < 0.125 else pending[0]
            pending[0] = NOTHING
            fresh_builder = MeshConfigBuilder(TranslateOptions(bind_address=BIND), world.discover, secrets=world)
            fresh = outcome(partial(fresh_builder.build, truth, placements))
            first, budget = None, None
            if rng.random() < 0.35:
                connected = {(kind, name) for kind, name, _ in world.placements if rng.random() < 0.5}
                first, budget = connected.__contains__, rng.randint(0, 2)
            build = partial(memo, snapshot, bind_address=BIND, placements=placements, first=first, budget=budget)
            reused = outcome(partial(build, changes=told))
            rounds = 1
            while reused[0] == "ok" and reused[1].incomplete:
                assert rounds < 50, f"{where}: rounds never end"
                cache.apply_mesh_config(reused[1])
                reused = outcome(partial(build, changes=NOTHING))
                rounds += 1
            assert fresh[0] == reused[0], f"{where}: fresh {fresh[0]} vs memoised {reused[0]}: {fresh[1]} / {reused[1]}"
            if fresh[0] == "error":
                assert fresh[1] == reused[1], where
                continue
            assert resources_of(reused[1]) == resources_of(fresh[1]), where
            assert reused[1].problems == fresh[1].problems, where
            assert reused[1].failures == fresh[1].failures, where
            update = cache.apply_mesh_config(reused[1])
            alone = SnapshotCache()
            alone.apply_mesh_config(fresh[1])
            idents = [(kind, name, "") for kind, name in fresh[1].proxies] + list(fresh[1].placed)
            for kind, name, placement in idents:
                proxy = ProxyRef(ACCOUNT, REGION, MESH_NAME, kind, name, placement)
                accepted = cached(alone, proxy)
                if accepted is not None:
                    assert cached(cache, proxy) == accepted, f"{where}: cache differs for {kind} {name}"
                else:
                    assert any(proxy.short_id() in p for p in update.problems), f"{where}: {kind} {name}"
            held = {p for p in cache.proxies() if p.mesh == MESH_NAME}
            assert held <= {ProxyRef(ACCOUNT, REGION, MESH_NAME, *i) for i in idents}, f"{where}: stale proxies"
        return len(history)
    finally:
        store.close()


@pytest.mark.parametrize("batch", range(BATCHES))
def test_memoised_build_equals_fresh_build(batch: int) -> None:
    compared = 0
    for index in range(batch, SEQUENCES, BATCHES):
        compared += run_sequence(BASE_SEED + index)
    assert compared >= SEQUENCES // BATCHES, "every sequence compared at least one change"
