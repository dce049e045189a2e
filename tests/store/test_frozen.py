"""Records and snapshots leaving the store are immutable all the way down (docs/contracts.md).

The translator's memo, the builder and the snapshot cache read "the same object" as "nothing
changed"; an in-place edit of a shared spec would ship stale Envoy configuration silently. Here
every way out of the store is tried: a mutation must raise, and the stored state must not move.
"""

from __future__ import annotations

import copy
import json
import pickle
from dataclasses import asdict
from typing import Any, Callable

import pytest

from appmesh_local.service import AppMeshService, RequestContext
from appmesh_local.store import ArnTaken, FrozenDict, Store, freeze
from appmesh_local.store.records import MESH, ROUTE, VIRTUAL_NODE, ResourceKey

CTX = RequestContext()
NODE = {
    "listeners": [{"portMapping": {"port": 8080, "protocol": "http"}}],
    "serviceDiscovery": {"dns": {"hostname": "n.local"}},
    "backends": [{"virtualService": {"virtualServiceName": "s.local"}}],
}


@pytest.fixture(params=["memory", "file"])
def store(request: pytest.FixtureRequest, tmp_path: Any) -> Any:
    opened = Store() if request.param == "memory" else Store.open_dir(tmp_path)
    service = AppMeshService(opened)
    service.dispatch("CreateMesh", CTX, {"meshName": "m"})
    service.dispatch("CreateVirtualNode", CTX, {"meshName": "m", "virtualNodeName": "n", "spec": NODE})
    service.dispatch(
        "CreateVirtualRouter",
        CTX,
        {
            "meshName": "m",
            "virtualRouterName": "r",
            "spec": {"listeners": [{"portMapping": {"port": 8080, "protocol": "http"}}]},
        },
    )
    route = {
        "httpRoute": {"match": {"prefix": "/"}, "action": {"weightedTargets": [{"virtualNode": "n", "weight": 1}]}}
    }
    service.dispatch("CreateRoute", CTX, {"meshName": "m", "virtualRouterName": "r", "routeName": "rt", "spec": route})
    yield opened
    opened.close()


MUTATIONS: list[tuple[str, Callable[[Any], Any]]] = [
    ("set a key", lambda spec: spec.__setitem__("listeners", [])),
    ("delete a key", lambda spec: spec.__delitem__("listeners")),
    ("setdefault", lambda spec: spec.setdefault("logging", {})),
    ("update", lambda spec: spec.update(x=1)),
    ("pop", lambda spec: spec.pop("listeners")),
    ("clear", lambda spec: spec.clear()),
    ("|=", lambda spec: spec.__ior__({"x": 1})),
    ("nested dict", lambda spec: spec["serviceDiscovery"]["dns"].__setitem__("hostname", "other")),
    ("append to a list", lambda spec: spec["listeners"].append({})),
    ("nested in a list", lambda spec: spec["listeners"][0]["portMapping"].__setitem__("port", 1)),
]


def records_out(store: Store) -> dict[str, Any]:
    """Every read path's copy of node n's spec."""
    key = ResourceKey(CTX.account, CTX.region, VIRTUAL_NODE, "m", "", "n")
    snapshot = store.mesh_snapshot(CTX.account, CTX.region, "m")
    assert snapshot is not None
    found = store.get(key)
    assert found is not None
    return {
        "get": found.spec,
        "list_records": store.list_records(CTX.account, CTX.region, VIRTUAL_NODE, "m")[0].spec,
        "in_mesh": store.in_mesh(CTX.account, CTX.region, "m", VIRTUAL_NODE)[0].spec,
        "mesh_snapshot": snapshot.virtual_nodes["n"],
    }


@pytest.mark.parametrize("name, mutate", MUTATIONS, ids=[m[0] for m in MUTATIONS])
def test_no_read_path_hands_out_a_mutable_spec(store: Store, name: str, mutate: Callable[[Any], Any]) -> None:
    for spec in records_out(store).values():
        with pytest.raises((TypeError, AttributeError)):
            mutate(spec)
    for path, spec in records_out(store).items():
        assert json.loads(json.dumps(spec)) == NODE, path


def test_snapshot_maps_are_read_only_and_do_not_follow_later_writes(store: Store) -> None:
    snapshot = store.mesh_snapshot(CTX.account, CTX.region, "m")
    assert snapshot is not None
    with pytest.raises(TypeError):
        snapshot.virtual_nodes["x"] = {}  # type: ignore[index]
    with pytest.raises(TypeError):
        snapshot.routes["r"]["other"] = {}  # type: ignore[index]
    service = AppMeshService(store)
    service.dispatch("CreateVirtualNode", CTX, {"meshName": "m", "virtualNodeName": "n2", "spec": {}})
    assert set(snapshot.virtual_nodes) == {"n"}
    later = store.mesh_snapshot(CTX.account, CTX.region, "m")
    assert later is not None and set(later.virtual_nodes) == {"n", "n2"}
    assert later.virtual_nodes["n"] is snapshot.virtual_nodes["n"], "unchanged specs stay the same object"


def test_a_written_spec_is_frozen_in_the_cache_too(store: Store) -> None:
    """The caller's dict is not what the caches keep: changing it afterwards changes nothing."""
    spec = {
        "listeners": [{"portMapping": {"port": 9090, "protocol": "http"}}],
        "serviceDiscovery": {"dns": {"hostname": "a"}},
    }
    AppMeshService(store).dispatch("UpdateVirtualNode", CTX, {"meshName": "m", "virtualNodeName": "n", "spec": spec})
    spec["listeners"][0]["portMapping"]["port"] = 1
    for path, got in records_out(store).items():
        assert got["listeners"][0]["portMapping"]["port"] == 9090, path
        assert isinstance(got, FrozenDict) and isinstance(got["listeners"], tuple), path


def test_frozen_values_still_behave_like_json(store: Store) -> None:
    spec = records_out(store)["get"]
    assert json.loads(json.dumps(spec)) == NODE, "serializes as the JSON it was"
    assert spec == freeze(NODE), "arrays are tuples: compare with frozen values"
    assert dict(spec)["listeners"] == spec["listeners"], "dict(...) is the way to a mutable copy"
    assert copy.deepcopy(spec) is spec and copy.copy(spec) is spec
    assert pickle.loads(pickle.dumps(spec)) == spec
    snapshot = store.mesh_snapshot(CTX.account, CTX.region, "m")
    assert snapshot is not None and asdict(snapshot)["virtual_nodes"]["n"] == spec


def test_freeze_is_deep_and_idempotent() -> None:
    value = {"a": [{"b": [1, {"c": "d"}]}], "e": None}
    frozen = freeze(value)
    assert frozen == {"a": ({"b": (1, {"c": "d"})},), "e": None}
    assert isinstance(frozen["a"][0]["b"][1], FrozenDict)
    assert freeze(frozen) is frozen
    value["a"][0]["b"][1]["c"] = "changed"
    assert frozen["a"][0]["b"][1]["c"] == "d", "a frozen value shares nothing mutable with its source"


def test_a_second_resource_can_never_take_an_existing_arn(store: Store) -> None:
    """The write fails (and nothing changes) where INSERT OR REPLACE used to delete the owner."""
    route = store.get(ResourceKey(CTX.account, CTX.region, ROUTE, "m", "r", "rt"))
    assert route is not None
    from dataclasses import replace

    impostor = replace(route, key=ResourceKey(CTX.account, CTX.region, MESH, "m/virtualRouter/r/route/rt", "", "x"))
    with pytest.raises(ArnTaken, match="already names route 'rt'"):
        with store.write() as tx:
            tx.put(impostor, "create")
    again = store.get(route.key)
    assert again is not None and again.uid == route.uid
