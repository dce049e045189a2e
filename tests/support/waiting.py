"""Bounded polling for tests that wait on real processes (Envoy, the reconciler, apps)."""

from __future__ import annotations

import time
from typing import Any, Callable


def wait_until(check: Callable[[], Any], timeout: float, message: str, interval: float = 0.05) -> Any:
    """Poll `check()` until it returns something truthy and return that; fail after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{message} (after {timeout}s)")
        time.sleep(interval)
