"""A running Envoy's listeners, read through its admin interface: which failed to bind, which ports they hold.

Used by `appmesh-local envoy` and `run` to stop a proxy that came up without some of its listeners,
and by host mode to tell the app its listener ports.
"""

from __future__ import annotations

import json
from typing import Any, Callable, Mapping

from appmesh_local.ir import names


def dynamic_listeners(config_dump: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The DynamicListener entries of a whole `/config_dump` or of `/config_dump?resource=dynamic_listeners`."""
    out: list[Mapping[str, Any]] = []
    for item in config_dump.get("configs", []):
        if str(item.get("@type", "")).endswith("ListenersConfigDump.DynamicListener"):
            out.append(item)
        else:
            out.extend(item.get("dynamic_listeners", []))
    return out


def listeners_dump(admin_get: Callable[[str], str]) -> dict[str, Any]:
    """Only the dynamic listeners of an Envoy's config dump (`admin_get` as EnvoyProcess.admin_get)."""
    return dict(json.loads(admin_get("/config_dump?resource=dynamic_listeners")))


def ingress_ports(config_dump: Mapping[str, Any]) -> list[int]:
    """The ports a node's ingress listener holds in Envoy's config dump: the app's listener ports."""
    ports: list[int] = []
    for item in dynamic_listeners(config_dump):
        if item.get("name") != names.ingress_listener():
            continue
        listener = (item.get("active_state") or item.get("warming_state") or {}).get("listener", {})
        for address in [listener.get("address", {})] + [
            a.get("address", {}) for a in listener.get("additional_addresses", [])
        ]:
            port = address.get("socket_address", {}).get("port_value")
            if port:
                ports.append(int(port))
    return sorted(set(ports))


def listener_errors(config_dump: Mapping[str, Any]) -> list[str]:
    """Listeners Envoy could not add (a taken address...), as `<name>: <Envoy's reason>`."""
    named: dict[str, str] = {}
    anonymous: list[str] = []  # Envoy 1.40 repeats a failure without the listener's name
    for item in dynamic_listeners(config_dump):
        state = item.get("error_state")
        if state:
            details = str(state.get("details", state))
            if item.get("name"):
                named[str(item["name"])] = details
            else:
                anonymous.append(details)
    return [f"{name}: {details}" for name, details in named.items()] + [
        details for details in dict.fromkeys(anonymous) if details not in named.values()
    ]


class ListenerWatch:
    """Watches a running Envoy's listeners through its admin interface (any placement).

    `poll()` returns (started, new_errors): `started` once Envoy has taken its first listener
    update (accepted or rejected), `new_errors` the listener failures not reported before. A
    failure before or in that first update means the proxy came up half-configured: the
    `envoy` and `run` commands stop it instead of serving without those listeners.
    """

    def __init__(self, admin_get: Callable[[str], str]) -> None:
        self.admin_get = admin_get
        self.started = False
        self.reported: set[str] = set()

    def poll(self) -> tuple[bool, list[str]]:
        try:
            if not self.started:
                stats = self.admin_get("/stats?filter=^listener_manager\\.lds\\.update_(success|rejected)$")
                self.started = any(line.partition(": ")[2].strip() not in ("", "0") for line in stats.splitlines())
            errors = listener_errors(listeners_dump(self.admin_get)) if self.started else []
        except (OSError, ValueError):
            return self.started, []  # admin not up yet, or Envoy going away
        new = [e for e in errors if e not in self.reported]
        self.reported.update(new)
        return self.started, new
