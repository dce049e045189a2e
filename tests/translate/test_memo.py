"""Re-translation reuses everything whose inputs did not change (object identity)."""

from __future__ import annotations

from appmesh_local.bridge.build import MeshConfigBuilder, build_mesh_config
from appmesh_local.translate import Translator
from appmesh_local.xds.proxy_config import CLUSTER, LISTENER, ROUTE_CONFIGURATION
from tests.translate.meshgen import big_mesh, deep_copied, service_name, with_route_weight

SERVICES, ROUTES, BACKENDS = 20, 3, 3


def _reaches(snapshot, node: str, service: str) -> bool:
    return any(b["virtualService"]["virtualServiceName"] == service for b in snapshot.virtual_nodes[node]["backends"])


def test_one_route_change_rebuilds_only_what_depends_on_it() -> None:
    before = big_mesh(SERVICES, ROUTES, BACKENDS)
    builder = MeshConfigBuilder()
    first = builder.build(before)
    after = with_route_weight(before, service=4, route=1, weight=90)
    second = builder.build(after)

    changed_service = service_name(4)
    affected = {("virtualNode", n) for n in after.virtual_nodes if _reaches(after, n, changed_service)}
    assert affected, "the generator must make some node reach the changed service"
    for key, proxy in second.proxies.items():
        old = first.proxies[key]
        if key not in affected:
            assert proxy is old, f"{key} was rebuilt although nothing it uses changed"
            continue
        assert proxy is not old
        # Only the egress route configuration changes; listeners and clusters are reused.
        for type_url in (LISTENER, CLUSTER):
            for name, message in proxy.resources[type_url].items():
                assert message is old.resources[type_url][name], f"{key} {name} rebuilt"
        routes = proxy.resources[ROUTE_CONFIGURATION]
        assert routes["rds_egress_http_8080"] is not old.resources[ROUTE_CONFIGURATION]["rds_egress_http_8080"]
        assert routes["rds_ingress_http_8080"] is old.resources[ROUTE_CONFIGURATION]["rds_ingress_http_8080"]
        assert routes["rds_egress_http_8080"] != old.resources[ROUTE_CONFIGURATION]["rds_egress_http_8080"]


def test_equal_content_in_new_dicts_is_fully_reused() -> None:
    """A store may hand over fresh dicts each revision: equal specs still reuse everything."""
    before = big_mesh(SERVICES, ROUTES, BACKENDS)
    translator = Translator()
    first = translator.translate(before)
    second = translator.translate(deep_copied(before))
    assert all(a is b for a, b in zip(first.proxies, second.proxies))


def test_memoized_build_equals_a_fresh_build() -> None:
    before = big_mesh(SERVICES, ROUTES, BACKENDS)
    builder = MeshConfigBuilder()
    builder.build(before)
    after = with_route_weight(before, service=2, route=0, weight=10)
    reused, fresh = builder.build(after), build_mesh_config(after)
    assert reused.proxies.keys() == fresh.proxies.keys()
    for key in fresh.proxies:
        for type_url, by_name in fresh.proxies[key].resources.items():
            assert reused.proxies[key].resources[type_url] == by_name, key


def test_deleted_node_leaves_the_memo() -> None:
    before = big_mesh(SERVICES, ROUTES, BACKENDS)
    builder = MeshConfigBuilder()
    builder.build(before)
    nodes = dict(before.virtual_nodes)
    del nodes["n0-v1"]
    after = type(before)(**{**before.__dict__, "virtual_nodes": nodes, "revision": before.revision + 1})
    config = builder.build(after)
    assert ("virtualNode", "n0-v1") not in config.proxies
    assert ("virtualNode", "n0-v1") not in builder.translator._proxies
