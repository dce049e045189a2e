"""Render `status_snapshot()` data as the text tables `appmesh-local status` prints."""

from __future__ import annotations

import time
from typing import Any, Sequence

TYPE_ORDER = ("cds", "eds", "lds", "rds", "sds")


def render_status(data: dict[str, Any], now: float | None = None) -> str:
    """Connected proxies, unknown nodes and per-mesh translation results, as aligned tables."""
    now = time.time() if now is None else now
    out: list[str] = []
    proxies = data.get("proxies", [])
    out.append(f"CONNECTED PROXIES ({len(proxies)})")
    rows = [
        [
            p.get("mesh") or "",
            f"{p.get('kind')}/{p.get('name')}",
            p.get("stream", ""),
            _age(p.get("connected_since"), now),
            _acked(p.get("types", {})),
            _age(_last_push(p.get("types", {})), now),
            _nacks(p.get("types", {})),
        ]
        for p in proxies
    ]
    out.append(
        _table(["MESH", "PROXY", "STREAM", "CONNECTED", "ACKED (type=version)", "LAST PUSH", "LAST NACK"], rows)
        if rows
        else "  (none)"
    )
    unknown = data.get("unknown_nodes", [])
    out.append("")
    out.append(f"UNKNOWN NODES ({len(unknown)})")
    rows = [
        [
            u.get("node_id") or "(no node yet)",
            u.get("stream", ""),
            _age(u.get("connected_since"), now),
            u.get("reason") or "",
        ]
        for u in unknown
    ]
    out.append(_table(["NODE ID", "STREAM", "CONNECTED", "REASON"], rows) if rows else "  (none)")
    for title, key in (("REFUSED STREAMS", "refused"), ("DISCONNECTED STREAMS", "disconnected")):
        ended = data.get(key) or []
        if ended:  # authentication refusals and cut-off peers, most recent last
            out.append("")
            out.append(f"{title} (last {len(ended)})")
            rows = [
                [e.get("node_id") or "(no node yet)", e.get("peer", ""), _age(e.get("at"), now), e.get("reason", "")]
                for e in ended
            ]
            out.append(_table(["NODE ID", "PEER", "WHEN", "REASON"], rows))
    meshes = data.get("meshes", [])
    out.append("")
    out.append(f"MESHES ({len(meshes)})")
    rows = []
    for m in meshes:
        duration = m.get("duration_ms")
        rows.append(
            [
                m.get("mesh", ""),
                f"{m.get('account', '')}/{m.get('region', '')}",
                str(m.get("revision", "")),
                str(m.get("proxies", "")),
                f"{duration:.1f} ms" if isinstance(duration, (int, float)) else "",
                _translation(m),
                str(len(m.get("problems") or [])),
            ]
        )
    out.append(
        _table(["MESH", "ACCOUNT/REGION", "REVISION", "PROXIES", "BUILD", "TRANSLATION", "PROBLEMS"], rows)
        if rows
        else "  (none)"
    )
    for m in meshes:
        if m.get("error"):
            out.append(f"  {m.get('mesh')}: {m['error']}")
        for failed in m.get("failed_proxies") or []:
            out.append(
                f"  {m.get('mesh')}: {failed.get('kind')}/{failed.get('name')} held at its last good config "
                f"since revision {failed.get('since_revision')}: {failed.get('error')}"
            )
        for problem in m.get("problems") or []:
            out.append(f"  {m.get('mesh')}: {problem}")
    return "\n".join(out) + "\n"


def _translation(mesh: dict[str, Any]) -> str:
    if mesh.get("error"):
        return "FAILED (last good kept)"
    failed = len(mesh.get("failed_proxies") or [])
    return f"ok, {failed} prox{'y' if failed == 1 else 'ies'} held back" if failed else "ok"


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(str(x)) for x in column) for column in zip(headers, *rows)]
    lines = ["  " + "  ".join(str(h).ljust(w) for h, w in zip(headers, widths)).rstrip()]
    lines += ["  " + "  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip() for row in rows]
    return "\n".join(lines)


def _age(since: float | None, now: float) -> str:
    if not since:
        return "-"
    seconds = max(0, int(now - since))
    if seconds < 60:
        return f"{seconds}s ago"
    if seconds < 3600:
        return f"{seconds // 60}m ago"
    return f"{seconds // 3600}h{(seconds % 3600) // 60:02d}m ago"


def _acked(types: dict[str, Any]) -> str:
    parts = []
    for name in TYPE_ORDER:
        entry = types.get(name)
        if not entry:
            continue
        acked = entry.get("acked_version") or "-"
        pending = entry.get("sent_version") and entry.get("sent_version") != entry.get("acked_version")
        parts.append(f"{name}={acked}" + ("*" if pending else ""))
    return " ".join(parts) or "-"


def _last_push(types: dict[str, Any]) -> float | None:
    pushes = [t.get("last_push") for t in types.values() if t.get("last_push")]
    return max(pushes) if pushes else None


def _nacks(types: dict[str, Any]) -> str:
    parts = []
    for name in TYPE_ORDER:
        nack = (types.get(name) or {}).get("last_nack")
        if nack:
            message = " ".join(str(nack.get("message", "")).split())
            parts.append(f"{name}@{nack.get('version')}: {message[:120]}")
    return "; ".join(parts) or "-"
