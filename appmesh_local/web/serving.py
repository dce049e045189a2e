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

    wrote_header: bool

    def write(self, data: bytes) -> None:
        if self.wrote_header or not self.complete:
            return super().write(data)  # waitress's checks and errors, unchanged
        header = self.build_response_header()
        self.wrote_header = True
        if (
            data
            and self.has_body
            and not self.chunked_response
            and self.content_length is not None
            and self.content_bytes_written + len(data) <= self.content_length
        ):
            self.content_bytes_written += len(data)
            self.channel.write_soon(header + data)
            return None
        self.channel.write_soon(header)
        return super().write(data)


class _ChannelServer:
    """The server as one channel sees it: `pull_trigger` only when the select loop has work.

    waitress's worker pulls the server's trigger (a pipe write that wakes the select
    loop) at the end of every request, so that the loop re-reads `readable()`: without
    lookahead the channel is not readable while a request is in service. That wake-up
    was ~30% of the server's CPU samples per boto3 call. With `channel_request_lookahead`
    the channel stays readable while its one request is served, so the loop's view is
    stale only if it last found the channel not readable, or has output or a close to
    handle; the channel records the first (`loop_stale`) and this pulls in those cases only.
    """

    def __init__(self, server: Any, channel: OneWriteChannel) -> None:
        self._server = server
        self._channel = channel

    def pull_trigger(self) -> None:
        channel = self._channel
        with channel.view_lock:
            needed = (
                channel.loop_stale
                or channel.total_outbufs_len
                or channel.will_close
                or channel.close_when_flushed
                or not channel.connected
            )
            channel.loop_stale = False
        if needed:
            self._server.pull_trigger()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._server, name)


class OneWriteChannel(HTTPChannel):
    task_class = OneWriteTask

    def __init__(self, server: Any, sock: Any, addr: Any, adj: Any, map: Any = None) -> None:
        self.view_lock = threading.Lock()  # orders the loop's readable() against the worker's pull
        self.loop_stale = False
        super().__init__(_ChannelServer(server, self), sock, addr, adj, map)

    def readable(self) -> bool:
        """waitress's answer; a False is remembered so the worker wakes the loop when it changes."""
        with self.view_lock:
            ready = bool(super().readable())
            if not ready:
                self.loop_stale = True
        return ready


def create_http_server(app: Any, host: str, port: int, threads: int, **options: Any) -> Any:
    """waitress's `create_server`, with the one-write channel on every accepted connection.

    `channel_request_lookahead=1` keeps a connection readable while its request is served
    (see `_ChannelServer`); a pipelined second request waits in the channel as waitress
    does with any lookahead.
    """
    options.setdefault("channel_request_lookahead", 1)
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
