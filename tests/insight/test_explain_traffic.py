"""`explain` is right when real Envoy agrees: the same request, sent through an Envoy running the very
resources the server serves, reaches the virtual node explain named, with the path explain predicted.

Each scenario builds a mesh through the API, reads the proxy's served resources from the server,
runs them in a static Envoy on loopback (the fixed App Mesh ports remapped to free ones: nothing
here binds 15000/15001), then compares explain's answer with the backend that answered.
"""

from __future__ import annotations

import json
import threading
from concurrent import futures
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Iterator

import grpc
import pytest
import requests
from google.protobuf import json_format

from appmesh_local.insight.inspector import read_cluster_stats
from appmesh_local.proxy.process import EnvoyProcess
from appmesh_local.testing import InProcessServer, serve_in_thread
from appmesh_local.xds.proxy_config import LISTENER
from tests.support.server import free_port

pytestmark = pytest.mark.timeout(180)
MESH = "explain"


class Echo(BaseHTTPRequestHandler):
    """Answers with its app name and what it received."""

    def _answer(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        if length:
            self.rfile.read(length)
        body = json.dumps({"app": self.server.app_name, "path": self.path, "host": self.headers.get("Host")}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = _answer  # noqa: N815 (http.server naming)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def server() -> Iterator[InProcessServer]:
    with serve_in_thread() as running:
        running.client().create_mesh(meshName=MESH)
        yield running


def start_apps(names: list[str]) -> tuple[dict[str, int], list[ThreadingHTTPServer]]:
    ports, servers = {}, []
    for name in names:
        httpd = ThreadingHTTPServer(("127.0.0.1", 0), Echo)
        httpd.app_name = name  # type: ignore[attr-defined]
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        ports[name], servers = httpd.server_address[1], [*servers, httpd]
    return ports, servers


def node_spec(port: int, protocol: str = "http", backends: list[str] = ()) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "listeners": [{"portMapping": {"port": port, "protocol": protocol}}],
        "serviceDiscovery": {"dns": {"hostname": "127.0.0.1"}},
    }
    if backends:
        spec["backends"] = [{"virtualService": {"virtualServiceName": name}} for name in backends]
    return spec


def served_resources(server: InProcessServer, kind: str, name: str) -> dict[str, dict[str, Any]]:
    """The proxy's resources exactly as the bridge serves them, as JSON."""
    assert server.server.xds.reconciler.flush(10)
    inspector = server.server.inspector
    assert inspector is not None
    resources = inspector.proxy_resources("123456789012", "us-east-1", MESH)[(kind, name)]
    return {
        type_url: {key: json_format.MessageToDict(message) for key, message in items.items()}
        for type_url, items in resources.items()
    }


def remap(value: Any, ports: dict[int, int]) -> Any:
    if isinstance(value, dict):
        return {
            key: (ports.get(item, item) if key in ("portValue", "destinationPort") else remap(item, ports))
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [remap(item, ports) for item in value]
    return value


def static_bootstrap(resources: dict[str, dict[str, Any]], admin_port: int) -> dict[str, Any]:
    from appmesh_local.xds.proxy_config import CLUSTER, CLUSTER_LOAD_ASSIGNMENT, ROUTE_CONFIGURATION

    routes = resources.get(ROUTE_CONFIGURATION, {})
    listeners = []
    for listener in resources.get(LISTENER, {}).values():
        for chain in listener.get("filterChains", []):
            for network_filter in chain.get("filters", []):
                config = network_filter.get("typedConfig", {})
                if "rds" in config:
                    config["routeConfig"] = routes[config.pop("rds")["routeConfigName"]]
        listeners.append(listener)
    clusters = list(resources.get(CLUSTER, {}).values())
    assignments = resources.get(CLUSTER_LOAD_ASSIGNMENT, {})
    for cluster in clusters:
        if cluster.get("type") == "EDS":
            cluster["type"] = "STATIC"
            cluster.pop("edsClusterConfig", None)
            cluster["loadAssignment"] = assignments.get(cluster["name"], {"clusterName": cluster["name"]})
    return {
        "admin": {"address": {"socketAddress": {"address": "127.0.0.1", "portValue": admin_port}}},
        "staticResources": {"listeners": listeners, "clusters": clusters},
    }


def explain(server: InProcessServer, kind: str, name: str, url: str, **extra: Any) -> dict[str, Any]:
    body = {"kind": kind, "name": name, "url": url, **extra}
    answer = requests.post(
        f"{server.endpoint}/_appmesh-local/api/meshes/123456789012/us-east-1/{MESH}/explain", json=body, timeout=10
    )
    assert answer.status_code == 200, answer.text
    return answer.json()


def explained_node(explanation: dict[str, Any]) -> str | None:
    """The virtual node the final hop sends to (one cluster with weight), from its egress cluster name."""
    final = explanation["hops"][-1]
    live = [view for view in final["clusters"] if view["weight"] in (None,) or view["weight"] > 0]
    if final["outcome"] != "sent upstream" or len(live) != 1:
        return None
    prefix = f"cds_egress_{MESH}_"
    return live[0]["name"][len(prefix) :].rsplit("_", 2)[0]


GATEWAY_ROUTES: list[tuple[str, int | None, dict[str, Any], dict[str, Any] | None]] = [
    # (target node, priority, match, rewrite)
    ("n-vip", 0, {"prefix": "/", "headers": [{"name": "x-vip", "match": {"exact": "yes"}}]}, None),
    ("n-method", 1, {"prefix": "/m", "method": "POST"}, None),
    ("n-query", 2, {"prefix": "/q", "queryParameters": [{"name": "flag", "match": {"exact": "on"}}]}, None),
    ("n-host", 3, {"prefix": "/", "hostname": {"exact": "shop.example.com"}}, None),
    ("n-exact", 10, {"path": {"exact": "/exact"}}, {"path": {"exact": "/landed"}}),
    ("n-regex", 11, {"path": {"regex": "/items/[0-9]+"}}, None),
    ("n-rewrite", 12, {"prefix": "/r/"}, {"prefix": {"value": "/rewritten/"}}),
    ("n-unset", None, {"prefix": "/u/"}, None),  # unprioritised routes come after every prioritised one
    ("n-default", 1000, {"prefix": "/"}, None),
]


def test_gateway_explain_agrees_with_envoy(server: InProcessServer) -> None:
    client = server.client()
    names = [target for target, *_ in GATEWAY_ROUTES]
    ports, apps = start_apps(names)
    gateway_port, admin_port = free_port(), free_port()
    client.create_virtual_gateway(
        meshName=MESH,
        virtualGatewayName="gw",
        spec={"listeners": [{"portMapping": {"port": gateway_port, "protocol": "http"}}]},
    )
    for index, (target, priority, match, rewrite) in enumerate(GATEWAY_ROUTES):
        client.create_virtual_node(meshName=MESH, virtualNodeName=target, spec=node_spec(ports[target]))
        service = f"{target}.{MESH}.local"
        client.create_virtual_service(
            meshName=MESH, virtualServiceName=service, spec={"provider": {"virtualNode": {"virtualNodeName": target}}}
        )
        action: dict[str, Any] = {"target": {"virtualService": {"virtualServiceName": service}}}
        if rewrite:
            action["rewrite"] = rewrite
        spec: dict[str, Any] = {"httpRoute": {"match": match, "action": action}}
        if priority is not None:
            spec["priority"] = priority
        client.create_gateway_route(
            meshName=MESH, virtualGatewayName="gw", gatewayRouteName=f"gr{index}-{target}", spec=spec
        )
    resources = remap(served_resources(server, "virtualGateway", "gw"), {15001: free_port()})
    cases = [
        ("GET", "/anything", {"x-vip": "yes"}, None),
        ("POST", "/m/do", {}, None),
        ("GET", "/m/do", {}, None),  # GET falls through the method route
        ("GET", "/q/x?flag=on", {}, None),
        ("GET", "/q/x?flag=off", {}, None),
        ("GET", "/any", {}, "shop.example.com"),
        ("GET", "/exact", {}, None),
        ("GET", "/exact/more", {}, None),
        ("GET", "/items/42", {}, None),
        ("GET", "/items/x", {}, None),
        ("GET", "/r/a/b", {}, None),
        ("GET", "//r/./a/../b", {}, None),  # normalised before matching
        ("GET", "/u/x", {}, None),  # the unprioritised route loses to the priority-1000 catch-all
    ]
    try:
        with EnvoyProcess(static_bootstrap(resources, admin_port), log_level="warn"):
            for method, path, headers, host in cases:
                authority = f"{host or '127.0.0.1'}:{gateway_port}"
                explanation = explain(
                    server, "virtualGateway", "gw", f"http://{authority}{path}", method=method, headers=headers
                )
                got = requests.request(
                    method,
                    f"http://127.0.0.1:{gateway_port}{path}",
                    headers={**headers, "Host": authority},
                    timeout=5,
                ).json()
                assert explained_node(explanation) == got["app"], (method, path, explanation)
                assert explanation["hops"][-1]["upstream"]["path"] == got["path"].split("?")[0], (path, got)
            # The console's counters come from this admin page: every node that answered was counted.
            counted = read_cluster_stats(f"127.0.0.1:{admin_port}")
            reached = {
                name.rsplit("_", 2)[0].removeprefix(f"cds_egress_{MESH}_")
                for name, values in counted.items()
                if values.get("upstream_rq_total", 0) > 0 and name.startswith("cds_egress_")
            }
            assert reached == {"n-vip", "n-method", "n-query", "n-host", "n-exact", "n-regex", "n-rewrite", "n-default"}
            assert "n-unset" not in reached
    finally:
        for httpd in apps:
            httpd.shutdown()
            httpd.server_close()


def test_router_explain_agrees_with_envoy(server: InProcessServer) -> None:
    """A virtual node's outbound call through a router: header, query, method and priority matches."""
    client = server.client()
    names = ["r-header", "r-query", "r-method", "r-first", "r-default"]
    ports, apps = start_apps(names)
    service_port = free_port()
    for name in names:
        client.create_virtual_node(meshName=MESH, virtualNodeName=name, spec=node_spec(ports[name]))
    service = f"router.{MESH}.local"
    client.create_virtual_node(
        meshName=MESH,
        virtualNodeName="caller",
        spec={"backends": [{"virtualService": {"virtualServiceName": service}}]},
    )
    client.create_virtual_router(
        meshName=MESH,
        virtualRouterName="r",
        spec={"listeners": [{"portMapping": {"port": service_port, "protocol": "http"}}]},
    )
    client.create_virtual_service(
        meshName=MESH, virtualServiceName=service, spec={"provider": {"virtualRouter": {"virtualRouterName": "r"}}}
    )
    routes = [
        ("r-first", 1, {"prefix": "/", "headers": [{"name": "x-first", "match": {"prefix": "y"}}]}),
        ("r-header", 2, {"prefix": "/", "headers": [{"name": "x-env", "match": {"regex": "beta-[0-9]+"}}]}),
        ("r-query", 3, {"prefix": "/search", "queryParameters": [{"name": "q", "match": {"exact": "mesh"}}]}),
        ("r-method", 4, {"prefix": "/", "method": "PUT"}),
        ("r-default", 100, {"prefix": "/"}),
    ]
    for name, priority, match in routes:
        client.create_route(
            meshName=MESH,
            virtualRouterName="r",
            routeName=name,
            spec={
                "priority": priority,
                "httpRoute": {"match": match, "action": {"weightedTargets": [{"virtualNode": name, "weight": 1}]}},
            },
        )
    # the egress listener takes the service port itself, so a plain connection arrives on the right chain
    resources = remap(served_resources(server, "virtualNode", "caller"), {15001: service_port})
    cases = [
        ("GET", "/", {"x-first": "yes", "x-env": "beta-1"}),
        ("GET", "/", {"x-env": "beta-7"}),
        ("GET", "/", {"x-env": "beta-x"}),
        ("GET", "/search?q=mesh", {}),
        ("GET", "/search?q=other", {}),
        ("PUT", "/thing", {}),
        ("GET", "/thing", {}),
    ]
    try:
        with EnvoyProcess(static_bootstrap(resources, free_port()), log_level="warn"):
            for method, path, headers in cases:
                authority = f"{service}:{service_port}"
                explanation = explain(
                    server, "virtualNode", "caller", f"http://{authority}{path}", method=method, headers=headers
                )
                got = requests.request(
                    method, f"http://127.0.0.1:{service_port}{path}", headers={**headers, "Host": authority}, timeout=5
                ).json()
                assert explained_node(explanation) == got["app"], (method, path, headers, explanation)
    finally:
        for httpd in apps:
            httpd.shutdown()
            httpd.server_close()


class Named(grpc.GenericRpcHandler):
    """Any gRPC method answers with this server's name."""

    def __init__(self, name: str) -> None:
        self.name = name.encode()

    def service(self, handler_call_details: Any) -> Any:
        return grpc.unary_unary_rpc_method_handler(lambda request, context: self.name)


def test_grpc_service_and_method_routing_explained(server: InProcessServer) -> None:
    client = server.client()
    names = ["g-method", "g-service", "g-meta", "g-any"]
    servers, ports = [], {}
    for name in names:
        grpc_server = grpc.server(futures.ThreadPoolExecutor(max_workers=2), handlers=[Named(name)])
        ports[name] = grpc_server.add_insecure_port("127.0.0.1:0")
        grpc_server.start()
        servers.append(grpc_server)
    service_port = free_port()
    for name in names:
        client.create_virtual_node(meshName=MESH, virtualNodeName=name, spec=node_spec(ports[name], "grpc"))
    service = f"grpc.{MESH}.local"
    client.create_virtual_node(
        meshName=MESH,
        virtualNodeName="grpc-caller",
        spec={"backends": [{"virtualService": {"virtualServiceName": service}}]},
    )
    client.create_virtual_router(
        meshName=MESH,
        virtualRouterName="g",
        spec={"listeners": [{"portMapping": {"port": service_port, "protocol": "grpc"}}]},
    )
    client.create_virtual_service(
        meshName=MESH, virtualServiceName=service, spec={"provider": {"virtualRouter": {"virtualRouterName": "g"}}}
    )
    routes = [
        ("g-method", 1, {"serviceName": "shop.Cart", "methodName": "Checkout"}),
        ("g-meta", 2, {"serviceName": "shop.Cart", "metadata": [{"name": "x-tier", "match": {"exact": "gold"}}]}),
        ("g-service", 3, {"serviceName": "shop.Cart"}),
        ("g-any", 10, {}),
    ]
    for name, priority, match in routes:
        client.create_route(
            meshName=MESH,
            virtualRouterName="g",
            routeName=name,
            spec={
                "priority": priority,
                "grpcRoute": {"match": match, "action": {"weightedTargets": [{"virtualNode": name, "weight": 1}]}},
            },
        )
    resources = remap(served_resources(server, "virtualNode", "grpc-caller"), {15001: service_port})
    cases = [
        ("/shop.Cart/Checkout", {}),
        ("/shop.Cart/Checkout", {"x-tier": "gold"}),
        ("/shop.Cart/Add", {"x-tier": "gold"}),
        ("/shop.Cart/Add", {}),
        ("/shop.Catalog/List", {}),
    ]
    try:
        with EnvoyProcess(static_bootstrap(resources, free_port()), log_level="warn"):
            authority = f"{service}:{service_port}"
            options = [("grpc.default_authority", authority)]
            with grpc.insecure_channel(f"127.0.0.1:{service_port}", options=options) as channel:
                for method, metadata in cases:
                    explanation = explain(
                        server,
                        "virtualNode",
                        "grpc-caller",
                        f"http://{authority}{method}",
                        method="POST",
                        headers={"content-type": "application/grpc", **metadata},
                    )
                    call = channel.unary_unary(method, request_serializer=None, response_deserializer=None)
                    got = call(b"", metadata=list(metadata.items()), timeout=5).decode()
                    assert explained_node(explanation) == got, (method, metadata, explanation)
    finally:
        for grpc_server in servers:
            grpc_server.stop(0)
