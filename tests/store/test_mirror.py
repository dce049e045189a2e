"""The in-memory mirror behind mesh_snapshot must always equal a fresh read of the database."""

from __future__ import annotations

from dataclasses import asdict

import pytest

from appmesh_local.api_models.errors import ApiError
from appmesh_local.service import AppMeshService, RequestContext
from appmesh_local.store import Store

CTX = RequestContext()


def fresh_snapshot(path, mesh: str):
    other = Store(path)
    try:
        return other.mesh_snapshot(CTX.account, CTX.region, mesh)
    finally:
        other.close()


def node(port: int) -> dict:
    return {
        "listeners": [{"portMapping": {"port": port, "protocol": "http"}}],
        "serviceDiscovery": {"dns": {"hostname": f"n{port}.local"}},
    }


def route(target: str, weight: int) -> dict:
    return {
        "httpRoute": {
            "match": {"prefix": "/"},
            "action": {"weightedTargets": [{"virtualNode": target, "weight": weight}]},
        }
    }


def test_mirror_follows_every_kind_of_write(tmp_path):
    path = tmp_path / "state.sqlite3"
    store = Store(path)
    api = AppMeshService(store)
    api.create_mesh(CTX, {"meshName": "m"})
    assert store.mesh_snapshot(CTX.account, CTX.region, "m") is not None  # loads the mirror

    steps = [
        lambda: api.create_virtual_node(CTX, {"meshName": "m", "virtualNodeName": "a", "spec": node(80)}),
        lambda: api.create_virtual_node(CTX, {"meshName": "m", "virtualNodeName": "b", "spec": node(81)}),
        lambda: api.create_virtual_router(
            CTX,
            {
                "meshName": "m",
                "virtualRouterName": "r",
                "spec": {"listeners": [{"portMapping": {"port": 80, "protocol": "http"}}]},
            },
        ),
        lambda: api.create_route(
            CTX, {"meshName": "m", "virtualRouterName": "r", "routeName": "x", "spec": route("a", 1)}
        ),
        lambda: api.update_route(
            CTX, {"meshName": "m", "virtualRouterName": "r", "routeName": "x", "spec": route("b", 5)}
        ),
        lambda: api.create_route(
            CTX, {"meshName": "m", "virtualRouterName": "r", "routeName": "bad", "spec": route("zz", 1)}
        ),
        lambda: api.update_mesh(CTX, {"meshName": "m", "spec": {"egressFilter": {"type": "ALLOW_ALL"}}}),
        lambda: api.delete_route(CTX, {"meshName": "m", "virtualRouterName": "r", "routeName": "x"}),
        lambda: api.delete_virtual_node(CTX, {"meshName": "m", "virtualNodeName": "a"}),
    ]
    for step in steps:
        try:
            step()
        except ApiError:
            pass  # a rejected write (missing target) must leave the mirror untouched too
        mirrored = store.mesh_snapshot(CTX.account, CTX.region, "m")
        assert asdict(mirrored) == asdict(fresh_snapshot(path, "m"))


def test_snapshots_do_not_change_after_later_writes(tmp_path):
    store = Store(tmp_path / "s.sqlite3")
    api = AppMeshService(store)
    api.create_mesh(CTX, {"meshName": "m"})
    before = store.mesh_snapshot(CTX.account, CTX.region, "m")
    api.create_virtual_node(CTX, {"meshName": "m", "virtualNodeName": "a", "spec": node(80)})
    assert before.virtual_nodes == {}
    assert set(store.mesh_snapshot(CTX.account, CTX.region, "m").virtual_nodes) == {"a"}


@pytest.mark.parametrize("recreate", [False, True])
def test_deleted_mesh_has_no_snapshot_and_a_new_one_starts_empty(tmp_path, recreate):
    store = Store(tmp_path / "s.sqlite3")
    api = AppMeshService(store)
    api.create_mesh(CTX, {"meshName": "m"})
    api.create_virtual_node(CTX, {"meshName": "m", "virtualNodeName": "a", "spec": node(80)})
    store.mesh_snapshot(CTX.account, CTX.region, "m")
    api.delete_virtual_node(CTX, {"meshName": "m", "virtualNodeName": "a"})
    api.delete_mesh(CTX, {"meshName": "m"})
    assert store.mesh_snapshot(CTX.account, CTX.region, "m") is None
    if recreate:
        api.create_mesh(CTX, {"meshName": "m"})
        assert store.mesh_snapshot(CTX.account, CTX.region, "m").virtual_nodes == {}
