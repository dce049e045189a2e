"""What App Mesh's gateway walkthroughs rely on, with a real gateway Envoy and real backends (issue 12).

- howto-multiple-listeners (aws/aws-app-mesh-examples): gateway routes pick the target's
  provider port (`GatewayRouteTarget.port`); `/fruit` and `/vegetable` reach two different
  listeners of one virtual node, a second gateway listener reaches a third service.
- howto-timeout-policy: "Timeouts at Virtual Gateways are calculated implicitly based on the
  timeouts of the routes present in the Virtual Service that the Gateway Route points to";
  the gateway allows the largest of them. Only a route timeout above App Mesh's 15 s default
  shows what the gateway allows, so that test runs in real walkthrough seconds (its requests
  in parallel: about 20 s).

The gateway's Envoy runs in the client task (no iptables act on it, as App Mesh gateways had
none); requests come from this process to the task's gateway ports.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
from typing import Any

import pytest

from tests.policies.conftest import Scenario

pytestmark = pytest.mark.timeout(180)
UNIT = 1.0  # seconds per walkthrough second: the rule is only visible above the 15 s default


def get(sc: Scenario, port: int, path: str, timeout: float = 15) -> dict[str, Any]:
    started = time.monotonic()
    connection = http.client.HTTPConnection(sc.lab.client_task.address, port, timeout=timeout)
    try:
        connection.request("GET", path, headers={"Connection": "close"})
        response = connection.getresponse()
        body = response.read()
        return {
            "status": response.status,
            "backend": response.getheader("x-backend"),
            "body": body,
            "elapsed": time.monotonic() - started,
        }
    finally:
        connection.close()


def gateway_route(sc: Scenario, gateway: str, name: str, match: dict, vs: str, port: int | None = None) -> None:
    target: dict[str, Any] = {"virtualService": {"virtualServiceName": vs}}
    if port is not None:
        target["port"] = port
    sc.appmesh.create_gateway_route(
        meshName=sc.mesh,
        virtualGatewayName=gateway,
        gatewayRouteName=name,
        spec={"httpRoute": {"match": match, "action": {"target": target}}},
    )


def mesh_problems(sc: Scenario) -> list[str]:
    """What the translator reported for this test's mesh (`appmesh-local status`)."""
    [mesh] = [m for m in sc.lab.server.status()["meshes"] if m["mesh"] == sc.mesh]
    return mesh["problems"]


def dns_node(sc: Scenario, name: str, address: str, *ports: int, **listener: Any) -> None:
    """A virtual node found by DNS (the walkthroughs' discovery) at a backend address, one listener per port."""
    sc.appmesh.create_virtual_node(
        meshName=sc.mesh,
        virtualNodeName=name,
        spec={
            "listeners": [{"portMapping": {"port": p, "protocol": "http"}, **listener} for p in ports],
            "serviceDiscovery": {"dns": {"hostname": address}},
        },
    )


def test_gateway_routes_reach_the_target_port_they_name(scenario) -> None:
    """howto-multiple-listeners: foodteller-vn listens on 5555 (fruit) and 6666 (vegetable),
    its router maps 3333 → 5555 and 4444 → 6666, and the gateway's 1111 listener sends
    `/fruit` to port 3333 and `/vegetable` to port 4444; 2222 goes to colorteller on 7777.
    Before issue 12 `/vegetable` reached the 5555 listener 20 times out of 20."""
    sc, domain = scenario, scenario.namespace
    fruit = sc.backend(port=5555)
    vegetable = sc.backend(port=6666, address=fruit.address)
    color = sc.backend(port=7777)
    dns_node(sc, "foodteller-vn", fruit.address, 5555, 6666)
    dns_node(sc, "colorteller-vn", color.address, 7777)
    sc.appmesh.create_virtual_router(
        meshName=sc.mesh,
        virtualRouterName="foodteller-vr",
        spec={"listeners": [{"portMapping": {"port": p, "protocol": "http"}} for p in (3333, 4444)]},
    )
    for route, router_port, node_port in (("fruit-route", 3333, 5555), ("vegetable-route", 4444, 6666)):
        sc.appmesh.create_route(
            meshName=sc.mesh,
            virtualRouterName="foodteller-vr",
            routeName=route,
            spec={
                "httpRoute": {
                    "match": {"port": router_port, "prefix": "/"},
                    "action": {"weightedTargets": [{"virtualNode": "foodteller-vn", "weight": 1, "port": node_port}]},
                }
            },
        )
    food, colors = f"foodteller.{domain}", f"colorteller.{domain}"
    sc.appmesh.create_virtual_service(
        meshName=sc.mesh,
        virtualServiceName=food,
        spec={"provider": {"virtualRouter": {"virtualRouterName": "foodteller-vr"}}},
    )
    sc.appmesh.create_virtual_service(
        meshName=sc.mesh,
        virtualServiceName=colors,
        spec={"provider": {"virtualNode": {"virtualNodeName": "colorteller-vn"}}},
    )
    sc.appmesh.create_virtual_gateway(
        meshName=sc.mesh,
        virtualGatewayName="tellergateway-vg",
        spec={"listeners": [{"portMapping": {"port": p, "protocol": "http"}} for p in (1111, 2222)]},
    )
    gateway_route(sc, "tellergateway-vg", "color-gateway-route", {"port": 2222}, colors, 7777)
    gateway_route(sc, "tellergateway-vg", "fruit-gateway-route", {"port": 1111, "prefix": "/fruit"}, food, 3333)
    gateway_route(sc, "tellergateway-vg", "vegetable-gateway-route", {"port": 1111, "prefix": "/vegetable"}, food, 4444)
    # The node's ports straight from a node-provided service, one of them with hostname rewrite DISABLED.
    direct = f"foodteller-direct.{domain}"
    sc.appmesh.create_virtual_service(
        meshName=sc.mesh,
        virtualServiceName=direct,
        spec={"provider": {"virtualNode": {"virtualNodeName": "foodteller-vn"}}},
    )
    gateway_route(sc, "tellergateway-vg", "direct-fruit", {"port": 1111, "prefix": "/direct-fruit"}, direct, 5555)
    sc.appmesh.create_gateway_route(
        meshName=sc.mesh,
        virtualGatewayName="tellergateway-vg",
        gatewayRouteName="direct-vegetable",
        spec={
            "httpRoute": {
                "match": {"port": 1111, "prefix": "/direct-vegetable"},
                "action": {
                    "target": {"virtualService": {"virtualServiceName": direct}, "port": 6666},
                    "rewrite": {"hostname": {"defaultTargetHostname": "DISABLED"}},
                },
            }
        },
    )
    envoy = sc.envoy("tellergateway-vg", kind="virtualGateway")
    assert mesh_problems(sc) == []

    answers = {path: [get(sc, 1111, path) for _ in range(20)] for path in ("/fruit", "/vegetable")}
    answers["color"] = [get(sc, 2222, "/") for _ in range(5)]
    assert {(a["status"], a["backend"]) for a in answers["/fruit"]} == {(200, fruit.name)}
    assert {(a["status"], a["backend"]) for a in answers["/vegetable"]} == {(200, vegetable.name)}
    assert {(a["status"], a["backend"]) for a in answers["color"]} == {(200, color.name)}
    assert (fruit.count, vegetable.count, color.count) == (20, 20, 5)
    # The app sees the service name as Host (App Mesh's hostname rewrite), whichever port was picked,
    # and the prefix rewritten to "/".
    assert {a["headers"]["host"] for a in fruit.attempts + vegetable.attempts} == {food}
    assert {a["path"] for a in fruit.attempts} == {"/"}

    assert (get(sc, 1111, "/direct-fruit/x")["backend"], fruit.attempts[-1]["headers"]["host"]) == (fruit.name, direct)
    answer = get(sc, 1111, "/direct-vegetable/y")
    seen = vegetable.attempts[-1]["headers"]
    assert (answer["status"], answer["backend"], vegetable.attempts[-1]["path"]) == (200, vegetable.name, "/y")
    # Hostname rewrite DISABLED: the Host the client sent, and App Mesh's marker naming the service.
    assert seen["host"] == f"{sc.lab.client_task.address}:1111" and seen["x-app-mesh-virtual-service"] == direct
    dump = json.loads(envoy.admin_get("/config_dump?resource=dynamic_active_clusters"))
    clusters = {c["cluster"]["name"] for c in dump["configs"]}
    assert {
        f"cds_egress_{sc.mesh}_foodteller-vn_http_5555",
        f"cds_egress_{sc.mesh}_foodteller-vn_http_6666",
    } <= clusters


def latency_backend(sc: Scenario):
    """A backend that sleeps `/<path>?latency=<walkthrough seconds>` × UNIT, like the walkthrough's colorteller."""
    holder: list = []

    def behaviour(attempt: int) -> tuple[int, float]:
        path = holder[0].attempts[attempt - 1]["path"]
        seconds = float(path.split("latency=")[1]) if "latency=" in path else 0.0
        return 200, seconds * UNIT

    holder.append(sc.backend(behaviour))
    return holder[0]


def test_the_gateway_allows_the_largest_timeout_of_the_target_routes(scenario) -> None:
    """howto-timeout-policy, scaled: colorteller-route (/color1 → white) allows 20 s and
    colorteller-route2 (/color2 → red) 10 s. Through the gateway a 17 s request to /color1
    passes and a 25 s one gets a 504 at 20 s (the gateway allows max(20, 10) and the route its
    own 20); /color2 answers 5 s and cuts 12 s at 10 s. Before issue 12 the gateway cut
    everything at its fixed 15 s."""
    sc = scenario
    white, red = latency_backend(sc), latency_backend(sc)
    dns_node(sc, "ColorTellerWhite", white.address, 8080)
    dns_node(sc, "ColorTellerRed", red.address, 8080)
    sc.appmesh.create_virtual_router(
        meshName=sc.mesh,
        virtualRouterName="colorteller-vr",
        spec={"listeners": [{"portMapping": {"port": 8080, "protocol": "http"}}]},
    )
    for route, prefix, node, seconds in (
        ("colorteller-route", "/color1", "ColorTellerWhite", 20),
        ("colorteller-route2", "/color2", "ColorTellerRed", 10),
    ):
        sc.appmesh.create_route(
            meshName=sc.mesh,
            virtualRouterName="colorteller-vr",
            routeName=route,
            spec={
                "priority": 1,
                "httpRoute": {
                    "match": {"prefix": prefix},
                    "action": {"weightedTargets": [{"virtualNode": node, "weight": 1}]},
                    "timeout": {"perRequest": {"unit": "ms", "value": int(seconds * UNIT * 1000)}},
                },
            },
        )
    colors = f"colorteller.{sc.namespace}"
    sc.appmesh.create_virtual_service(
        meshName=sc.mesh,
        virtualServiceName=colors,
        spec={"provider": {"virtualRouter": {"virtualRouterName": "colorteller-vr"}}},
    )
    sc.appmesh.create_virtual_gateway(
        meshName=sc.mesh,
        virtualGatewayName="publicgateway-vg",
        spec={"listeners": [{"portMapping": {"port": 8088, "protocol": "http"}}]},
    )
    gateway_route(sc, "publicgateway-vg", "publicgateway-route", {"prefix": "/"}, colors)
    sc.envoy("publicgateway-vg", kind="virtualGateway")

    paths = ("/color1?latency=17", "/color1?latency=25", "/color2?latency=5", "/color2?latency=12")
    got: dict[str, dict[str, Any]] = {}
    threads = [threading.Thread(target=lambda p=p: got.update({p: get(sc, 8088, p, timeout=40)})) for p in paths]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    passes, cut, fast, slow = (got[p] for p in paths)
    assert (passes["status"], passes["backend"]) == (200, white.name), passes  # 17 s: beyond the old 15 s cut
    assert cut["status"] == 504 and 20 * UNIT - 0.05 <= cut["elapsed"] < 20 * UNIT + 1.0, cut
    assert (fast["status"], fast["backend"]) == (200, red.name), fast
    assert slow["status"] == 504 and 10 * UNIT - 0.05 <= slow["elapsed"] < 10 * UNIT + 1.0, slow
    announced = {a["path"]: a["headers"]["x-envoy-expected-rq-timeout-ms"] for a in white.attempts + red.attempts}
    assert announced == {
        "/color1?latency=17": "20000",
        "/color1?latency=25": "20000",
        "/color2?latency=5": "10000",
        "/color2?latency=12": "10000",
    }
