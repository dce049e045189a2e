"""The colour app's services as host-mode apps: they listen where `appmesh-local run` tells them.

    mesh_apps.py colour NAME    HTTP: answers NAME
    mesh_apps.py greeter NAME   gRPC demo.Greeter/Hello: answers b"NAME:" + request
    mesh_apps.py echo NAME      TCP: each chunk comes back as b"NAME:" + chunk
    mesh_apps.py front          HTTP: GET /colour calls http://color.local:8080/ (through HTTP_PROXY),
                                GET /colour-direct calls $APPMESH_LOCAL_EGRESS_HOST:8080 with Host color.local:8080,
                                GET /grpc calls greeter.local:9090 (gRPC through http_proxy: CONNECT),
                                GET /grpc-direct calls $APPMESH_LOCAL_EGRESS_HOST:9090 (authority greeter.local:9090),
                                GET /tcp talks to $APPMESH_LOCAL_EGRESS_HOST:7000 (echo.local's port);
                                each answers JSON {"status", "body"} or 502 {"error"}

Every app listens on $APPMESH_LOCAL_APP_HOST:$PORT and appends the `x-test-id` of each request it
serves (gRPC: the request, TCP: the payload) to the file $APP_LOG, one per line: a test reads
there which app saw which request.
"""

from __future__ import annotations

import json
import os
import socket
import socketserver
import sys
import threading
import urllib.error
import urllib.parse
import urllib.request
from concurrent import futures
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HOST, PORT = os.environ["APPMESH_LOCAL_APP_HOST"], int(os.environ["PORT"])
EGRESS = os.environ.get("APPMESH_LOCAL_EGRESS_HOST", "")
_log_lock = threading.Lock()


def record(test_id: str) -> None:
    with _log_lock, open(os.environ["APP_LOG"], "a") as log:
        log.write(test_id + "\n")


class Http(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are two writes: no 40 ms delayed-ACK stall

    def answer(self, code: int, body: bytes, kind: str = "text/plain") -> None:
        self.send_response(code)
        self.send_header("content-type", kind)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def colour(name: str) -> None:
    class Colour(Http):
        def do_GET(self) -> None:  # noqa: N802 - http.server naming
            record(self.headers.get("x-test-id", ""))
            self.answer(200, name.encode())

    ThreadingHTTPServer((HOST, PORT), Colour).serve_forever()


def greeter(name: str) -> None:
    import grpc

    def hello(request: bytes, context: object) -> bytes:
        record(request.decode())
        return name.encode() + b":" + request

    handler = grpc.method_handlers_generic_handler(
        "demo.Greeter",
        {"Hello": grpc.unary_unary_rpc_method_handler(hello, lambda b: b, lambda b: b)},
    )
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    server.add_generic_rpc_handlers((handler,))
    server.add_insecure_port(f"{HOST}:{PORT}")
    server.start()
    server.wait_for_termination()


def echo(name: str) -> None:
    class Echo(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            while chunk := self.request.recv(65536):
                record(chunk.decode(errors="replace"))
                self.request.sendall(name.encode() + b":" + chunk)

    socketserver.ThreadingTCPServer.allow_reuse_address = True
    socketserver.ThreadingTCPServer((HOST, PORT), Echo).serve_forever()


def grpc_hello(target: str, test_id: str, authority: str | None = None) -> str:
    import grpc

    options = [("grpc.default_authority", authority)] if authority else []
    with grpc.insecure_channel(target, options=options) as channel:
        call = channel.unary_unary("/demo.Greeter/Hello", request_serializer=None, response_deserializer=None)
        return call(test_id.encode(), timeout=5).decode()


def tcp_echo(test_id: str) -> str:
    with socket.create_connection((EGRESS, 7000), timeout=5) as sock:
        sock.sendall(test_id.encode())
        reply = b""
        while not reply.endswith(test_id.encode()):
            chunk = sock.recv(65536)
            if not chunk:
                break
            reply += chunk
    return reply.decode()


def front() -> None:
    class Front(Http):
        def do_GET(self) -> None:  # noqa: N802
            path = urllib.parse.urlsplit(self.path).path
            test_id = self.headers.get("x-test-id", "")
            record(test_id)
            try:
                if path in ("/colour", "/colour-direct"):
                    headers = {h: self.headers[h] for h in ("x-test-id", "color-override") if self.headers.get(h)}
                    if path == "/colour":  # urllib sends it to HTTP_PROXY as http://color.local:8080/
                        opener, url = urllib.request.build_opener(), "http://color.local:8080/"
                    else:  # to the egress address's port 8080 itself, naming the service in Host
                        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
                        url, headers["Host"] = f"http://{EGRESS}:8080/", "color.local:8080"
                    try:
                        with opener.open(urllib.request.Request(url, headers=headers), timeout=5) as response:
                            payload = {"status": response.status, "body": response.read().decode()}
                    except urllib.error.HTTPError as error:  # Envoy's own answers (404 NR, 503...)
                        payload = {"status": error.code, "body": error.read().decode(errors="replace")}
                elif path == "/grpc":
                    payload = {"status": 200, "body": grpc_hello("greeter.local:9090", test_id)}
                elif path == "/grpc-direct":
                    payload = {"status": 200, "body": grpc_hello(f"{EGRESS}:9090", test_id, "greeter.local:9090")}
                elif path == "/tcp":
                    payload = {"status": 200, "body": tcp_echo(test_id)}
                else:
                    payload = {"status": 404, "body": path}
                code = 200
            except Exception as error:  # noqa: BLE001 - what the app saw is the answer
                code, payload = 502, {"error": f"{type(error).__name__}: {error}"}
            self.answer(code, json.dumps(payload).encode(), "application/json")

    ThreadingHTTPServer((HOST, PORT), Front).serve_forever()


if __name__ == "__main__":
    mode, *rest = sys.argv[1:]
    {"colour": colour, "greeter": greeter, "echo": echo, "front": front}[mode](*rest)
