"""The snapshot cache: per-type versions, reuse of unchanged bytes, consistency, watches, mesh configs."""

from __future__ import annotations

from appmesh_local.xds.cache import SnapshotCache
from appmesh_local.xds.node_id import ProxyRef
from appmesh_local.xds.proxy_config import (
    CLUSTER,
    CLUSTER_LOAD_ASSIGNMENT,
    LISTENER,
    ROUTE_CONFIGURATION,
    MeshConfig,
    ProxyConfig,
)
from tests.xds.conftest import proxy
from tests.xds.resources import eds_cluster, simple_resources


def test_versions_carry_the_boot_id_and_change_only_for_changed_types():
    cache = SnapshotCache(boot_id="boot1")
    node = proxy("a")
    cache.set_proxy(node, simple_resources(8080, "one"))
    first = cache.get(node)
    assert all(v.startswith("boot1-") for v in first.versions().values())
    assert len(set(first.versions().values())) == 5
    cache.set_proxy(node, simple_resources(8080, "two"))
    second = cache.get(node)
    changed = {t for t in first.versions() if first.versions()[t] != second.versions()[t]}
    assert changed == {"rds"}
    assert second.types[LISTENER] is first.types[LISTENER]  # the same object: nothing re-encoded


def test_unchanged_resources_keep_their_serialized_form():
    cache = SnapshotCache()
    node = proxy("a")
    resources = simple_resources(8080)
    cache.set_proxy(node, resources)
    before = cache.get(node).types[CLUSTER].resources
    # Equal messages built anew, and the very same objects: both reuse the stored Resource.
    assert cache.set_proxy(node, simple_resources(8080)).changed == []
    assert cache.set_proxy(node, resources).changed == []
    after = cache.get(node).types[CLUSTER].resources
    assert all(after[name] is before[name] for name in before)


def test_digest_is_of_the_bytes():
    cache = SnapshotCache()
    node = proxy("a")
    cache.set_proxy(node, simple_resources(8080, "x"))
    one = cache.get(node).types[ROUTE_CONFIGURATION].resources["rds_ingress_http_8080"]
    cache.set_proxy(node, simple_resources(8080, "y"))
    two = cache.get(node).types[ROUTE_CONFIGURATION].resources["rds_ingress_http_8080"]
    assert one.digest != two.digest
    assert one.packed.value == one.message.SerializeToString(deterministic=True)


def test_inconsistent_snapshot_is_refused_and_the_previous_kept():
    cache = SnapshotCache()
    node = proxy("a")
    cache.set_proxy(node, simple_resources(8080))
    good = cache.get(node)
    missing_route = simple_resources(8080)
    missing_route[ROUTE_CONFIGURATION] = {}
    update = cache.set_proxy(node, missing_route)
    assert update.changed == [] and "rds_ingress_http_8080" in update.problems[0]
    missing_cla = simple_resources(8080)
    missing_cla[CLUSTER]["other"] = eds_cluster("other")
    update = cache.set_proxy(node, missing_cla)
    assert "EDS cluster other has no ClusterLoadAssignment" in update.problems[0]
    assert cache.get(node) is good


def test_watchers_hear_only_about_their_proxy():
    cache = SnapshotCache()
    calls: list[str] = []
    handle = cache.watch(proxy("a"), lambda: calls.append("a"))
    cache.watch(proxy("b"), lambda: calls.append("b"))
    cache.set_proxy(proxy("a"), simple_resources(8080))
    cache.set_proxy(proxy("a"), simple_resources(8080))  # no change, no call
    cache.set_proxy(proxy("b"), simple_resources(8081))
    assert calls == ["a", "b"]
    cache.unwatch(handle)
    cache.set_proxy(proxy("a"), simple_resources(8080, "new"))
    assert calls == ["a", "b"]


def test_mesh_config_updates_changed_proxies_and_removes_vanished_ones():
    cache = SnapshotCache()
    notified: list[str] = []
    for name in ("a", "b", "c"):
        cache.watch(proxy(name), lambda n=name: notified.append(n))

    def config(revision: int, bodies: dict[str, str]) -> MeshConfig:
        proxies = {
            ("virtualNode", n): ProxyConfig("virtualNode", n, simple_resources(9000 + i, body))
            for i, (n, body) in enumerate(sorted(bodies.items()))
        }
        return MeshConfig("123456789012", "us-east-1", "m", revision, proxies)

    update = cache.apply_mesh_config(config(1, {"a": "1", "b": "1"}))
    assert [p.name for p in update.changed] == ["a", "b"] and sorted(notified) == ["a", "b"]
    notified.clear()
    update = cache.apply_mesh_config(config(2, {"a": "1", "b": "2"}))
    assert [p.name for p in update.changed] == ["b"] and notified == ["b"]
    assert cache.get(proxy("b")).revision == 2 and cache.get(proxy("a")).revision == 1
    notified.clear()
    update = cache.apply_mesh_config(config(3, {"a": "1"}))
    assert [p.name for p in update.removed] == ["b"] and notified == ["b"]
    assert cache.get(proxy("b")) is None
    assert [p.name for p in cache.remove_mesh(("123456789012", "us-east-1", "m"))] == ["a"]
    assert cache.proxies() == []


def test_nack_ledger():
    cache = SnapshotCache()
    cache.record_nack("mesh/m/virtualNode/a", LISTENER, "v1")
    assert cache.is_nacked("mesh/m/virtualNode/a", LISTENER, "v1")
    assert not cache.is_nacked("mesh/m/virtualNode/a", CLUSTER_LOAD_ASSIGNMENT, "v1")
    assert not cache.is_nacked("mesh/m/virtualNode/b", LISTENER, "v1")


def test_placed_proxies_are_wanted_while_watched_or_wanted():
    """Host-mode proxies get snapshots only while someone wants them; each change of that set is announced."""
    cache, changes = SnapshotCache(), []
    cache.on_wanted_change = changes.append
    placed = ProxyRef(
        "123456789012", "us-east-1", "m", "virtualNode", "front", "host:127.100.0.1,127.100.0.2,127.100.0.3"
    )
    plain = ProxyRef("123456789012", "us-east-1", "m", "virtualNode", "front")
    handle = cache.watch(placed, lambda: None)
    cache.watch(plain, lambda: None)  # App Mesh's placement: always built, never "wanted"
    cache.want(placed)
    assert cache.wanted(placed.mesh_key) == [placed] and changes == [placed.mesh_key]
    cache.unwatch(handle)
    assert cache.wanted(placed.mesh_key) == [placed] and len(changes) == 1  # still wanted once
    cache.unwant(placed)
    assert cache.wanted(placed.mesh_key) == [] and changes == [placed.mesh_key, placed.mesh_key]
    cache.unwatch(handle)  # a second unwatch of the same handle changes nothing
    assert len(changes) == 2
