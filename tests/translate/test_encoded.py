"""Shared egress virtual hosts and route configurations assembled from their encodings."""

from __future__ import annotations

from pathlib import Path

import pytest
from envoy.config.route.v3 import route_pb2

from appmesh_local.bridge.build import MeshConfigBuilder
from appmesh_local.envoy.route import build_route_configuration, encode_route_configuration, encode_virtual_host
from appmesh_local.ir import HttpRoute, RouteConfig, VirtualHost, WeightedTarget
from appmesh_local.translate import Translator, translate_mesh
from appmesh_local.translate.loader import load_mesh_file
from appmesh_local.translate.services import CATCH_ALL
from appmesh_local.xds.proxy_config import ROUTE_CONFIGURATION
from appmesh_local.xds.snapshot import EncodedMessage, EncodedMessages, make_resource
from tests.translate.conftest import golden_cases
from tests.translate.meshgen import big_mesh, service_name, with_route_weight

CASES = golden_cases()


def _check_encodings(snapshot) -> int:
    """Every route configuration the builder hands over carries the bytes a plain build serializes to."""
    ir = translate_mesh(snapshot)
    config = MeshConfigBuilder().build(snapshot)
    checked = 0
    for proxy in ir.proxies:
        routes = config.proxies[(proxy.kind, proxy.name)].resources.get(ROUTE_CONFIGURATION, {})
        assert isinstance(routes, EncodedMessages) or not routes
        for spec in proxy.route_configs:
            expected = build_route_configuration(spec).SerializeToString(deterministic=True)
            assert routes.encoded[spec.name].data == expected, (proxy.name, spec.name)
            message = routes[spec.name]
            assert message is routes[spec.name], "parsed once"
            assert message.SerializeToString(deterministic=True) == expected
            assert message == build_route_configuration(spec)
            checked += 1
    return checked


@pytest.mark.parametrize("case", CASES, ids=[c.stem for c in CASES])
def test_assembled_bytes_equal_deterministic_serialization_golden(case: Path) -> None:
    _check_encodings(load_mesh_file(case))


def test_assembled_bytes_equal_deterministic_serialization_big_mesh() -> None:
    assert _check_encodings(big_mesh(12, 3, 3)) > 12


def test_assembled_bytes_edge_cases() -> None:
    """An empty name is omitted (proto3 default), an empty virtual host is still a field; long lengths."""
    route = HttpRoute(name="r" * 300, match=CATCH_ALL, clusters=(WeightedTarget("c" * 200, 1),))
    for spec in (
        RouteConfig(name="", virtual_hosts=()),
        RouteConfig(name="x", virtual_hosts=(VirtualHost(name="", domains=()),)),
        RouteConfig(
            name="é" * 100,
            virtual_hosts=tuple(VirtualHost(name=f"v{i}", domains=("*",), routes=(route,) * 60) for i in range(3)),
        ),
    ):
        expected = build_route_configuration(spec).SerializeToString(deterministic=True)
        assert encode_route_configuration(spec, encode_virtual_host) == expected


def test_encoded_message_is_packed_as_is_and_parsed_only_when_read() -> None:
    spec = RouteConfig(name="rds", virtual_hosts=(VirtualHost(name="a", domains=("a",)),))
    message = build_route_configuration(spec)
    encoded = EncodedMessage(route_pb2.RouteConfiguration, encode_route_configuration(spec, encode_virtual_host))
    plain = make_resource(ROUTE_CONFIGURATION, "rds", message)
    given = make_resource(ROUTE_CONFIGURATION, "rds", encoded)
    assert given.digest == plain.digest and given.packed == plain.packed
    assert encoded._message is None, "packing must not parse"
    assert given.message == message and given.message is encoded.message
    assert make_resource(ROUTE_CONFIGURATION, "rds", encoded, given) is given
    routes = EncodedMessages({"rds": encoded})
    assert routes == {"rds": message} and "rds" in routes and len(routes) == 1


def _egress_vhosts(ir, node: str) -> dict[str, VirtualHost]:
    proxy = ir.proxy("virtualNode", node)
    return {v.name: v for rc in proxy.route_configs if rc.name.startswith("rds_egress") for v in rc.virtual_hosts}


def test_clients_of_a_service_share_one_virtual_host_object() -> None:
    before = big_mesh(20, 3, 3)
    translator = Translator()
    first = translator.translate(before)
    by_service: dict[str, list[VirtualHost]] = {}
    for name in before.virtual_nodes:
        for vs, vhost in _egress_vhosts(first, name).items():
            by_service.setdefault(vs, []).append(vhost)
    shared = [hosts for hosts in by_service.values() if len(hosts) > 1]
    assert shared, "the generator must give some service several clients"
    for hosts in shared:
        assert all(h is hosts[0] for h in hosts)

    changed = service_name(4)
    second = translator.translate(with_route_weight(before, service=4, route=1, weight=90))
    for name in before.virtual_nodes:
        old, new = _egress_vhosts(first, name), _egress_vhosts(second, name)
        for vs, vhost in new.items():
            if vs == changed:
                assert vhost is not old[vs] and vhost != old[vs]
            else:
                assert vhost is old[vs], f"{name}: {vs} rebuilt although it did not change"


def test_unchanged_types_keep_their_mapping_and_snapshot() -> None:
    from appmesh_local.xds.cache import SnapshotCache
    from appmesh_local.xds.node_id import ProxyRef
    from appmesh_local.xds.proxy_config import CLUSTER, LISTENER

    before = big_mesh(20, 3, 3)
    builder, cache = MeshConfigBuilder(), SnapshotCache()
    first = builder.build(before)
    cache.apply_mesh_config(first)
    old_snaps = {key: cache.get(ProxyRef(first.account, first.region, first.mesh, *key)) for key in first.proxies}
    second = builder.build(with_route_weight(before, service=4, route=1, weight=90))
    update = cache.apply_mesh_config(second)
    assert update.changed and not update.problems
    for ref in update.changed:
        key = (ref.kind, ref.name)
        new, old = second.proxies[key].resources, first.proxies[key].resources
        for type_url in (LISTENER, CLUSTER):
            assert new[type_url] is old[type_url], f"{key}: unchanged {type_url} mapping rebuilt"
            assert cache.get(ref).types[type_url] is old_snaps[key].types[type_url]
        assert new[ROUTE_CONFIGURATION] is not old[ROUTE_CONFIGURATION]
        assert cache.get(ref).types[ROUTE_CONFIGURATION].version != old_snaps[key].types[ROUTE_CONFIGURATION].version


def test_consistency_check_with_memoized_references() -> None:
    """The per-resource memo of referenced names must not hide a route configuration that went away."""
    from appmesh_local.xds.proxy_config import LISTENER
    from appmesh_local.xds.snapshot import check_consistency

    config = MeshConfigBuilder().build(big_mesh(4, 2, 2))
    proxy = next(iter(config.proxies.values())).resources
    listeners = {n: make_resource(LISTENER, n, m) for n, m in proxy[LISTENER].items()}
    routes = {n: make_resource(ROUTE_CONFIGURATION, n, m) for n, m in proxy[ROUTE_CONFIGURATION].items()}
    for _ in range(2):
        assert check_consistency({LISTENER: listeners, ROUTE_CONFIGURATION: routes}) == []
        missing = check_consistency({LISTENER: listeners, ROUTE_CONFIGURATION: {}})
        assert len(missing) == len(routes) and all("does not exist" in p for p in missing)


def test_ingress_is_reused_when_only_a_backend_changes() -> None:
    before = big_mesh(20, 3, 3)
    translator = Translator()
    first = translator.translate(before)
    second = translator.translate(with_route_weight(before, service=4, route=1, weight=90))
    rebuilt = [p for p, q in zip(first.proxies, second.proxies) if p is not q]
    assert rebuilt, "the change must reach some proxy"
    for old in rebuilt:
        new = second.proxy(old.kind, old.name)
        ingress_old = [x for x in old.listeners if x.direction == "INBOUND"]
        ingress_new = [x for x in new.listeners if x.direction == "INBOUND"]
        assert ingress_new and all(a is b for a, b in zip(ingress_old, ingress_new))
        assert new.route_configs[0] is old.route_configs[0] and new.route_configs[0].name.startswith("rds_ingress")
    # The node's own spec changing rebuilds its ingress.
    nodes = {n: dict(s) for n, s in before.virtual_nodes.items()}
    name = sorted(nodes)[0]
    nodes[name]["listeners"] = [{"portMapping": {"port": 9090, "protocol": "http"}}]
    third = translator.translate(type(before)(**{**before.__dict__, "virtual_nodes": nodes}))
    assert third.proxy("virtualNode", name).route_configs[0].name == "rds_ingress_http_9090"


def test_dropped_route_configuration_is_still_caught_with_unchanged_listeners() -> None:
    """The consistency check is skipped only when route configuration names are unchanged too."""
    from appmesh_local.xds.cache import SnapshotCache
    from appmesh_local.xds.proxy_config import MeshConfig, ProxyConfig

    builder, cache = MeshConfigBuilder(), SnapshotCache()
    first = builder.build(big_mesh(4, 2, 2))
    cache.apply_mesh_config(first)
    key, proxy = next(iter(first.proxies.items()))
    routes = proxy.resources[ROUTE_CONFIGURATION]
    dropped = sorted(routes)[0]
    kept = EncodedMessages({n: m for n, m in routes.encoded.items() if n != dropped})
    broken = ProxyConfig(kind=proxy.kind, name=proxy.name, resources={**proxy.resources, ROUTE_CONFIGURATION: kept})
    config = MeshConfig(
        account=first.account,
        region=first.region,
        mesh=first.mesh,
        revision=first.revision + 1,
        proxies={**first.proxies, key: broken},
    )
    update = cache.apply_mesh_config(config)
    assert not update.changed
    assert any(dropped in p and "does not exist" in p for p in update.problems), update.problems


def test_assembled_route_configurations_are_joined_only_when_read() -> None:
    """The builder hands over a route configuration as its parts: the cache takes the builder's
    digest and packs it without joining them, so a proxy no Envoy reads never pays for the copy;
    the first read (a push) joins them, into the bytes a plain build serializes to."""
    from appmesh_local.xds.cache import SnapshotCache

    snapshot = big_mesh(12, 3, 3)
    config = MeshConfigBuilder().build(snapshot)
    cache = SnapshotCache()
    cache.apply_mesh_config(config)
    encoded = [
        message
        for proxy in config.proxies.values()
        for message in proxy.resources.get(ROUTE_CONFIGURATION, EncodedMessages()).encoded.values()
    ]
    assert encoded and all(message._data is None for message in encoded), "applying must not join"
    ir = {(p.kind, p.name): p for p in translate_mesh(snapshot).proxies}
    for proxy in cache.proxies():
        for resource in cache.get(proxy).types[ROUTE_CONFIGURATION].resources.values():
            spec = next(rc for rc in ir[(proxy.kind, proxy.name)].route_configs if rc.name == resource.name)
            assert resource.packed.value == build_route_configuration(spec).SerializeToString(deterministic=True)
    assert all(message._data is not None for message in encoded)
