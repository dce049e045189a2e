"""Refuse requests whose Host header names neither this server's address nor a localhost name.

DNS rebinding: a web page at http://evil.example:4600 whose name first resolves to the
attacker and then to 127.0.0.1 can make the user's browser send requests to the local
API, with `Host: evil.example:4600`. A rebinding attack needs a DNS name, so accepted
are: IP literals of the bound address (any IP literal when bound to a wildcard address,
and loopback ones always), `localhost` and its subdomains (RFC 6761 keeps them on the
loopback), and the names given with `serve --allowed-host` (e.g. a compose service
name; `*` turns the check off).
"""

from __future__ import annotations

import ipaddress
import logging
from typing import Any, Callable, Iterable

from .errors import wsgi_error

log = logging.getLogger(__name__)

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def _split_host(header: str) -> str:
    """The name or address of a Host header, without port, brackets or trailing dot, lowercased."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[1 : header.find("]")] if "]" in header else header
    if header.count(":") == 1:
        header = header.partition(":")[0]
    return header.rstrip(".")


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


class AllowedHosts:
    def __init__(self, bound: Iterable[str], extra: Iterable[str] = ()) -> None:
        self.addresses = {address for address in (_ip(_split_host(b)) for b in bound) if address is not None}
        self.any_address = any(address.is_unspecified for address in self.addresses)
        self.names = {_split_host(name) for name in extra if name}
        self.everything = "*" in self.names
        self._seen: dict[str, bool] = {}  # Host header → verdict: clients send the same one every time

    def allows(self, header: str | None) -> bool:
        if header is None or self.everything:
            return True  # HTTP/1.0 without Host: no browser sends that
        known = self._seen.get(header)
        if known is None:
            known = self._decide(header)
            if len(self._seen) >= 1024:
                self._seen.clear()  # a bounded memo: a client cycling Host values costs only recomputation
            self._seen[header] = known
        return known

    def _decide(self, header: str) -> bool:
        host = _split_host(header)
        if host == "localhost" or host.endswith(".localhost") or host in self.names:
            return True
        address = _ip(host)
        if address is None:
            return False
        return self.any_address or address.is_loopback or address in self.addresses


class HostCheck:
    """WSGI middleware answering 403 ForbiddenException for a Host the server does not answer to."""

    def __init__(self, app: WsgiApp, allowed: AllowedHosts) -> None:
        self.app = app
        self.allowed = allowed

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        host = environ.get("HTTP_HOST")
        if self.allowed.allows(host):
            return self.app(environ, start_response)
        log.info("refused a request for Host %r (not a bound address or localhost name)", host)
        return wsgi_error(
            start_response,
            environ,
            403,
            "ForbiddenException",
            f"Host {host!r} is not an address of this server or a localhost name (serve --allowed-host adds names)",
        )
