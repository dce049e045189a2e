"""The reconciler with a fake store and a fake translator: debounce, ceiling, failures, deletes, Envoy latency."""

from __future__ import annotations

import statistics
import threading
import time
import urllib.request

import pytest

from appmesh_local.bridge.reconciler import Reconciler
from appmesh_local.bridge.runtime import XdsRuntime
from appmesh_local.store.records import ChangeEvent, MeshSnapshot
from appmesh_local.xds.cache import SnapshotCache
from appmesh_local.xds.proxy_config import ROUTE_CONFIGURATION, MeshConfig, ProxyConfig
from appmesh_local.xds.status import Status
from tests.support.server import free_port
from tests.xds.conftest import ACCOUNT, REGION, proxy
from tests.xds.resources import simple_resources

pytestmark = pytest.mark.timeout(60)


class FakeStore:
    """Meshes of virtual nodes whose spec is {"port": P, "body": B}; publishes ChangeEvents like the store."""

    def __init__(self) -> None:
        self.revision = 0
        self.meshes: dict[str, dict[str, dict]] = {}
        self.callbacks = []
        self.lock = threading.Lock()

    def subscribe(self, callback) -> None:
        self.callbacks.append(callback)

    def unsubscribe(self, callback) -> None:
        self.callbacks.remove(callback)

    def mesh_keys(self):
        with self.lock:
            return [(ACCOUNT, REGION, m) for m in sorted(self.meshes)]

    def mesh_snapshot(self, account, region, mesh):
        with self.lock:
            if mesh not in self.meshes:
                return None
            return MeshSnapshot(
                account,
                region,
                mesh,
                self.revision,
                {},
                virtual_nodes={k: dict(v) for k, v in self.meshes[mesh].items()},
            )

    def put(self, mesh: str, node: str | None = None, spec: dict | None = None, action: str = "update") -> None:
        with self.lock:
            self.revision += 1
            nodes = self.meshes.setdefault(mesh, {})
            if node is not None:
                nodes[node] = spec
        for callback in self.callbacks:
            callback(ChangeEvent(ACCOUNT, REGION, mesh, "virtualNode", node or "", "", action, self.revision))

    def delete_mesh(self, mesh: str) -> None:
        with self.lock:
            self.revision += 1
            del self.meshes[mesh]
        for callback in self.callbacks:
            callback(ChangeEvent(ACCOUNT, REGION, mesh, "mesh", mesh, "", "delete", self.revision))


class FakeTranslator:
    def __init__(self, cost_s: float = 0.0) -> None:
        self.calls: list[int] = []
        self.cost_s = cost_s

    def __call__(
        self,
        snapshot: MeshSnapshot,
        bind_address: str = "0.0.0.0",
        placements=(),
        changes=None,
        first=None,
        budget=None,
    ) -> MeshConfig:
        self.calls.append(snapshot.revision)
        time.sleep(self.cost_s)
        proxies = {}
        for name, spec in snapshot.virtual_nodes.items():
            if spec.get("explode"):
                raise ValueError(f"cannot translate {name}")
            proxies[("virtualNode", name)] = ProxyConfig(
                "virtualNode", name, simple_resources(spec["port"], spec["body"])
            )
        return MeshConfig(
            snapshot.account,
            snapshot.region,
            snapshot.name,
            snapshot.revision,
            proxies,
            problems=tuple(f"{n}: odd" for n, s in snapshot.virtual_nodes.items() if s.get("odd")),
        )


@pytest.fixture
def setup():
    store, cache, status, translate = FakeStore(), SnapshotCache(), Status(), FakeTranslator()
    store.put("m", "a", {"port": 8080, "body": "one"})
    reconciler = Reconciler(store, cache, status, build=translate, quiet_s=0.01, max_delay_s=0.05)
    reconciler.start()
    assert reconciler.flush(5)
    yield store, cache, status, translate, reconciler
    reconciler.stop()


def test_initial_sync_builds_existing_meshes(setup):
    store, cache, status, translate, _ = setup
    assert translate.calls == [1]
    assert cache.get(proxy("a")).revision == 1
    [mesh] = status.snapshot()["meshes"]
    assert mesh["mesh"] == "m" and mesh["error"] is None and mesh["proxies"] == 1


def test_a_burst_of_changes_is_one_rebuild_at_the_last_revision(setup):
    store, cache, _, translate, reconciler = setup
    for i in range(10):
        store.put("m", "a", {"port": 8080, "body": f"b{i}"})
    assert reconciler.flush(5)
    assert translate.calls[1:] == [11]
    assert cache.get(proxy("a")).revision == 11


def test_the_ceiling_bounds_the_delay_under_constant_changes(setup):
    store, _, _, translate, reconciler = setup
    started = time.monotonic()
    while time.monotonic() - started < 0.3:  # a change every 2 ms, never quiet for 10 ms
        store.put("m", "a", {"port": 8080, "body": str(time.monotonic())})
        time.sleep(0.002)
    assert reconciler.flush(5)
    # max_delay 50 ms over 300 ms of changes: several rebuilds, far fewer than changes.
    assert 4 <= len(translate.calls) - 1 <= 12


def test_failed_translation_keeps_the_last_good_snapshot(setup):
    store, cache, status, _, reconciler = setup
    good = cache.get(proxy("a"))
    store.put("m", "b", {"explode": True})
    assert reconciler.flush(5)
    assert cache.get(proxy("a")) is good and cache.get(proxy("b")) is None
    [mesh] = status.snapshot()["meshes"]
    assert "cannot translate b" in mesh["error"] and mesh["good_revision"] == 1
    store.put("m", "b", {"port": 8081, "body": "b", "odd": True})
    assert reconciler.flush(5)
    [mesh] = status.snapshot()["meshes"]
    assert mesh["error"] is None and mesh["problems"] == ["b: odd"]
    assert cache.get(proxy("b")) is not None


def test_deleted_mesh_removes_its_proxies(setup):
    store, cache, status, _, reconciler = setup
    store.delete_mesh("m")
    assert reconciler.flush(5)
    assert cache.proxies() == [] and status.snapshot()["meshes"] == []


def test_tag_changes_do_not_rebuild(setup):
    store, _, _, translate, reconciler = setup
    store.put("m", action="tag")
    assert reconciler.flush(5)
    assert translate.calls == [1]


def test_store_write_to_envoy_ack_latency(envoy_factory, capsys):
    """Store commit → debounce → translate → push → Envoy ACK, 20 times, each applied in order.

    The latency is printed; the target (median < 15 ms) is measured by benchmarks/convergence.py.
    """
    store = FakeStore()
    port = free_port()
    store.put("m", "a", {"port": port, "body": "v0"})
    runtime = XdsRuntime(store, port=0, build=FakeTranslator()).start()
    try:
        assert runtime.reconciler.flush(5)
        envoy_factory(runtime.port, "a")
        latencies = []
        for i in range(1, 21):
            started = time.perf_counter()
            store.put("m", "a", {"port": port, "body": f"v{i}"})

            def applied(status) -> bool:
                snap = runtime.cache.get(proxy("a"))
                if snap is None or snap.revision != store.revision:
                    return False
                version = snap.version(ROUTE_CONFIGURATION)
                return any(s.types.get("rds") and s.types["rds"].acked_version == version for s in status.streams())

            assert runtime.status.wait_for(applied, 5)
            latencies.append((time.perf_counter() - started) * 1000)
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as response:
                assert response.read().decode() == f"v{i}"
        median = statistics.median(latencies)
        with capsys.disabled():
            print(
                f"\nstore write → Envoy ACK (2 ms quiet / 20 ms ceiling): median {median:.1f} ms, "
                f"max {max(latencies):.1f} ms"
            )
    finally:
        runtime.stop(grace=0)
