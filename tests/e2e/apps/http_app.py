"""The colour app's HTTP services (AWS's classic App Mesh walk-through), stdlib only.

    http_app.py colour NAME PORT        answers every GET with NAME
    http_app.py front PORT UPSTREAM     GET /<path> calls UPSTREAM/<path> (forwarding the
                                        `color-override` header) and answers what it got;
                                        GET /fetch?url=U calls any URL U instead.

The front answers 200 with JSON {"status": <upstream status>, "body": <upstream body>}
or, when the call itself failed (connection closed/refused), 502 with {"error": ...}:
a test sees exactly what the app saw through its Envoy.
"""

from __future__ import annotations

import json
import sys
import urllib.error
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

FORWARDED = ("color-override",)


class Colour(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are two writes: no 40 ms delayed-ACK stall
    colour = ""

    def do_GET(self) -> None:  # noqa: N802 - http.server naming
        body = self.colour.encode()
        self.send_response(200)
        self.send_header("content-type", "text/plain")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


class Front(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    upstream = ""

    def do_GET(self) -> None:  # noqa: N802
        parsed = urllib.parse.urlsplit(self.path)
        if parsed.path == "/fetch":
            url = urllib.parse.parse_qs(parsed.query)["url"][0]
        else:
            url = self.upstream.rstrip("/") + self.path
        headers = {h: self.headers[h] for h in FORWARDED if self.headers.get(h)}
        try:
            with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=5) as response:
                code, payload = 200, {"status": response.status, "body": response.read().decode(errors="replace")}
        except urllib.error.HTTPError as error:  # Envoy's own answers (404 NR, 503 ...) land here
            code, payload = 200, {"status": error.code, "body": error.read().decode(errors="replace")}
        except (OSError, ValueError) as error:  # connection closed/refused: DROP_ALL and friends
            code, payload = 502, {"error": f"{type(error).__name__}: {error}"}
        body = json.dumps(payload).encode()
        self.send_response(code)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def main(argv: list[str]) -> None:
    mode = argv[0]
    if mode == "colour":
        name, port = argv[1], int(argv[2])
        handler = type("Handler", (Colour,), {"colour": name})
    elif mode == "front":
        port, upstream = int(argv[1]), argv[2]
        handler = type("Handler", (Front,), {"upstream": upstream})
    else:
        raise SystemExit(f"unknown mode {mode!r}")
    server = ThreadingHTTPServer(("0.0.0.0", port), handler)
    server.daemon_threads = True
    server.serve_forever()


if __name__ == "__main__":
    main(sys.argv[1:])
