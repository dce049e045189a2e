"""The app behind a server task's Envoy: `/sleep/<ms>` answers 200 after that delay.

Every answer's body is JSON: the path and the request headers the app received.

argv: app port, control port. The control port (not intercepted: not an app port) answers
GET /count with how many app requests arrived, and POST /reset zeroes it.
"""

import http.server
import json
import sys
import threading
import time

count = [0]
lock = threading.Lock()


class App(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):  # noqa: N802
        with lock:
            count[0] += 1
        parts = self.path.split("/")
        if len(parts) > 2 and parts[1] == "sleep" and parts[2].isdigit():
            time.sleep(int(parts[2]) / 1000)
        body = json.dumps({"path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()}}).encode()
        self.send_response(200)
        self.send_header("content-length", str(len(body)))
        self.send_header("x-backend", "server-task")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class Control(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802
        body = json.dumps({"count": count[0]}).encode()
        self.send_response(200)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):  # noqa: N802
        with lock:
            count[0] = 0
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


control = http.server.ThreadingHTTPServer(("0.0.0.0", int(sys.argv[2])), Control)
threading.Thread(target=control.serve_forever, daemon=True).start()
server = http.server.ThreadingHTTPServer(("0.0.0.0", int(sys.argv[1])), App)
server.daemon_threads = True
server.serve_forever()
