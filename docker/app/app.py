"""The colour app's services, unaware of Envoy (iptables sends their traffic through it).

NAME answers every GET with {"service": NAME, "path": ...}. With BACKEND set (the front), every GET
calls BACKEND by its virtual service name and nests the answer under "backend".
"""

import json
import os
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

NAME = os.environ.get("NAME", "app")
BACKEND = os.environ.get("BACKEND", "")


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        reply = {"service": NAME, "path": self.path}
        if BACKEND:
            with urllib.request.urlopen(BACKEND, timeout=5) as response:
                reply["backend"] = json.loads(response.read())
        body = json.dumps(reply).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


ThreadingHTTPServer(("0.0.0.0", int(os.environ.get("PORT", "9080"))), Handler).serve_forever()
