"""A TCP echo service that names itself, and its client (stdlib only).

tcp_echo.py server NAME PORT          each chunk received comes back as b"NAME:" + chunk
tcp_echo.py client HOST PORT TEXT     sends TEXT, prints JSON {"reply": ...} or {"error": ...}
"""

from __future__ import annotations

import json
import socket
import socketserver
import sys


class Echo(socketserver.BaseRequestHandler):
    name = b""

    def handle(self) -> None:
        while True:
            chunk = self.request.recv(65536)
            if not chunk:
                return
            self.request.sendall(self.name + b":" + chunk)


def client(host: str, port: int, text: str) -> dict:
    expected = len(text.encode()) + 1  # at least "x:" + text; the name is unknown to the client
    try:
        with socket.create_connection((host, port), timeout=5) as sock:
            sock.sendall(text.encode())
            reply = b""
            while not reply.endswith(text.encode()) or len(reply) < expected:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                reply += chunk
        return {"reply": reply.decode(errors="replace")} if reply else {"error": "closed without a reply"}
    except OSError as error:
        return {"error": f"{type(error).__name__}: {error}"}


def main(argv: list[str]) -> None:
    if argv[0] == "server":
        handler = type("Handler", (Echo,), {"name": argv[1].encode()})
        socketserver.ThreadingTCPServer.allow_reuse_address = True
        server = socketserver.ThreadingTCPServer(("0.0.0.0", int(argv[2])), handler)
        server.daemon_threads = True
        server.serve_forever()
    elif argv[0] == "client":
        print(json.dumps(client(argv[1], int(argv[2]), argv[3])))
    else:
        raise SystemExit(f"unknown mode {argv[0]!r}")


if __name__ == "__main__":
    main(sys.argv[1:])
