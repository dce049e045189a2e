"""Drop the TCP connection of one gRPC peer, which grpc.aio gives a server no call for.

A stream whose peer stopped reading cannot be ended from the server's side: its final status
queues behind the write that flow control holds, and grpc.aio has no server-side cancel. So the
connection's socket is found among this process's descriptors (the peer's address and port in
/proc/net/tcp give the socket's inode, /proc/self/fd the descriptor) and shut down; gRPC's
transport then sees the connection end, cancels its streams and frees what they held.

Linux only, TCP only (a unix-socket peer has no address that tells its connection apart). When
the socket cannot be found the caller says so, and the server's keepalive and maximum connection
age (bridge.runtime) end the connection later.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import sys
from pathlib import Path

_ESTABLISHED = "01"


def disconnect_peer(peer: str) -> bool:
    """Shut down the connection of `peer` ("ipv4:1.2.3.4:5", "ipv6:[::1]:5"); True if one was found."""
    address = _parse_peer(peer)
    if address is None:
        return False
    inode = _socket_inode(*address)
    if inode is None:
        return False
    fd = _descriptor_of(inode)
    if fd is None:
        return False
    try:
        with socket.socket(fileno=os.dup(fd)) as sock:  # shutdown acts on the socket all descriptors share
            sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        return False
    return True


def _parse_peer(peer: str) -> tuple[ipaddress.IPv4Address | ipaddress.IPv6Address, int] | None:
    scheme, _, rest = peer.partition(":")
    if scheme not in ("ipv4", "ipv6") or not rest:
        return None
    host, _, port = rest.rpartition(":")
    try:
        return ipaddress.ip_address(host.strip("[]").split("%")[0]), int(port)
    except ValueError:
        return None


def _socket_inode(ip: ipaddress.IPv4Address | ipaddress.IPv6Address, port: int) -> str | None:
    """The inode of this host's established TCP socket whose remote end is ip:port."""
    wanted = _kernel_hex(ip), f"{port:04X}"
    tables = ["/proc/net/tcp6"] if ip.version == 6 else ["/proc/net/tcp", "/proc/net/tcp6"]
    for table in tables:
        mapped = wanted if table.endswith("tcp") or ip.version == 6 else (_kernel_hex(_mapped(ip)), wanted[1])
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) < 10 or fields[3] != _ESTABLISHED:
                continue
            remote_ip, _, remote_port = fields[2].partition(":")
            if (remote_ip, remote_port) == mapped:
                return fields[9]
    return None


def _descriptor_of(inode: str) -> int | None:
    target = f"socket:[{inode}]"
    try:
        names = os.listdir("/proc/self/fd")
    except OSError:
        return None
    for name in names:
        try:
            if os.readlink(f"/proc/self/fd/{name}") == target:
                return int(name)
        except OSError:
            continue
    return None


def _mapped(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> ipaddress.IPv6Address:
    """An IPv4 peer of a dual-stack listener appears in tcp6 as ::ffff:a.b.c.d."""
    return ipaddress.IPv6Address(f"::ffff:{ip}")


def _kernel_hex(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    """The address as /proc/net/tcp{,6} prints it: each 32-bit word in host byte order."""
    raw = ip.packed
    words = [raw[i : i + 4] for i in range(0, len(raw), 4)]
    return "".join((w[::-1] if sys.byteorder == "little" else w).hex().upper() for w in words)
