"""Small App Mesh value shapes → IR values: durations, access logs, service-discovery families."""

from __future__ import annotations

from typing import Any, Mapping

from appmesh_local.ir import AccessLog

DEFAULT_ROUTE_TIMEOUT_MS = 15_000  # App Mesh's invisible per-request default (docs/reference.md#timeouts)
# The user guide's "Idle duration – the default is 300 seconds" for TCP routes and listeners;
# Envoy's own tcp_proxy default (1 h) would keep idle connections 12 times longer.
DEFAULT_TCP_IDLE_TIMEOUT_MS = 300_000

_UNIT_MS = {"ms": 1, "s": 1000}
# The API's durations and counts are unbounded longs; Envoy refuses a duration whose nanoseconds
# overflow an int64 (about 292 years: "Invalid duration: Duration out-of-range") and takes counts
# as uint32. Larger values mean "for ever" / "no limit" to the user, so they are capped rather
# than making Envoy refuse the whole resource.
MAX_DURATION_MS = ((2**63 - 1) // 1_000_000_000 - 1) * 1000  # 9,223,372,035 s: the largest Envoy 1.40 took
MAX_UINT32 = 2**32 - 1

# Mesh / node `ipPreference` → Envoy dns_lookup_family (docs/reference.md#ip-preference), the user
# guide's table: unset, "Envoy's DNS resolver prefers IPv6 and falls back to IPv4" (AUTO). So a DNS
# name with an AAAA record (on a laptop, often `localhost` → ::1) is reached over IPv6, as App Mesh
# did; a mesh or node ipPreference of IPv4_PREFERRED restores IPv4 first (docs/translation.md).
_DNS_FAMILY = {
    None: "AUTO",
    "IPv6_PREFERRED": "AUTO",
    "IPv4_PREFERRED": "V4_PREFERRED",
    "IPv4_ONLY": "V4_ONLY",
    "IPv6_ONLY": "V6_ONLY",
}


def opt(mapping: Mapping[str, Any], key: str, default: Any) -> Any:
    """`mapping[key]`, or `default` when absent or null (stores may fill unset fields with null)."""
    value = mapping.get(key)
    return default if value is None else value


def duration_ms(value: Mapping[str, Any] | None) -> int | None:
    """`{unit: s|ms, value: n}` → milliseconds (capped at what Envoy can hold); None when absent."""
    if not value or value.get("value") is None:
        return None
    return min(int(value["value"]) * _UNIT_MS.get(opt(value, "unit", "ms"), 1), MAX_DURATION_MS)


def uint32(value: Any) -> int:
    """An API count (a long) as Envoy's uint32 fields hold it: capped at 2^32 - 1."""
    return min(int(value), MAX_UINT32)


def access_logs(spec: Mapping[str, Any]) -> tuple[AccessLog, ...]:
    """`logging.accessLog.file` of a node or gateway spec → file access logs (or none)."""
    file_log = ((spec.get("logging") or {}).get("accessLog") or {}).get("file")
    if not file_log or not file_log.get("path"):
        return ()
    fmt = file_log.get("format") or {}
    if fmt.get("text"):
        text = fmt["text"]
        # Envoy writes the format as-is; App Mesh users' formats rarely end in a newline.
        return (AccessLog(path=file_log["path"], text=text if text.endswith("\n") else text + "\n"),)
    if fmt.get("json"):
        pairs = tuple((str(p["key"]), str(p["value"])) for p in fmt["json"])
        return (AccessLog(path=file_log["path"], json=pairs),)
    return (AccessLog(path=file_log["path"]),)


def ip_preference(mesh_spec: Mapping[str, Any], discovery: Mapping[str, Any] | None) -> str | None:
    """The node's own DNS/Cloud Map ipPreference, else the mesh's, else None (= default)."""
    own: str | None = (discovery or {}).get("ipPreference")
    if own:
        return own
    mesh: str | None = (mesh_spec.get("serviceDiscovery") or {}).get("ipPreference")
    return mesh or None


def dns_lookup_family(preference: str | None) -> str:
    return _DNS_FAMILY.get(preference, "AUTO")


def listener_addresses(bind_address: str, dual_stack: bool) -> tuple[str, tuple[str, ...]]:
    """(address, additional addresses) of a listener that should (or should not) take IPv6 too.

    The user guide: with any `ipPreference`, "the Envoy listeners bind to all IPv4 and IPv6
    addresses". For the wildcard that is `::` (the builder sets ipv4_compat); for loopback, ::1
    next to 127.0.0.1; another specific address has no IPv6 counterpart and stays as it is.
    """
    if not dual_stack:
        return bind_address, ()
    if bind_address == "0.0.0.0":
        return "::", ()
    if bind_address == "127.0.0.1":
        return bind_address, ("::1",)
    return bind_address, ()


def local_app_address(preference: str | None) -> str:
    """Address of the local app behind the ingress cluster: ::1 for IPv6-first preferences."""
    return "::1" if preference in ("IPv6_PREFERRED", "IPv6_ONLY") else "127.0.0.1"
