"""Host mode: where one proxy of a mesh lives when many share a machine without network namespaces.

App Mesh gave every task its own network stack: the app and its Envoy saw App Mesh's fixed ports
(15000/15001, the listener ports) and nobody else did. On a shared host there is one stack, so each
proxy gets three loopback addresses of its own instead (docs/host-mode.md):

- `address`: the task's address. The Envoy's ingress listens here on the node's listener ports (a
  gateway on its listener ports); other proxies reach the node here.
- `app_address`: where the app listens, on its listener ports (App Mesh's 127.0.0.1 of the task).
- `egress_address`: the app's way out. Envoy listens here on each backend port (the app connects
  to `egress_address:<backend port>`) and on 15001 as an HTTP proxy (HTTP_PROXY, CONNECT).

The bootstrap carries the three addresses in the node metadata (`METADATA_KEY`), so the control
plane builds that Envoy's listeners for them; `key()` is the compact form kept in `ProxyRef`.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any, Mapping

METADATA_KEY = "appmesh_local.host"
_KEY_PREFIX = "host:"
_FIELDS = ("address", "app_address", "egress_address")


@dataclass(frozen=True, order=True)
class HostPlacement:
    """The three addresses of one host-mode proxy (see the module docstring)."""

    address: str
    app_address: str
    egress_address: str

    def __post_init__(self) -> None:
        for name in _FIELDS:
            value = getattr(self, name)
            try:
                ipaddress.ip_address(value)
            except ValueError:
                raise ValueError(f"host placement {name} {value!r} is not an IP address") from None
        if len({self.address, self.app_address, self.egress_address}) != 3:
            raise ValueError(
                f"host placement addresses must differ: {self.address}, {self.app_address}, {self.egress_address}"
            )

    @classmethod
    def block(cls, address: str) -> HostPlacement:
        """The placement whose task address is `address`, with the next two addresses for the app and
        the egress (127.100.0.1 → app 127.100.0.2, egress 127.100.0.3)."""
        first = ipaddress.ip_address(address)
        return cls(str(first), str(first + 1), str(first + 2))

    def key(self) -> str:
        """Compact and canonical: `host:<address>,<app_address>,<egress_address>`."""
        return _KEY_PREFIX + ",".join(getattr(self, name) for name in _FIELDS)

    @classmethod
    def from_key(cls, key: str) -> HostPlacement | None:
        """The placement `key()` wrote, or None for the empty key (a proxy placed as App Mesh placed it)."""
        if not key:
            return None
        if not key.startswith(_KEY_PREFIX):
            raise ValueError(f"not a host placement key: {key!r}")
        parts = key[len(_KEY_PREFIX) :].split(",")
        if len(parts) != len(_FIELDS):
            raise ValueError(f"not a host placement key: {key!r}")
        return cls(*parts)

    def metadata(self) -> dict[str, str]:
        """The node metadata value a bootstrap carries under METADATA_KEY."""
        return {name: getattr(self, name) for name in _FIELDS}

    @classmethod
    def from_metadata(cls, value: Any) -> HostPlacement:
        """Parse METADATA_KEY's value from an Envoy's node metadata; ValueError names what is wrong."""
        if not isinstance(value, Mapping):
            raise ValueError(f"{METADATA_KEY} must be a map with {', '.join(_FIELDS)}")
        missing = [name for name in _FIELDS if not isinstance(value.get(name), str) or not value.get(name)]
        if missing:
            raise ValueError(f"{METADATA_KEY} lacks {', '.join(missing)}")
        return cls(*(str(value[name]).strip() for name in _FIELDS))
