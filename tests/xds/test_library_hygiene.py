"""Used as a library or a pytest plugin, appmesh-local leaves the host process alone.

`gc.freeze()` moves every live object out of the collector's reach: right for `appmesh-local
serve` (a process the server owns, where a big mesh's translation leaves ~300,000 long-lived
objects behind), wrong inside someone else's test run or notebook. Only `serve` turns it on.
"""

from __future__ import annotations

import gc
import time
from typing import Any

import pytest

from appmesh_local.bridge.reconciler import FREEZE_AFTER_MS, Reconciler
from appmesh_local.store.records import MeshSnapshot
from appmesh_local.testing import serve_in_thread
from appmesh_local.xds.cache import SnapshotCache
from appmesh_local.xds.proxy_config import MeshConfig
from appmesh_local.xds.status import Status
from tests.xds.test_reconciler import FakeStore

pytestmark = pytest.mark.timeout(60)


def slow_build(
    snapshot: MeshSnapshot,
    *,
    bind_address: str = "0.0.0.0",
    placements: Any = (),
    changes: Any = None,
    first: Any = None,
    budget: Any = None,
) -> MeshConfig:
    """A build long enough to be worth a freeze in `serve`."""
    time.sleep(FREEZE_AFTER_MS * 2 / 1000)
    return MeshConfig(snapshot.account, snapshot.region, snapshot.name, snapshot.revision)


def frozen_after_one_build(gc_freeze: bool) -> int:
    store = FakeStore()
    store.put("m", "a", {"port": 8080, "body": "one"})
    reconciler = Reconciler(store, SnapshotCache(), Status(), build=slow_build, gc_freeze=gc_freeze)
    before = gc.get_freeze_count()
    reconciler.start()
    try:
        assert reconciler.flush(10)
        assert reconciler.rebuilds == 1
        return gc.get_freeze_count() - before
    finally:
        reconciler.stop()
        gc.unfreeze()


def test_the_reconciler_freezes_only_when_its_owner_asks() -> None:
    gc.unfreeze()
    assert frozen_after_one_build(gc_freeze=False) == 0
    assert frozen_after_one_build(gc_freeze=True) > 0, "the control: a long build does freeze when asked"


def test_an_in_process_server_never_freezes_the_host() -> None:
    gc.unfreeze()
    with serve_in_thread() as server:
        assert server.server.config.gc_freeze is False
        assert server.xds.reconciler is not None and server.xds.reconciler.gc_freeze is False
        api = server.client()
        api.create_mesh(meshName="hygiene")
        api.create_virtual_node(meshName="hygiene", virtualNodeName="n", spec={})
        assert server.xds.reconciler.flush(10)
    assert gc.get_freeze_count() == 0
