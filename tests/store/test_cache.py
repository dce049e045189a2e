"""The record cache behind get/list/count must always answer what a fresh read of the database answers."""

from __future__ import annotations

import pytest

from appmesh_local.api_models.errors import ApiError
from appmesh_local.service import AppMeshService, RequestContext
from appmesh_local.store import ResourceKey, Store
from appmesh_local.store.records import MESH, ROUTE, VIRTUAL_NODE, VIRTUAL_SERVICE

CTX = RequestContext()
A, R = CTX.account, CTX.region


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


def reads(store: Store) -> dict:
    """Everything the service reads, through the store's public read methods."""
    answer: dict = {"meshes": store.list_records(A, R, MESH), "mesh_count": store.count(A, R, MESH)}
    for mesh in ("m", "other"):
        answer[mesh] = {
            "mesh": store.get(ResourceKey(A, R, MESH, mesh, "", mesh)),
            "nodes": store.list_records(A, R, VIRTUAL_NODE, mesh),
            "nodes_after_b": store.list_records(A, R, VIRTUAL_NODE, mesh, "", "b", 2),
            "node_count": store.count(A, R, VIRTUAL_NODE, mesh),
            "routes": store.list_records(A, R, ROUTE, mesh, "r"),
            "route_count": store.count(A, R, ROUTE, mesh, "r"),
            "all_routes": store.in_mesh(A, R, mesh, ROUTE),
            "services": store.in_mesh(A, R, mesh, VIRTUAL_SERVICE),
            "node_a": store.get(ResourceKey(A, R, VIRTUAL_NODE, mesh, "", "a")),
            "node_a_by_arn": store.get_by_arn(f"arn:aws:appmesh:{R}:{A}:mesh/{mesh}/virtualNode/a"),
        }
    return answer


def fresh_reads(path) -> dict:
    other = Store(path)
    try:
        return reads(other)
    finally:
        other.close()


def test_cache_follows_every_kind_of_write(tmp_path):
    path = tmp_path / "state.sqlite3"
    store = Store(path)
    api = AppMeshService(store)
    api.create_mesh(CTX, {"meshName": "m"})
    reads(store)  # loads every group the checks below compare
    steps = [
        lambda: api.create_mesh(CTX, {"meshName": "other"}),
        lambda: api.create_virtual_node(CTX, {"meshName": "m", "virtualNodeName": "c", "spec": node(82)}),
        lambda: api.create_virtual_node(CTX, {"meshName": "m", "virtualNodeName": "a", "spec": node(80)}),
        lambda: api.create_virtual_node(CTX, {"meshName": "m", "virtualNodeName": "b", "spec": node(81)}),
        lambda: api.create_virtual_node(CTX, {"meshName": "m", "virtualNodeName": "a", "spec": node(83)}),  # Conflict
        lambda: api.create_virtual_node(CTX, {"meshName": "other", "virtualNodeName": "a", "spec": node(90)}),
        lambda: api.update_virtual_node(CTX, {"meshName": "m", "virtualNodeName": "a", "spec": node(84)}),
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
        lambda: api.create_route(
            CTX, {"meshName": "m", "virtualRouterName": "r", "routeName": "bad", "spec": route("zz", 1)}
        ),
        lambda: api.create_virtual_service(
            CTX,
            {
                "meshName": "m",
                "virtualServiceName": "s.local",
                "spec": {"provider": {"virtualNode": {"virtualNodeName": "b"}}},
            },
        ),
        lambda: api.tag_resource(
            CTX, {"resourceArn": f"arn:aws:appmesh:{R}:{A}:mesh/m/virtualNode/a", "tags": [{"key": "k", "value": "v"}]}
        ),
        lambda: api.delete_virtual_node(CTX, {"meshName": "m", "virtualNodeName": "b"}),  # in use: refused
        lambda: api.delete_route(CTX, {"meshName": "m", "virtualRouterName": "r", "routeName": "x"}),
        lambda: api.delete_virtual_node(CTX, {"meshName": "m", "virtualNodeName": "c"}),
        lambda: api.delete_virtual_node(CTX, {"meshName": "other", "virtualNodeName": "a"}),
        lambda: api.delete_mesh(CTX, {"meshName": "other"}),
    ]
    for step in steps:
        try:
            step()
        except ApiError:
            pass  # a rejected write must leave the cache untouched too
        assert reads(store) == fresh_reads(path)
    store.close()


def test_a_rolled_back_write_never_reaches_the_cache():
    store = Store()
    api = AppMeshService(store)
    api.create_mesh(CTX, {"meshName": "m"})
    before = reads(store)
    with pytest.raises(RuntimeError):
        with store.write() as tx:
            mesh = store.get(ResourceKey(A, R, MESH, "m", "", "m"))
            tx.put(mesh.__class__(**{**mesh.__dict__, "version": 9}), "update")
            raise RuntimeError("abort")
    assert reads(store) == before
    assert store.get(ResourceKey(A, R, MESH, "m", "", "m")).version == 1


def test_reads_after_a_write_in_the_same_transaction_see_it():
    store = Store()
    api = AppMeshService(store)
    api.create_mesh(CTX, {"meshName": "m"})
    key = ResourceKey(A, R, MESH, "m", "", "m")
    with store.write() as tx:
        mesh = store.get(key)
        tx.put(mesh.__class__(**{**mesh.__dict__, "version": 2}), "update")
        assert store.get(key).version == 2
        assert store.list_records(A, R, MESH)[0].version == 2
    assert store.get(key).version == 2
    assert store.get(key).revision == store.revision


def test_client_token_index_follows_commits_rollbacks_and_reopening(tmp_path):
    path = tmp_path / "state.sqlite3"
    store = Store(path)
    assert store.token(A, R, "CreateMesh", "t1") is None  # loads the (empty) index
    with store.write() as tx:
        tx.remember_token(A, R, "CreateMesh", "t1", "f1", {"mesh": {"meshName": "m"}})
        assert store.token(A, R, "CreateMesh", "t1") == ("f1", {"mesh": {"meshName": "m"}})  # inside its transaction
    with pytest.raises(RuntimeError):
        with store.write() as tx:
            tx.remember_token(A, R, "CreateMesh", "t2", "f2", {})
            raise RuntimeError("abort")
    assert store.token(A, R, "CreateMesh", "t1") == ("f1", {"mesh": {"meshName": "m"}})
    assert store.token(A, R, "CreateMesh", "t2") is None
    assert store.token(A, R, "UpdateMesh", "t1") is None
    store.close()
    reopened = Store(path)
    assert reopened.token(A, R, "CreateMesh", "t1") == ("f1", {"mesh": {"meshName": "m"}})
    assert reopened.token("999999999999", R, "CreateMesh", "t1") is None
    reopened.close()
