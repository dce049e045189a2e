"""Incremental builds do work in proportion to the change, and big builds go in rounds (issue 17).

Work is counted, never timed: how many proxies the translator translates again for one route change
must be the proxies that use the route, whatever the size of the mesh around them; a build split into
rounds must serve the proxies with a connected Envoy in its first round and end equal to a fresh
build. The memo differential test (`test_memo_differential.py`) checks the same paths against fresh
builds over random change sequences; these tests pin the economy itself.
"""

from __future__ import annotations

import threading

import pytest

from appmesh_local.bridge.build import MeshConfigBuilder, build_mesh_config
from appmesh_local.bridge.reconciler import Reconciler
from appmesh_local.store.records import ROUTE, MeshSnapshot
from appmesh_local.translate import Translator
from appmesh_local.translate.changes import NOTHING, MeshChanges
from appmesh_local.xds.cache import SnapshotCache
from appmesh_local.xds.node_id import ProxyRef
from appmesh_local.xds.status import Status
from tests.translate.meshgen import big_mesh, service_name, with_route_weight

ROUTES, BACKENDS = 3, 3


def _users(snapshot: MeshSnapshot, service: str) -> set[tuple[str, str, str]]:
    """(kind, name, placement) of the nodes with `service` as a backend."""
    return {
        ("virtualNode", name, "")
        for name, spec in snapshot.virtual_nodes.items()
        if any(b["virtualService"]["virtualServiceName"] == service for b in spec["backends"])
    }


def _translated(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """Every proxy the translator translates from now on (its per-proxy step)."""
    seen: list[tuple[str, str]] = []
    original = Translator._translate_proxy

    def counting(self, run, outcome, ident):  # type: ignore[no-untyped-def]
        seen.append(ident)
        return original(self, run, outcome, ident)

    monkeypatch.setattr(Translator, "_translate_proxy", counting)
    return seen


@pytest.mark.parametrize("services", [20, 400])
def test_a_route_change_reaches_only_the_proxies_that_use_it(services: int, monkeypatch: pytest.MonkeyPatch) -> None:
    before = big_mesh(services, ROUTES, BACKENDS)
    builder = MeshConfigBuilder()
    builder.build(before)
    seen = _translated(monkeypatch)
    after = with_route_weight(before, service=4, route=1, weight=90)
    config = builder.build(after, changes=MeshChanges.resource(ROUTE, "r4", "route1"))
    users = _users(after, service_name(4))
    assert len(users) == 2 * BACKENDS  # the same few users in the 40-node and the 800-node mesh
    assert {(kind, name, "") for kind, name in seen} == users and len(seen) == len(users)
    assert config.delta is not None and config.delta.changed == users and not config.delta.removed
    fresh = build_mesh_config(after)
    for kind, name, _ in users:
        assert config.proxies[(kind, name)].resources == fresh.proxies[(kind, name)].resources


def test_a_build_in_rounds_does_the_connected_proxies_first_and_ends_as_a_fresh_build() -> None:
    mesh = big_mesh(20, ROUTES, BACKENDS)  # 40 nodes
    connected = {("virtualNode", "n13-v2"), ("virtualNode", "n2-v1")}
    builder = MeshConfigBuilder()
    config = builder.build(mesh, first=connected.__contains__, budget=5)
    assert config.incomplete and connected <= config.proxies.keys() and len(config.proxies) == 7
    rounds = 1
    while config.incomplete:
        config = builder.build(mesh, changes=NOTHING, budget=5)
        rounds += 1
    assert rounds == 1 + -(-(40 - 7) // 5)  # every later round does 5 more
    fresh = build_mesh_config(mesh)
    assert config.proxies.keys() == fresh.proxies.keys() and config.problems == fresh.problems
    for key, proxy in fresh.proxies.items():
        assert config.proxies[key].resources == proxy.resources, key


class _OneMesh:
    """The store seam the reconciler reads (`MeshSource`), holding one fixed snapshot."""

    def __init__(self, snapshot: MeshSnapshot) -> None:
        self.snapshot = snapshot

    def subscribe(self, callback: object) -> None:
        pass

    def unsubscribe(self, callback: object) -> None:
        pass

    def mesh_keys(self) -> list[tuple[str, str, str]]:
        return [(self.snapshot.account, self.snapshot.region, self.snapshot.name)]

    def mesh_snapshot(self, account: str, region: str, mesh: str) -> MeshSnapshot:
        return self.snapshot


def test_the_reconciler_serves_a_watched_proxy_in_the_first_round_then_builds_the_rest() -> None:
    """A server starting on a big state: the Envoy already connected gets its config from the first
    round, before the rest of the mesh is built, and the rounds follow without a new change."""
    mesh = big_mesh(20, ROUTES, BACKENDS)
    cache, status = SnapshotCache(), Status()
    watched = ProxyRef(mesh.account, mesh.region, mesh.name, "virtualNode", "n17-v1")
    built_with_it: list[int] = []
    arrived = threading.Event()

    def on_update() -> None:
        if not arrived.is_set():
            built_with_it.append(len(cache.proxies()))
            arrived.set()

    handle = cache.watch(watched, on_update)
    reconciler = Reconciler(_OneMesh(mesh), cache, status, quiet_s=0.001, max_delay_s=0.005)
    reconciler.round_budget = 4
    reconciler.start()
    try:
        assert reconciler.flush(30)
        assert arrived.is_set() and built_with_it == [5]  # the watched proxy and 4 others
        assert len(cache.proxies()) == 40 and reconciler.rebuilds == 1 + -(-(40 - 5) // 4)
        [state] = status.snapshot()["meshes"]
        assert state["error"] is None and state["problems"] == []
    finally:
        reconciler.stop()
        cache.unwatch(handle)


def test_a_result_held_across_the_next_build_keeps_what_it_said() -> None:
    """MeshIR and MeshConfig share the translator's and builder's maps (no copy per change); one still
    held when the next build starts must not show that build's changes."""
    before = big_mesh(20, ROUTES, BACKENDS)
    after = with_route_weight(before, service=4, route=1, weight=90)
    users = {(kind, name) for kind, name, _ in _users(after, service_name(4))}
    builder = MeshConfigBuilder()
    first = builder.build(before)
    first_ir = builder.translator.translate(before, changes=NOTHING)
    held = dict(first.proxies)
    second = builder.build(after, changes=MeshChanges.resource(ROUTE, "r4", "route1"))
    assert dict(first.proxies) == held and first.proxies.keys() == second.proxies.keys()
    assert all((first.proxies[k] is second.proxies[k]) == (k not in users) for k in held)
    fresh_before = Translator().translate(before)
    assert [p.name for p in first_ir.proxies] == [p.name for p in fresh_before.proxies]
    assert tuple(first_ir.proxies) == tuple(fresh_before.proxies)
    assert tuple(first_ir.proxies) != tuple(builder.translator.translate(after, changes=NOTHING).proxies)
