"""Host mode on this machine: the block of loopback addresses each proxy holds while it runs.

Every host-mode proxy holds a block of three loopback addresses (`ir.placement.HostPlacement`):
by default the next free block of `POOL` (127.100.0.0/16: block k is .4k+1 task, .4k+2 app,
.4k+3 egress). A block is held with an advisory lock on a file in `LOCK_DIR` (/tmp/appmesh-local-hosts,
not under $TMPDIR, so every process on the machine sees the same locks) for as long as the holder
lives, so concurrent runs (parallel CI jobs, two terminals) never pick the same one; the kernel
drops the lock when the holder exits, however it exits. A block where something already
listens (seen in /proc/net/tcp, on Linux) is skipped, or refused when asked for by address: host-mode
listeners use SO_REUSEPORT (translate/host.py), which must never let two processes share an address.

Linux routes all of 127.0.0.0/8 to `lo`. macOS configures only 127.0.0.1: each address needs
`sudo ifconfig lo0 alias <address>` once (docs/host-mode.md); `check_local` says so.
"""

from __future__ import annotations

import errno
import fcntl
import ipaddress
import json
import os
import socket
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from appmesh_local.ir.placement import HostPlacement

POOL_VARIABLE = "APPMESH_LOCAL_HOST_POOL"
DEFAULT_POOL = "127.100.0.0/16"
# One place for every process on the machine, whatever its $TMPDIR: locks only exclude each other there.
LOCK_DIR = Path(os.environ.get("APPMESH_LOCAL_HOST_LOCKS") or "/tmp/appmesh-local-hosts")


class HostModeError(RuntimeError):
    """A host-mode proxy cannot run as asked (no free block, an address that is not local, a listener that cannot bind)."""


def pool() -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    """The loopback network blocks are taken from: `$APPMESH_LOCAL_HOST_POOL` or 127.100.0.0/16."""
    text = os.environ.get(POOL_VARIABLE) or DEFAULT_POOL
    try:
        network = ipaddress.ip_network(text)
    except ValueError:
        raise HostModeError(f"{POOL_VARIABLE}={text!r} is not a network (e.g. {DEFAULT_POOL})") from None
    if not network.is_loopback or network.num_addresses < 4:
        raise HostModeError(f"{POOL_VARIABLE}={text!r} must be a loopback network of at least 4 addresses")
    return network


@dataclass
class Lease:
    """A placement held by this process until `release()` (or its exit)."""

    placement: HostPlacement
    _file: IO[bytes] | None = field(default=None, repr=False)

    def release(self) -> None:
        if self._file is not None:
            self._file.close()  # closing the descriptor drops the lock
            self._file = None

    def __enter__(self) -> Lease:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def lease(address: str | None = None) -> Lease:
    """Hold the block of `address` (task address; app and egress are the next two), or the first free block of the pool."""
    if address is not None:
        placement = HostPlacement.block(address)
        held = _try_lock(placement)
        if held is None:
            raise HostModeError(
                f"{address} is in use by another appmesh-local proxy on this machine ({_holder(placement)}); "
                "choose another address or leave it out to get a free one"
            )
        busy = listening_on(placement)
        if busy:
            held.release()
            raise HostModeError(
                f"something already listens on {', '.join(busy)}: host mode needs {placement.address}, "
                f"{placement.app_address} and {placement.egress_address} to itself; choose another address "
                "or leave it out to get a free one"
            )
        check_local(placement)
        return held
    network = pool()
    first = int(network.network_address)
    for block in range(network.num_addresses // 4):
        base = first + 4 * block
        placement = HostPlacement(*(str(ipaddress.ip_address(base + offset)) for offset in (1, 2, 3)))
        held = _try_lock(placement)
        if held is None:
            continue
        if listening_on(placement):
            held.release()  # not ours to share (an Envoy left running by hand?): try the next block
            continue
        check_local(placement)
        return held
    raise HostModeError(f"every address block of {network} is held by another proxy")


def listening_on(placement: HostPlacement) -> list[str]:
    """`address:port` of every TCP listener on one of the placement's addresses (Linux; elsewhere [])."""
    wanted = {placement.address, placement.app_address, placement.egress_address}
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) < 4 or fields[3] != "0A":  # 0A: LISTEN
                continue
            address, port = _proc_address(fields[1])
            if address in wanted:
                found.append(f"{address}:{port}")
    return found


def _proc_address(text: str) -> tuple[str, int]:
    """/proc/net/tcp's `0100007F:1F90` → ("127.0.0.1", 8080): the kernel prints each 32-bit word of the
    address (network byte order in memory) as a number in the host's byte order."""
    hex_address, hex_port = text.split(":")
    words = b"".join(int(hex_address[i : i + 8], 16).to_bytes(4, sys.byteorder) for i in range(0, len(hex_address), 8))
    return str(ipaddress.ip_address(words)), int(hex_port, 16)


def check_local(placement: HostPlacement) -> None:
    """Fail with the fix when an address of `placement` is not configured on this machine (macOS)."""
    for address in (placement.address, placement.app_address, placement.egress_address):
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            try:
                probe.bind((address, 0))
            except OSError as error:
                if error.errno == errno.EADDRNOTAVAIL:
                    raise HostModeError(
                        f"{address} is not an address of this machine; on macOS add it once with "
                        f"`sudo ifconfig lo0 alias {address} up` (docs/host-mode.md)"
                    ) from None
                raise


def _lock_dir() -> Path:
    """LOCK_DIR, shared by every user (sticky and world-writable like /tmp), else a directory of our own."""
    try:
        LOCK_DIR.mkdir(mode=0o1777, exist_ok=True)
        if LOCK_DIR.stat().st_uid == os.geteuid():
            LOCK_DIR.chmod(0o1777)
        if os.access(LOCK_DIR, os.W_OK | os.X_OK):
            return LOCK_DIR
    except OSError:
        pass
    own = LOCK_DIR.with_name(f"{LOCK_DIR.name}-{os.geteuid()}")
    own.mkdir(mode=0o700, exist_ok=True)
    return own


def _try_lock(placement: HostPlacement) -> Lease | None:
    path = _lock_dir() / f"{placement.address}.lock"
    try:
        descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        if os.fstat(descriptor).st_uid == os.geteuid():
            os.fchmod(descriptor, 0o666)  # past our umask: any user may take the block after us
        mode = "r+b"
    except PermissionError:
        descriptor, mode = os.open(path, os.O_RDONLY), "rb"  # another user's file: a read descriptor locks too
    handle = os.fdopen(descriptor, mode)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        return None
    if handle.writable():
        handle.truncate(0)
        handle.write(json.dumps({"pid": os.getpid(), "placement": placement.metadata()}).encode())
        handle.flush()
    return Lease(placement, handle)


def _holder(placement: HostPlacement) -> str:
    try:
        return "pid " + str(json.loads((_lock_dir() / f"{placement.address}.lock").read_text())["pid"])
    except (OSError, ValueError, KeyError):
        return "pid unknown"
