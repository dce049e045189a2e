"""SIGTERM and SIGHUP end a foreground command the way Ctrl-C does: through its clean-up code.

Python's default for SIGTERM and SIGHUP is to die on the spot, skipping every `finally`
block; `appmesh-local envoy` and `task` would then leave their clean-up to the
supervisors (see supervisor.py) and, for `task`, the network namespace to the next
start. Raising KeyboardInterrupt instead runs the same clean-up for all three signals.
Signal handlers can only be set from the main thread, which is where the CLI runs.
"""

from __future__ import annotations

import signal
from contextlib import contextmanager
from typing import Any, Iterator

STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP)  # SIGINT raises KeyboardInterrupt already


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


@contextmanager
def interrupt_on_stop_signals() -> Iterator[None]:
    """Inside the block, SIGTERM and SIGHUP raise KeyboardInterrupt; the previous handlers come back after."""
    previous = {signum: signal.signal(signum, _interrupt) for signum in STOP_SIGNALS}
    try:
        yield
    finally:
        _restore(previous)


@contextmanager
def shielded() -> Iterator[None]:
    """Clean-up that a second Ctrl-C, SIGTERM or SIGHUP must not cut short (it is bounded in time)."""
    previous = {signum: signal.signal(signum, signal.SIG_IGN) for signum in (*STOP_SIGNALS, signal.SIGINT)}
    try:
        yield
    finally:
        _restore(previous)


def _restore(previous: dict[signal.Signals, Any]) -> None:
    for signum, handler in previous.items():
        signal.signal(signum, handler if handler is not None else signal.SIG_DFL)
