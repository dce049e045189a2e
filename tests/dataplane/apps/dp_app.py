"""Apps for the data-plane tests, run inside tasks as the app uid (stdlib only).

dp_app.py serve NAME HOST PORT [PORT...]      HTTP: each GET answers JSON {name, port, host, path}
dp_app.py front PORT UPSTREAM                  HTTP: GET calls UPSTREAM (same path), forwarding the
                                               tracing headers, and answers what it got
dp_app.py get URL [HOST]                       one GET (Host header optional); prints JSON
dp_app.py https URL CAFILE                     one GET over TLS verified against CAFILE; prints JSON
dp_app.py tcp HOST PORT COUNT                  COUNT connections: each sends a greeting and reads the
                                               server's name; prints the JSON list of replies
"""

from __future__ import annotations

import http.client
import json
import socket
import ssl
import sys
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from threading import Thread

# What an app must forward for one trace across hops (App Mesh's tracing guides say so).
TRACE_HEADERS = (
    "x-request-id",
    "x-b3-traceid",
    "x-b3-spanid",
    "x-b3-parentspanid",
    "x-b3-sampled",
    "x-b3-flags",
    "b3",
    "x-amzn-trace-id",
    "traceparent",
    "tracestate",
)


def answer(handler: BaseHTTPRequestHandler, status: int, payload: dict) -> None:
    body = json.dumps(payload).encode()
    handler.send_response(status)
    handler.send_header("content-type", "application/json")
    handler.send_header("content-length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


def serve(name: str, host: str, ports: list[int]) -> None:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:  # noqa: N802
            answer(
                self,
                200,
                {
                    "name": name,
                    "port": self.server.server_address[1],
                    "host": self.headers.get("host"),
                    "path": self.path,
                },
            )

        def log_message(self, *args: object) -> None:
            pass

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    servers = []
    for port in ports:
        server_class = type("Server", (ThreadingHTTPServer,), {"address_family": family})
        servers.append(server_class((host, port), Handler))
    for server in servers[1:]:
        Thread(target=server.serve_forever, daemon=True).start()
    servers[0].serve_forever()


def front(port: int, upstream: str) -> None:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:  # noqa: N802
            target = urllib.parse.urlsplit(upstream)
            headers = {h: self.headers[h] for h in TRACE_HEADERS if self.headers.get(h)}
            try:
                connection = http.client.HTTPConnection(target.hostname, target.port or 80, timeout=10)
                connection.request("GET", self.path, headers=headers)
                response = connection.getresponse()
                payload = {"status": response.status, "body": response.read().decode(errors="replace")}
                connection.close()
                answer(self, 200, payload)
            except OSError as error:
                answer(self, 502, {"error": repr(error)})

        def log_message(self, *args: object) -> None:
            pass

    ThreadingHTTPServer(("0.0.0.0", port), Handler).serve_forever()


def get(url: str, host: str | None, context: ssl.SSLContext | None = None) -> dict:
    parsed = urllib.parse.urlsplit(url)
    try:
        if parsed.scheme == "https":
            connection: http.client.HTTPConnection = http.client.HTTPSConnection(
                parsed.hostname, parsed.port or 443, timeout=5, context=context
            )
        else:
            connection = http.client.HTTPConnection(parsed.hostname, parsed.port or 80, timeout=5)
        connection.request("GET", parsed.path or "/", headers={"Host": host} if host else {})
        response = connection.getresponse()
        body = response.read().decode(errors="replace")
        connection.close()
        try:
            payload = json.loads(body)
        except ValueError:
            payload = body
        return {"status": response.status, "body": payload}
    except (OSError, http.client.HTTPException) as error:
        return {"error": repr(error)}


def tcp(host: str, port: int, count: int) -> list[str]:
    replies = []
    for _ in range(count):
        try:
            with socket.create_connection((host, port), timeout=5) as sock:
                # More than a TLS record header (5 bytes): App Mesh's tls_inspector waits for that much
                # before it lets a client-first connection through (server-first protocols need care).
                sock.sendall(b"hello, server")
                replies.append(sock.recv(1024).decode(errors="replace"))
        except OSError as error:
            replies.append(f"error: {error!r}")
    return replies


def stuck(port: int) -> None:
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", port))
    listener.listen(0)
    held = []
    for _ in range(3):  # fill the accept queue (backlog 0 holds one); later SYNs are dropped
        client = socket.socket()
        client.setblocking(False)
        client.connect_ex(("127.0.0.1", port))
        held.append(client)
    print("ready", flush=True)
    threading.Event().wait()


def main(argv: list[str]) -> None:
    mode, rest = argv[0], argv[1:]
    if mode == "serve":
        serve(rest[0], rest[1], [int(p) for p in rest[2:]])
    elif mode == "front":
        front(int(rest[0]), rest[1])
    elif mode == "get":
        print(json.dumps(get(rest[0], rest[1] if len(rest) > 1 else None)))
    elif mode == "https":
        print(json.dumps(get(rest[0], None, ssl.create_default_context(cafile=rest[1]))))
    elif mode == "stuck":
        stuck(int(rest[0]))
    elif mode == "tcp":
        print(json.dumps(tcp(rest[0], int(rest[1]), int(rest[2]))))
    else:
        raise SystemExit(f"unknown mode {mode}")


if __name__ == "__main__":
    main(sys.argv[1:])
