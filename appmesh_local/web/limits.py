"""What one HTTP connection may cost the server: sizes, times and counts, each with its reason.

The API port is reachable by every local process (and, bound to 0.0.0.0, by the network), so
no client may hold more than a bounded share of memory, file descriptors or serving time.
docs/security.md explains each bound; `serve` uses these defaults.
"""

from __future__ import annotations

import resource
from dataclasses import dataclass

MIB = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    # Largest request body. API Gateway, the front door of AWS's REST APIs, refuses payloads
    # above 10 MB; App Mesh's largest legitimate spec is a few hundred kilobytes.
    max_body_bytes: int = 10 * MIB
    # Request line plus headers. boto3 sends about 1 KB; 64 KiB leaves room for long URIs.
    max_head_bytes: int = 64 * 1024
    # From a request's first byte until its headers are complete: a slowloris client that
    # trickles one header byte at a time is cut off here, whatever its pace.
    head_timeout: float = 10.0
    # From the end of the headers until the whole body has arrived.
    body_timeout: float = 60.0
    # An open connection with no request in progress (a kept-alive or never-used one).
    idle_timeout: float = 75.0
    # A client that stops reading its responses: its output buffer is full for this long.
    write_timeout: float = 30.0
    # Requests read ahead of the one in service on a pipelining connection.
    max_pipelined: int = 16
    # Bodies up to this size are served on the event loop itself (no thread hand-off); larger
    # ones, whose parsing and validation take longer, go to the worker threads.
    inline_body_bytes: int = 64 * 1024
    # Request bytes (heads and bodies not yet handed to the app) held by all connections
    # together: many slow clients each sending a large body must not exhaust memory. A
    # request that would cross it is answered 503 ServiceUnavailableException.
    max_buffered_bytes: int = 256 * MIB
    # Open connections. None: derived from the process's file-descriptor limit (see below).
    # At the limit the oldest connection with no request in service is closed for the new one.
    max_connections: int | None = None
    backlog: int = 2048

    def connection_limit(self) -> int:
        return self.max_connections if self.max_connections is not None else default_connection_limit()


def raise_fd_limit() -> int:
    """Lift the soft RLIMIT_NOFILE to the hard limit (many systems default the soft one to 1,024).

    Tens of thousands of idle connections need as many descriptors; the hard limit is what
    the administrator allows, so asking for it takes nothing from anyone.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
            soft = wanted
        except (ValueError, OSError):
            pass
    return soft if soft != resource.RLIM_INFINITY else 1 << 20


def default_connection_limit() -> int:
    """Nine tenths of the descriptors, keeping at least 256 for xDS, SQLite, Envoys' pipes and logs."""
    available = raise_fd_limit()
    return max(64, min(available - 256, available * 9 // 10))
