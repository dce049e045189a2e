"""Start the real `appmesh-local serve` process for black-box tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path


def free_port() -> int:
    """A TCP port that is free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class ServerProcess:
    """One `python -m appmesh_local serve` child process bound to loopback."""

    state_dir: Path | None = None  # None → --ephemeral
    extra_args: list[str] = field(default_factory=list)
    port: int = field(default_factory=free_port)
    xds_port: int = field(default_factory=free_port)
    proc: subprocess.Popen | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> ServerProcess:
        args = [
            sys.executable,
            "-m",
            "appmesh_local",
            "serve",
            "--port",
            str(self.port),
            "--xds-port",
            str(self.xds_port),
        ]
        args += ["--state-dir", str(self.state_dir)] if self.state_dir else ["--ephemeral"]
        args += self.extra_args
        self.proc = subprocess.Popen(args, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}")
            try:
                with urllib.request.urlopen(f"{self.endpoint}/_appmesh-local/health", timeout=1):
                    return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise TimeoutError("appmesh-local serve did not become healthy")

    def kill(self) -> None:
        """SIGKILL: the crash case (no shutdown hooks run)."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
