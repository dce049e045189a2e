"""Small App Mesh value shapes → IR values: durations, access logs, service-discovery families."""

from __future__ import annotations

from typing import Any, Mapping

from appmesh_local.ir import AccessLog

DEFAULT_ROUTE_TIMEOUT_MS = 15_000  # App Mesh's invisible per-request default (docs/reference.md#timeouts)

_UNIT_MS = {"ms": 1, "s": 1000}

# Mesh / node `ipPreference` → Envoy dns_lookup_family (docs/reference.md#ip-preference). Unset maps to
# V4_PREFERRED, not App Mesh's AUTO (v6 first): with AUTO, Envoy's c-ares resolves
# `localhost` to ::1 and local apps listening on 127.0.0.1 become unreachable (checked
# with Envoy 1.40). VPC names usually only have A records, so the result is the same there.
_DNS_FAMILY = {
    None: "V4_PREFERRED",
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
    """`{unit: s|ms, value: n}` → milliseconds; None when absent."""
    if not value or value.get("value") is None:
        return None
    return int(value["value"]) * _UNIT_MS.get(opt(value, "unit", "ms"), 1)


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
    return _DNS_FAMILY.get(preference, "V4_PREFERRED")


def local_app_address(preference: str | None) -> str:
    """Address of the local app behind the ingress cluster: ::1 for IPv6-first preferences."""
    return "::1" if preference in ("IPv6_PREFERRED", "IPv6_ONLY") else "127.0.0.1"
