"""One value that cannot become Envoy configuration fails only the proxies that use it.

The probe of issue 15 stored a 2^70 s timeout (the model allows it) and from then on no change
anywhere in that mesh reached Envoy. The translator now caps durations and long counts at what
Envoy holds (docs/translation.md, "Configurations Envoy would refuse"), so that probe value
translates; the values here are ones it does not rewrite. The mesh is fed to the bridge directly,
as the store's snapshots, so the test holds whatever the API accepts or refuses: the bridge must
cope with any value it is handed (an older database, a future validation gap).
"""

from __future__ import annotations

import http.server
import threading
import time
import urllib.request
from typing import Any, Callable, Iterator

import pytest

from appmesh_local.bridge.build import MeshConfigBuilder
from appmesh_local.bridge.reconciler import MemoTranslator
from appmesh_local.bridge.runtime import XdsRuntime
from appmesh_local.proxy.bootstrap import render_bootstrap
from appmesh_local.proxy.process import EnvoyProcess
from appmesh_local.store.records import ChangeEvent, MeshSnapshot
from appmesh_local.testing import envoy_available
from appmesh_local.translate import TranslateOptions
from tests.support.server import free_port

pytestmark = pytest.mark.timeout(120)
ACCOUNT, REGION, MESH = "123456789012", "us-east-1", "iso"
TOO_LONG = {"unit": "s", "value": 2**70}  # the model allows it; the translator caps it for Envoy
# A weight beyond the model's 100 and Envoy's uint32: only a validation gap or an older database hands it over.
TOO_HEAVY = 2**40
TOO_MANY = 2**40  # maxConnections: the model's `integer` has no maximum; Envoy's uint32 cannot hold it


def node(port: int, *, backends: tuple[str, ...] = (), listener: dict | None = None, host: str = "127.0.0.1") -> dict:
    return {
        "listeners": [{"portMapping": {"port": port, "protocol": "http"}, **(listener or {})}],
        "serviceDiscovery": {"dns": {"hostname": host}},
        "backends": [{"virtualService": {"virtualServiceName": b}} for b in backends],
    }


def by_node(name: str) -> dict:
    return {"provider": {"virtualNode": {"virtualNodeName": name}}}


def snapshot(revision: int, **kinds: Any) -> MeshSnapshot:
    return MeshSnapshot(ACCOUNT, REGION, MESH, revision, {}, **kinds)


# ---- the builder: which proxies fail, and why ----------------------------------------------------------
def clients_of_a_router_with(weight: int, revision: int = 1, unrelated_port: int = 9090) -> MeshSnapshot:
    """c1 and c2 reach s.local through router r (its one target at `weight`); `unrelated` reaches nothing."""
    route = {
        "httpRoute": {
            "match": {"prefix": "/"},
            "action": {"weightedTargets": [{"virtualNode": "backend", "weight": weight}]},
        }
    }
    return snapshot(
        revision,
        virtual_nodes={
            "backend": node(8080),
            "c1": node(8081, backends=("s.local",)),
            "c2": node(8082, backends=("s.local",)),
            "unrelated": node(unrelated_port),
        },
        virtual_routers={"r": {"listeners": [{"portMapping": {"port": 8080, "protocol": "http"}}]}},
        routes={"r": {"rt": route}},
        virtual_services={"s.local": {"provider": {"virtualRouter": {"virtualRouterName": "r"}}}},
    )


def test_a_shared_resource_fails_exactly_its_users_naming_it():
    builder = MeshConfigBuilder(TranslateOptions(bind_address="127.0.0.1"))
    config = builder.build(clients_of_a_router_with(TOO_HEAVY))
    assert sorted(config.failures) == [("virtualNode", "c1"), ("virtualNode", "c2")]
    for reason in config.failures.values():
        assert "virtual host s.local" in reason and "out of range" in reason, reason
    assert sorted(config.proxies) == [("virtualNode", "backend"), ("virtualNode", "unrelated")]

    # the rest of the mesh keeps converging while the value stays
    later = builder.build(clients_of_a_router_with(TOO_HEAVY, revision=2, unrelated_port=9091))
    listener = next(iter(later.proxies[("virtualNode", "unrelated")].resources[LISTENER].values()))
    assert "9091" in str(listener)
    assert sorted(later.failures) == [("virtualNode", "c1"), ("virtualNode", "c2")]

    fixed = builder.build(clients_of_a_router_with(1, revision=3))
    assert fixed.failures == {}
    assert len(fixed.proxies) == 4


def test_a_proxy_that_starts_failing_keeps_its_last_good_config():
    builder = MeshConfigBuilder(TranslateOptions(bind_address="127.0.0.1"))
    good = builder.build(clients_of_a_router_with(1))
    bad = builder.build(clients_of_a_router_with(TOO_HEAVY, revision=2))
    assert set(bad.failures) == {("virtualNode", "c1"), ("virtualNode", "c2")}
    for ident in bad.failures:
        assert bad.proxies[ident] is good.proxies[ident]  # the very config Envoy holds: nothing pushed


def test_the_probes_value_fails_its_own_node_only():
    builder = MeshConfigBuilder(TranslateOptions(bind_address="127.0.0.1"))
    listener = {"connectionPool": {"http": {"maxConnections": TOO_MANY}}}
    config = builder.build(snapshot(1, virtual_nodes={"bad": node(8080, listener=listener), "good": node(8081)}))
    assert list(config.failures) == [("virtualNode", "bad")]
    assert (
        "Cluster cds_ingress" in config.failures[("virtualNode", "bad")]
        and "out of range" in config.failures[("virtualNode", "bad")]
    )
    assert list(config.proxies) == [("virtualNode", "good")]


def test_the_probes_timeout_is_capped_and_fails_nothing():
    builder = MeshConfigBuilder(TranslateOptions(bind_address="127.0.0.1"))
    listener = {"timeout": {"http": {"perRequest": TOO_LONG}}}
    config = builder.build(snapshot(1, virtual_nodes={"capped": node(8080, listener=listener)}))
    assert config.failures == {}
    [routes] = config.proxies[("virtualNode", "capped")].resources[ROUTES].values()
    assert routes.virtual_hosts[0].routes[0].route.timeout.seconds == 9_223_372_035


# ---- the bridge with real Envoys ---------------------------------------------------------------------
class SnapshotFeed:
    """The store as the reconciler sees it: whole-mesh snapshots at increasing revisions."""

    def __init__(self) -> None:
        self.current: MeshSnapshot | None = None
        self.subscribers: list[Callable[[ChangeEvent], None]] = []

    def mesh_keys(self) -> list[tuple[str, str, str]]:
        return [(ACCOUNT, REGION, MESH)] if self.current else []

    def mesh_snapshot(self, account: str, region: str, mesh: str) -> MeshSnapshot | None:
        return self.current

    def subscribe(self, callback: Callable[[ChangeEvent], None]) -> None:
        self.subscribers.append(callback)

    def unsubscribe(self, callback: Callable[[ChangeEvent], None]) -> None:
        self.subscribers.remove(callback)

    def publish(self, mesh: MeshSnapshot) -> None:
        self.current = mesh
        for callback in list(self.subscribers):
            callback(ChangeEvent(ACCOUNT, REGION, MESH, "virtualNode", "", "", "update", mesh.revision))


class App(http.server.ThreadingHTTPServer):
    """A one-line HTTP app answering with its own name."""

    def __init__(self, name: str) -> None:
        body = name.encode()

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        self.port = self.server_address[1]
        threading.Thread(target=self.serve_forever, daemon=True).start()


@pytest.fixture
def apps() -> Iterator[tuple[App, App]]:
    a, b = App("app-a"), App("app-b")
    yield a, b
    for app in (a, b):
        app.shutdown()
        app.server_close()


def gateway_mesh(revision: int, good_port: int, gw_port: int, bad: dict | None = None) -> MeshSnapshot:
    nodes = {"good": node(good_port)}
    if bad is not None:
        nodes["bad"] = bad
    return snapshot(
        revision,
        virtual_nodes=nodes,
        virtual_services={"good.local": by_node("good")},
        virtual_gateways={"gw": {"listeners": [{"portMapping": {"port": gw_port, "protocol": "http"}}]}},
        gateway_routes={
            "gw": {
                "all": {
                    "httpRoute": {
                        "match": {"prefix": "/"},
                        "action": {"target": {"virtualService": {"virtualServiceName": "good.local"}}},
                    }
                }
            }
        },
    )


def answer(port: int) -> str | None:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(f"http://127.0.0.1:{port}/", timeout=2) as response:
            return response.read().decode()
    except OSError:
        return None


def wait_for(check: Callable[[], Any], timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"not within {timeout}s: {check}")


@pytest.mark.skipif(envoy_available() is not None, reason=f"real Envoy needed: {envoy_available()}")
def test_the_mesh_keeps_converging_around_a_value_envoy_cannot_hold(apps):
    app_a, app_b = apps
    gw_port = free_port()
    feed = SnapshotFeed()
    runtime = XdsRuntime(feed, port=0, build=MemoTranslator(), bind_address="127.0.0.1").start()
    envoys: list[EnvoyProcess] = []
    try:

        def envoy(kind: str, name: str) -> EnvoyProcess:
            bootstrap = render_bootstrap(MESH, kind, name, "127.0.0.1", runtime.port, admin_port=0)
            process = EnvoyProcess(bootstrap, log_level="warning").start(wait_live=False, timeout=20)
            envoys.append(process)
            return process

        feed.publish(gateway_mesh(1, app_a.port, gw_port))
        envoy("virtualGateway", "gw")
        assert wait_for(lambda: answer(gw_port) == "app-a")

        # revision 2: a node whose connection limit Envoy cannot hold, and a real change for the gateway
        bad_node = node(free_port(), listener={"connectionPool": {"http": {"maxConnections": TOO_MANY}}})
        feed.publish(gateway_mesh(2, app_b.port, gw_port, bad=bad_node))
        bad_envoy = envoy("virtualNode", "bad")
        assert wait_for(lambda: answer(gw_port) == "app-b")  # the change got through

        def failed() -> list[dict]:
            return [m for m in runtime.status_snapshot()["meshes"] if m["mesh"] == MESH][0]["failed_proxies"]

        [failure] = wait_for(failed)
        assert (failure["kind"], failure["name"], failure["since_revision"]) == ("virtualNode", "bad", 2)
        assert "out of range" in failure["error"]
        waiting = wait_for(lambda: [u for u in runtime.status_snapshot()["unknown_nodes"] if u["name"] == "bad"])
        assert "cannot be translated" in waiting[0]["reason"]  # status says why that Envoy has nothing
        assert "lds_ingress" not in str(bad_envoy.config_dump())  # ...and it has nothing

        # revision 3: the value is fixed; the held-back proxy gets its config, nothing is failing
        feed.publish(gateway_mesh(3, app_b.port, gw_port, bad=node(bad_node["listeners"][0]["portMapping"]["port"])))
        wait_for(lambda: "lds_ingress" in str(bad_envoy.config_dump()))
        wait_for(lambda: failed() == [])
        assert answer(gw_port) == "app-b"
    finally:
        for process in envoys:
            process.stop()
        runtime.stop(grace=0)


LISTENER = "type.googleapis.com/envoy.config.listener.v3.Listener"
ROUTES = "type.googleapis.com/envoy.config.route.v3.RouteConfiguration"
