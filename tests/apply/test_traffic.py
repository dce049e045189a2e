"""Applied as written, the material carries traffic through a gateway Envoy as its source says.

Each test applies files from tests/apply/material with the real CLI, starts the gateway's
Envoy in a network namespace, and counts which backend answers each request.
"""

from __future__ import annotations

import pytest

from tests.apply.conftest import MATERIAL, GatewayLab

pytestmark = pytest.mark.timeout(180)
COLORAPP = MATERIAL / "colorapp"


def test_colour_app_templates_then_an_update_that_traffic_follows(lab: GatewayLab) -> None:
    applied = lab.apply(
        "apply", "-f", str(COLORAPP / "colorapp-network.yaml"), "-f", str(COLORAPP / "colorapp-mesh.yaml")
    )
    assert "stack colorapp-mesh: 10 create, 3 skip" in applied.out
    blue, red = lab.backend("blue", 3, 9080), lab.backend("red", 4, 9080)
    for backend in (blue, red):  # what ECS did when the tasks started
        lab.register(
            "colorapp.local", "colorteller", backend, ECS_TASK_DEFINITION_FAMILY=f"colorteller-{backend.colour}"
        )
    lab.gateway("colorapp", "colorgateway")

    seen = lab.wait_colours(8088, "/color/x", {"blue", "red"}, count=40)  # weights 1:1
    assert blue.paths[-1] == "/x"  # the gateway route's prefix is rewritten to "/", as App Mesh did
    assert lab.colours(8088, "/color/", 20, {"x-color": "blue"}) == {"blue": 20}  # the header route pins blue
    assert sum(seen.values()) == 40

    # Second release: the first colour's weight goes to 0 and the header route is removed.
    updated = lab.apply("apply", "-f", str(COLORAPP / "colorapp-mesh-v2.yaml"), "--stack-name", "colorapp-mesh")
    assert "update     ColorTellerRoute" in updated.out and "delete     ColorTellerHeaderRoute" in updated.out
    assert "stack colorapp-mesh: 1 update, 1 delete, 8 unchanged, 3 skip" in updated.out
    lab.sync()
    assert lab.wait_colours(8088, "/color/", {"red"}, count=30) == {"red": 30}
    assert lab.colours(8088, "/color/", 20, {"x-color": "blue"}) == {"red": 20}
    routes = lab.aws("appmesh").list_routes(meshName="colorapp", virtualRouterName="colorteller-vr")["routes"]
    assert [r["routeName"] for r in routes] == ["colorteller-route"]

    lab.deregister_all("colorapp.local")  # ECS stopping the tasks
    lab.apply("delete", "-f", str(COLORAPP / "colorapp-mesh.yaml"))
    lab.apply("delete", "-f", str(COLORAPP / "colorapp-network.yaml"))
    assert lab.aws("appmesh").list_meshes()["meshes"] == []
    assert lab.aws("servicediscovery").list_namespaces()["Namespaces"] == []


def test_cdk_synthesized_template(lab: GatewayLab) -> None:
    """`cdk synth` output of the aws-appmesh module (material/cdk/app.js), applied unchanged."""
    applied = lab.apply("apply", "-f", str(MATERIAL / "cdk-shop.template.json"))
    assert "stack cdk-shop: 11 create" in applied.out
    v1, v2 = lab.backend("v1", 5, 8080), lab.backend("v2", 6, 8080)
    for backend in (v1, v2):
        lab.register("shop.local", "catalog", backend, version=backend.colour)
    lab.gateway("shop", "edge")

    seen = lab.wait_colours(8088, "/catalog/items", {"v1", "v2"}, count=60)  # weights 80:20
    assert seen["v1"] > seen["v2"], seen
    assert v1.paths[-1] == "/items"
    assert lab.colours(8088, "/catalog/items", 20, {"x-canary": "yes"}) == {"v2": 20}  # the Canary route

    lab.deregister_all("shop.local")
    deleted = lab.apply("delete", "-f", str(MATERIAL / "cdk-shop.template.json"))
    assert "stack cdk-shop: 11 delete" in deleted.out


def test_controller_manifests(lab: GatewayLab) -> None:
    """The controller's walkthrough style: namespace selection, DNS names, routes inline."""
    applied = lab.apply("apply", "-f", str(MATERIAL / "k8s"))
    assert "manifests: 17 create, 3 skip" in applied.out
    for slot, colour in enumerate(("white", "blue", "red")):  # slots 0-2: the task's hosts file names
        lab.backend(colour, slot, 8080)
    lab.gateway("howto-k8s", "ingress-gw_howto-k8s")

    assert lab.wait_colours(8088, "/paths/blue", {"blue"}, count=10) == {"blue": 10}
    assert lab.colours(8088, "/paths/red", 10) == {"red": 10}
    assert set(lab.wait_colours(8088, "/paths/", {"blue", "red"}, count=40)) == {"blue", "red"}
    assert lab.colours(8088, "/headers/", 10, {"color_header": "blue"}) == {"blue": 10}
    assert lab.colours(8088, "/headers/", 10, {"color_header": "dark-red"}) == {"red": 10}
    assert lab.colours(8088, "/headers/", 10) == {"white": 10}

    deleted = lab.apply("delete", "-f", str(MATERIAL / "k8s"))
    assert "manifests: 17 delete, 3 skip" in deleted.out
    assert lab.aws("appmesh").list_meshes()["meshes"] == []
