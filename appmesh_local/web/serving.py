"""The production HTTP server (waitress) with each response sent in one write.

waitress writes a response's status line and headers, then its body, as two
`send()` calls: two TCP segments and two wake-ups of the client per call (seen
with `strace -e sendto`). Every App Mesh response is one bytes body with a
Content-Length, so the task below joins header and body into one write; any
other response (chunked, streamed, bodiless) takes waitress's own path.
"""
from __future__ import annotations

import threading
from typing import Any

from waitress.channel import HTTPChannel
from waitress.server import create_server
from waitress.task import WSGITask


class OneWriteTask(WSGITask):
    """WSGITask whose first body write carries the response header with it."""

    def write(self, data: bytes) -> None:
        if self.wrote_header or not self.complete:
            return super().write(data)  # waitress's checks and errors, unchanged
        header = self.build_response_header()
        self.wrote_header = True
        if (data and self.has_body and not self.chunked_response and self.content_length is not None
                and self.content_bytes_written + len(data) <= self.content_length):
            self.content_bytes_written += len(data)
            self.channel.write_soon(header + data)
            return None
        self.channel.write_soon(header)
        return super().write(data)


class OneWriteChannel(HTTPChannel):
    task_class = OneWriteTask


def create_http_server(app: Any, host: str, port: int, threads: int, **options: Any) -> Any:
    """waitress's `create_server`, with the one-write channel on every accepted connection."""
    server = create_server(app, host=host, port=port, threads=threads, **options)
    server.channel_class = OneWriteChannel
    return server


def shutdown_http_server(http: Any, timeout: float = 5.0) -> None:
    """End waitress now: close every channel from inside its loop thread, then stop the workers.

    `close()` on the listening socket alone leaves clients' keep-alive connections (and
    the loop serving them) alive for minutes, and the worker threads forever.
    """
    done = threading.Event()

    def close_all() -> None:
        try:
            for channel in list(http._map.values()):
                channel.close()  # the trigger and the listening socket too: the map empties
        finally:
            done.set()

    try:
        http.trigger.pull_trigger(close_all)
        done.wait(timeout)
    except OSError:  # trigger already closed: the loop has ended
        http.close()
    http.task_dispatcher.shutdown(cancel_pending=True, timeout=timeout)
