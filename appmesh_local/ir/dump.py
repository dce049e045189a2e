"""IR → plain data (dicts, lists, scalars) for golden files and the offline `translate` command."""

from __future__ import annotations

import dataclasses
from typing import Any, Sequence


def _default(f: dataclasses.Field[Any]) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return dataclasses.MISSING


def dump(value: Any) -> Any:
    """Turn an IR value into YAML-able data; unset fields (None, empty tuples) and fields
    left at their default are omitted, so dumps read like the config that matters."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out: dict[str, Any] = {}
        for f in dataclasses.fields(value):
            item = getattr(value, f.name)
            if item is None or item == () or item == _default(f):
                continue
            out[f.name] = dump(item)
        return out
    if isinstance(value, Sequence) and not isinstance(value, (str, bytes)):
        value = tuple(value)  # MeshIR.proxies may be a lazily made sequence
        if value and all(isinstance(v, tuple) and len(v) == 2 and isinstance(v[0], str) for v in value):
            return [list(v) for v in value]
        return [dump(v) for v in value]
    return value
