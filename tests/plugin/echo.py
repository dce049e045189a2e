"""A loopback HTTP server that answers with what it received (for traffic tests through Envoy)."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Iterator


class _Echo(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        body = json.dumps({"server": self.server.label, "path": self.path, "host": self.headers.get("Host")}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@contextmanager
def echo_server(label: str = "echo") -> Iterator[int]:
    """Serve on a free 127.0.0.1 port; yields the port; shuts down and joins on exit."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    httpd.label = label  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield httpd.server_address[1]
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


def get_json(
    url: str, host: str | None = None, timeout: float = 2.0, headers: dict[str, str] | None = None
) -> tuple[int, dict | str]:
    """GET `url` (optionally with a Host header and others): (status, JSON body or text)."""
    request = urllib.request.Request(url, headers={**({"Host": host} if host else {}), **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            text = response.read().decode()
            status = response.status
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()
    try:
        return status, json.loads(text)
    except ValueError:
        return status, text


def wait_for_json(url: str, host: str | None = None, timeout: float = 10.0) -> dict:
    """Poll until `url` answers 200 with JSON (listeners may take a moment to bind)."""
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        try:
            status, body = get_json(url, host)
            if status == 200 and isinstance(body, dict):
                return body
            last = (status, body)
        except (urllib.error.URLError, ConnectionError, TimeoutError) as exc:
            last = repr(exc)
        time.sleep(0.05)
    raise AssertionError(f"{url} (Host {host}) never answered 200 JSON; last: {last!r}")
