"""Deeply immutable spec values: what every record and snapshot leaving the store holds.

The store, the translator's memo, the bridge's builder and the snapshot cache all share spec
objects between revisions and read "the same object" as "nothing changed" (docs/contracts.md).
One stray in-place edit anywhere would ship stale Envoy configuration with no error; freezing
turns it into an immediate `TypeError` at the line that tried.

JSON objects become `FrozenDict` (a `dict` subclass, so `json.dumps`, `==` with plain dicts
and `dict(spec)` for a mutable copy keep working) and JSON arrays become tuples. Freezing a
typical spec costs about twice its `json.loads`, once per write and once per row loaded from
SQLite: no difference the API benchmark can see (docs/performance.md, "Frozen records").
"""

from __future__ import annotations

from typing import Any, NoReturn


class FrozenDict(dict[str, Any]):
    """A JSON object that refuses every change; copy it with `dict(value)` to edit."""

    __slots__ = ()

    def _refuse(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise TypeError("records from the store are read-only: copy with dict(...) before changing")

    __setitem__ = __delitem__ = _refuse
    clear = pop = popitem = setdefault = update = _refuse

    def __ior__(self, other: Any) -> NoReturn:  # type: ignore[misc]
        self._refuse()

    def __copy__(self) -> FrozenDict:
        return self  # immutable all the way down: sharing is safe, as for tuples

    def __deepcopy__(self, memo: dict[int, Any]) -> FrozenDict:
        return self

    def __reduce__(self) -> tuple[type[FrozenDict], tuple[dict[str, Any]]]:
        return (FrozenDict, (dict(self),))


_LEAVES = frozenset({str, int, float, bool, type(None)})


def freeze(value: Any) -> Any:
    """`value` (JSON data: dicts, lists, scalars) with every dict frozen and every list a tuple.

    Already frozen values are returned as they are, so freezing a record twice costs nothing.
    Scalars are not recursed into (most of a spec's values: ~15% faster than a plain walk).
    """
    kind = type(value)
    if kind is dict:
        return FrozenDict({key: item if type(item) in _LEAVES else freeze(item) for key, item in value.items()})
    if kind is list or kind is tuple:
        return tuple([item if type(item) in _LEAVES else freeze(item) for item in value])
    return value
