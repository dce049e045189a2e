"""JSON text of documents of any size, without stalling the server's other clients.

`json.dumps` encodes in C and holds the GIL for the whole document: ~120 ms for the 2 MB
answer to a CreateVirtualNode with 30,000 listeners, and as long again to store its spec.
Every other thread waits meanwhile: the event loop that answers every other client, the
xDS streams, the reconciler. Past a few thousand values a document is encoded by the
standard library's pure-Python encoder instead, a generator of small pieces between which
other threads get the GIL. It makes the same text and costs its caller ~3x the time, which
only large documents pay; a small one is counted (a bounded walk) and sent to the C encoder.

The parse side has its counterpart in `api_models.wire` (a hook per JSON object).
"""

from __future__ import annotations

import json
from typing import Any, Callable

# Values (containers and scalars) above which a document is encoded in pieces: ~0.3 ms of C
# encoding, well under the interpreter's 5 ms switch interval.
YIELDING_VALUES = 4096


def is_large(document: Any, limit: int = YIELDING_VALUES) -> bool:
    """Whether `document` holds more than `limit` values; stops counting as soon as it does."""
    count = 0
    stack = [document]
    while stack:
        value = stack.pop()
        count += 1
        if count > limit:
            return True
        if isinstance(value, dict):
            stack.extend(value.values())
        elif isinstance(value, (list, tuple)):
            stack.extend(value)
    return False


def dumps(
    document: Any,
    *,
    separators: tuple[str, str] | None = None,
    sort_keys: bool = False,
    default: Callable[[Any], Any] | None = None,
) -> str:
    """`json.dumps(document, ...)`, the same text; a large document is encoded in pieces."""
    if not is_large(document):
        return json.dumps(document, separators=separators, sort_keys=sort_keys, default=default)
    encoder = json.JSONEncoder(separators=separators, sort_keys=sort_keys, default=default)
    # iterencode without `_one_shot` takes the pure-Python generator, never the C encoder.
    return "".join(encoder.iterencode(document))
