"""Knobs of a translation that are not part of the mesh."""

from __future__ import annotations

from dataclasses import dataclass

from appmesh_local.ir import names


@dataclass(frozen=True)
class TranslateOptions:
    """bind_address: where virtual node listeners and gateway ingress listeners bind (names
    keep saying 0.0.0.0); loopback tests use 127.0.0.1. default_retry_policy: App Mesh's
    invisible default retries (docs/reference.md#retries); False emulates pre-2020-07-29 accounts."""

    bind_address: str = names.DEFAULT_BIND_ADDRESS
    default_retry_policy: bool = True
