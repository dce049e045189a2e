"""Is a process really gone? For the tests that stop owners every possible way and look for orphans."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import psutil


@dataclass(frozen=True)
class Seen:
    """A process as seen while it ran: its pid and start time (a recycled pid is not the same process)."""

    pid: int
    started: float

    @classmethod
    def of(cls, pid: int) -> Seen:
        return cls(pid, psutil.Process(pid).create_time())

    def running(self) -> bool:
        """Alive and the same process; a zombie (exited, waiting for its new parent to reap it) is not."""
        try:
            process = psutil.Process(self.pid)
            return process.create_time() == self.started and process.status() != psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return False


def survivors(processes: Iterable[Seen], paths: Iterable[Path] = (), timeout: float = 15.0) -> list[str]:
    """What is still there after `timeout` seconds: running processes and existing paths (empty: all gone)."""
    processes, paths = list(processes), list(paths)
    deadline = time.monotonic() + timeout
    while True:
        left = [f"pid {p.pid}" for p in processes if p.running()] + [str(p) for p in paths if p.exists()]
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.05)


def random_loopback() -> str:
    """A loopback address other test runs on this machine are unlikely to use (listeners on fixed ports)."""
    return f"127.{random.randint(1, 254)}.{random.randint(1, 254)}.{random.randint(2, 254)}"
