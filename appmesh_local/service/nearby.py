"""Why a proxy (virtual node or gateway) named by a bootstrap has no configuration, and what is close by.

An Envoy bootstrapped for a mesh in the wrong region or account, or with a typo in a name,
connects and then silently gets nothing. `appmesh-local envoy|bootstrap|task` ask the
server before starting (GET /_appmesh-local/proxy) and `status` explains each unknown
node with the same sentence: one line naming the mesh and proxy looked for and where a
mesh or proxy of that name, or of a similar name, does exist.
"""

from __future__ import annotations

import difflib
from typing import Iterable, cast

from ..store import ResourceKey, Store
from . import kinds

PROXY_KINDS = {kinds.VIRTUAL_NODE.kind: "virtual node", kinds.VIRTUAL_GATEWAY.kind: "virtual gateway"}
FLAGS = {kinds.VIRTUAL_NODE.kind: "--virtual-node", kinds.VIRTUAL_GATEWAY.kind: "--virtual-gateway"}
MAX_LISTED = 5


def missing_proxy_reason(
    store: Store, account: str, region: str, mesh: str, kind: str, name: str, advice: str = "use"
) -> str | None:
    """None when the proxy exists; else one line saying what is missing and what exists nearby.

    `advice` starts each suggested command-line change ("use", or "bootstrap with" for `status`).
    """
    if kind not in PROXY_KINDS:
        return f"{kind!r} is not a proxy kind (virtualNode or virtualGateway)"
    label = PROXY_KINDS[kind]
    where = f"account {account}, region {region}"
    if _get(store, account, region, kinds.MESH.kind, mesh, mesh) is None:
        return f"no mesh {mesh!r} in {where}" + _elsewhere(store, account, region, mesh, kind, name, advice)
    if _get(store, account, region, kind, mesh, name) is not None:
        return None
    hints: list[str] = []
    other = next(k for k in PROXY_KINDS if k != kind)
    if _get(store, account, region, other, mesh, name) is not None:
        hints.append(f"it has a {PROXY_KINDS[other]} named {name!r} ({advice} {FLAGS[other]} {name})")
    names = [record.key.name for record in store.list(account, region, kind, mesh)]
    similar = _similar(name, names)
    if similar:
        hints.append(f"similar {label}s: {', '.join(similar)}")
    elif names:
        hints.append(f"its {label}s: {_listed(names)}")
    else:
        hints.append(f"it has no {label}s")
    moved = [
        _place(account, region, a, r, advice)
        for a, r, m in _mesh_keys(store)
        if m == mesh and (a, r) != (account, region) and _get(store, a, r, kind, mesh, name) is not None
    ]
    if moved:
        hints.append(f"a {label} {name!r} exists in mesh {mesh!r} of {'; '.join(moved[:MAX_LISTED])}")
    return f"mesh {mesh!r} ({where}) has no {label} {name!r}: " + "; ".join(hints)


def _elsewhere(store: Store, account: str, region: str, mesh: str, kind: str, name: str, advice: str) -> str:
    """What exists when the mesh does not: the same name elsewhere, or similar names here."""
    keys = _mesh_keys(store)
    same_name = [(a, r) for a, r, m in keys if m == mesh and (a, r) != (account, region)]
    if same_name:
        # Prefer the places that also hold the proxy: that is most likely what was meant.
        same_name.sort(key=lambda place: _get(store, place[0], place[1], kind, mesh, name) is None)
        places = [_place(account, region, a, r, advice) for a, r in same_name[:MAX_LISTED]]
        return f"; a mesh named {mesh!r} exists in {'; '.join(places)}"
    here = [m for a, r, m in keys if (a, r) == (account, region)]
    similar = _similar(mesh, here)
    if similar:
        return f"; similar meshes there: {', '.join(similar)}"
    if here:
        return f"; its meshes: {_listed(here)}"
    return " (there are no meshes in that account and region)"


def _place(account: str, region: str, other_account: str, other_region: str, advice: str) -> str:
    """`region us-west-2 (use --region us-west-2)` and the like, naming only what differs."""
    parts, flags = [], []
    if other_account != account:
        parts.append(f"account {other_account}")
        flags.append(f"--account {other_account}")
    if other_region != region:
        parts.append(f"region {other_region}")
        flags.append(f"--region {other_region}")
    return f"{', '.join(parts)} ({advice} {' '.join(flags)})"


def _similar(word: str, candidates: Iterable[str]) -> list[str]:
    """Close spellings (difflib's ratio ≥ 0.6), case-insensitively, best first."""
    by_lower: dict[str, str] = {}
    for candidate in candidates:
        by_lower.setdefault(candidate.lower(), candidate)
    matches = difflib.get_close_matches(word.lower(), list(by_lower), n=3, cutoff=0.6)
    return [by_lower[m] for m in matches if by_lower[m] != word]


def _listed(names: list[str]) -> str:
    shown = ", ".join(sorted(names)[:MAX_LISTED])
    return shown + (f" and {len(names) - MAX_LISTED} more" if len(names) > MAX_LISTED else "")


def _mesh_keys(store: Store) -> list[tuple[str, str, str]]:
    """(account, region, mesh) of every mesh the server holds, in every account and region."""
    return cast("list[tuple[str, str, str]]", store.mesh_keys())


def _get(store: Store, account: str, region: str, kind: str, mesh: str, name: str) -> object | None:
    return store.get(ResourceKey(account, region, kind, mesh, "", name))
