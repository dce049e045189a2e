"""Unix sockets that only the intended peers may connect to (the xDS socket, the SDS helper's).

Connecting to a unix socket needs write permission on it. Both sockets hand out secrets (a
node's configuration and keys; certificates and private keys), so neither is ever 0666: it
is 0600 (the server's user only) or 0660 for one group, e.g. gid 1337, the group `task` runs
Envoy with, as App Mesh ran Envoy as uid 1337. grpc creates the socket under the process
umask (022 leaves it 0755: only the owner may connect until `restrict` runs).
"""

from __future__ import annotations

import os
from pathlib import Path


def group_id(group: str | None, option: str) -> int | None:
    """A group name or number as a gid (None stays None); ValueError names `option`."""
    if group is None:
        return None
    if group.isdigit():
        return int(group)
    import grp

    try:
        return grp.getgrnam(group).gr_gid
    except KeyError:
        raise ValueError(f"{option}: no group named {group!r}") from None


def prepare(path: Path) -> None:
    """Make the socket's directory (0755, so uid 1337 can traverse it) and clear a stale socket."""
    if not path.parent.exists():
        path.parent.mkdir(parents=True)
        path.parent.chmod(0o755)
    if path.is_socket():
        path.unlink()  # left by a killed server; a live one would still hold its address
    elif path.exists():
        raise OSError(f"{path} exists and is not a socket")


def restrict(path: Path, group: int | None) -> None:
    """0600 (the server's user only), or 0660 for `group` too."""
    if group is not None:
        os.chown(path, -1, group)
        path.chmod(0o660)
    else:
        path.chmod(0o600)
