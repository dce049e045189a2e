"""A process-wide, counted pause of Python's cyclic garbage collector.

Two parts of the server pause the collector while they allocate in proportion to a big input:
a large API request while its body is parsed and validated (`web.serving`), and the bridge
while it rebuilds a mesh (`bridge.reconciler`). A collection they would trigger walks the
whole heap holding the GIL: 50-500 ms measured, an equal stall of every other client. The
switch is process-wide, so pauses that overlap must share it: each one that ended used to
re-enable the collector under the other (seen as 300-500 ms collections in the middle of a
rebuild that had paused it). Here the first pause switches the collector off and the last
one puts back what was there before.
"""

from __future__ import annotations

import gc
import threading
from contextlib import contextmanager
from typing import Iterator

_lock = threading.Lock()
_holds = 0
_enabled_before = False


@contextmanager
def paused() -> Iterator[None]:
    """The collector is off for the duration, and back as it was when the last pause ends."""
    global _holds, _enabled_before
    with _lock:
        if _holds == 0:
            _enabled_before = gc.isenabled()
            gc.disable()
        _holds += 1
    try:
        yield
    finally:
        with _lock:
            _holds -= 1
            if _holds == 0 and _enabled_before:
                gc.enable()
