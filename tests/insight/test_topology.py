"""The topology's edge counters: each client's egress clusters are attributed to the edges they carry."""

from __future__ import annotations

from appmesh_local.insight.topology import build_topology
from appmesh_local.translate.loader import snapshot_from_document
from tests.e2e.colorapp import baseline


def colour_app_snapshot():
    document: dict = {
        "virtualNodes": [],
        "virtualRouters": [],
        "routes": [],
        "virtualServices": [],
        "virtualGateways": [],
        "gatewayRoutes": [],
    }
    plural = {
        "virtual_node": "virtualNodes",
        "virtual_router": "virtualRouters",
        "route": "routes",
        "virtual_service": "virtualServices",
        "virtual_gateway": "virtualGateways",
        "gateway_route": "gatewayRoutes",
    }
    for kind, names, spec in baseline():
        if kind == "mesh":
            document["mesh"] = {**names, "spec": spec}
        else:
            document[plural[kind]].append({**{k: v for k, v in names.items() if k != "meshName"}, "spec": spec})
    return snapshot_from_document(document)


def test_counters_land_on_the_edges_that_carry_them() -> None:
    stats = {
        "virtualNode/front": {
            "cds_egress_colorapp_blue_http_8080": {"upstream_rq_total": 80, "upstream_rq_5xx": 1},
            "cds_egress_colorapp_red_http_8080": {"upstream_rq_total": 20, "upstream_rq_5xx": 0},
            "cds_egress_colorapp_greeter_grpc_9090": {"upstream_rq_total": 5, "upstream_rq_5xx": 0},
        },
        "virtualGateway/gw": {"cds_egress_colorapp_front_http_8080": {"upstream_rq_total": 100, "upstream_rq_5xx": 2}},
    }
    proxies = [{"kind": "virtualNode", "name": "front", "types": {"lds": {"acked_version": "v1"}}}]
    topology = build_topology(colour_app_snapshot(), proxies, {}, stats)
    edges = {(edge["source"], edge["target"], edge["label"]): edge["counters"] for edge in topology["edges"]}
    assert edges[("virtualGateway/gw", "virtualService/front.local", "front")] == {"requests": 100, "errors": 2}
    assert edges[("virtualNode/front", "virtualService/color.local", "backend")] == {"requests": 100, "errors": 1}
    assert edges[("virtualNode/front", "virtualService/greeter.local", "backend")] == {"requests": 5, "errors": 0}
    assert edges[("virtualRouter/color", "virtualNode/blue", "split 80%")] == {"requests": 80, "errors": 1}
    assert edges[("virtualNode/front", "virtualService/echo.local", "backend")] is None  # nothing measured
    nodes = {node["id"]: node for node in topology["nodes"]}
    assert nodes["virtualNode/front"]["proxy"]["connected"] is True
    assert nodes["virtualNode/blue"]["proxy"] == {"connected": False}
