"""The owner's end of `supervisor.py`: a Popen-like handle on a child that cannot outlive this process.

    proc = SupervisedProcess(["envoy", "-c", "b.json"], remove=[workdir])
    proc.pid          # the command's own pid (not the supervisor's)
    proc.poll(), proc.wait(timeout), proc.terminate(), proc.kill(), proc.returncode
    proc.release()    # done with it: the supervisor exits and leaves the files to us

If this process ends in any way, SIGKILL included, before `release()`, the supervisor
stops the command (SIGTERM, then SIGKILL) and removes the `remove` paths. If the
supervisor itself is killed, the kernel kills the command (parent-death signal).
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO, Any, Mapping, Sequence

SUPERVISOR = Path(__file__).with_name("supervisor.py")
_File = int | IO[Any] | None


class SupervisedProcess:
    """A command run under `supervisor.py`; the API follows subprocess.Popen where it can."""

    def __init__(
        self,
        args: Sequence[str],
        *,
        remove: Sequence[str | os.PathLike[str]] = (),
        stdout: _File = None,
        stderr: _File = None,
        env: Mapping[str, str] | None = None,
        cwd: str | os.PathLike[str] | None = None,
        grace: float = 5.0,
        start_timeout: float = 15.0,
    ) -> None:
        self.args = list(args)
        self.returncode: int | None = None
        self._lock = threading.RLock()
        self._buffer = b""
        control_read, self._control = os.pipe()
        self._status, status_write = os.pipe()
        argv = [
            sys.executable,
            "-I",  # neither PYTHON* variables nor the user's site: only the standard library
            "-S",
            str(SUPERVISOR),
            "--owner",
            str(os.getpid()),
            "--control-fd",
            str(control_read),
            "--status-fd",
            str(status_write),
            "--grace",
            str(grace),
        ]
        for path in remove:
            argv += ["--remove", os.fspath(path)]
        try:
            self._supervisor = subprocess.Popen(
                [*argv, "--", *self.args],
                stdin=subprocess.DEVNULL,
                stdout=stdout,
                stderr=stderr,
                env=dict(env) if env is not None else None,
                cwd=cwd,
                pass_fds=(control_read, status_write),
                start_new_session=True,  # the terminal's Ctrl-C goes to the owner, who stops us in order
            )
        except BaseException:
            for fd in (self._control, self._status):
                os.close(fd)
            raise
        finally:
            os.close(control_read)
            os.close(status_write)
        self.pid = self._await_start(start_timeout)

    @property
    def supervisor_pid(self) -> int:
        return self._supervisor.pid

    # ---- status ------------------------------------------------------------------------------
    def _await_start(self, timeout: float) -> int:
        deadline = time.monotonic() + timeout
        while True:
            line = self._next_line(max(0.0, deadline - time.monotonic()))
            if line is None:
                supervisor_gone = self._status < 0
                self.release()
                if supervisor_gone:
                    raise RuntimeError(
                        f"the supervisor of {self.args[0]} exited with {self._supervisor.returncode} before starting it"
                    )
                raise TimeoutError(f"{self.args[0]} did not start within {timeout}s")
            word, _, rest = line.partition(" ")
            if word == "started":
                return int(rest)
            if word == "failed":
                self.release()
                raise OSError(f"cannot start {rest}")

    def _next_line(self, timeout: float) -> str | None:
        """One status line, None on timeout or when the supervisor has closed its end."""
        deadline = time.monotonic() + timeout
        while b"\n" not in self._buffer:
            if self._status < 0:
                return None
            ready, _, _ = select.select([self._status], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                return None
            data = os.read(self._status, 4096)
            if not data:
                os.close(self._status)
                self._status = -1
                return None
            self._buffer += data
        line, self._buffer = self._buffer.split(b"\n", 1)
        return line.decode()

    def _update(self, timeout: float) -> None:
        """Read what the supervisor reported (waiting up to `timeout` for something)."""
        with self._lock:
            if self.returncode is not None:
                return
            line = self._next_line(timeout)
            while line is not None:
                word, _, rest = line.partition(" ")
                if word == "exited":
                    self.returncode = int(rest)
                    return
                line = self._next_line(0)
            if self._status < 0:  # the supervisor died without a word: the kernel killed the command
                self.returncode = -signal.SIGKILL

    def poll(self) -> int | None:
        self._update(0)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            remaining = 1.0 if deadline is None else deadline - time.monotonic()
            if remaining <= 0:
                raise subprocess.TimeoutExpired(self.args, timeout or 0)
            self._update(min(remaining, 0.1))  # short waits: other threads may poll() meanwhile
        assert self.returncode is not None
        return self.returncode

    # ---- control -----------------------------------------------------------------------------
    def send_signal(self, signum: int) -> None:
        """Signal the command's process group (through the supervisor, so a reused pid is never hit)."""
        if self.poll() is None:
            self._tell(f"signal {int(signum)}")

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def release(self, timeout: float = 10.0) -> None:
        """We are done (the command has exited, or will now be stopped): let the supervisor go."""
        with self._lock:
            if self._control >= 0:
                self._tell("release")
                os.close(self._control)
                self._control = -1
            self._finish_supervisor(timeout)
            if self.returncode is None and self._status >= 0:
                self._update(timeout)  # the supervisor has exited: its last words are all there
            if self._status >= 0:
                os.close(self._status)
                self._status = -1
            if self.returncode is None:
                self.returncode = -signal.SIGKILL

    def _tell(self, line: str) -> None:
        try:
            os.write(self._control, (line + "\n").encode())
        except (BrokenPipeError, OSError):
            pass  # the supervisor is gone already; the kernel has killed the command

    def _finish_supervisor(self, timeout: float = 10.0) -> None:
        try:
            self._supervisor.wait(timeout)
        except subprocess.TimeoutExpired:
            self._supervisor.kill()  # the command dies with it (parent-death signal)
            self._supervisor.wait()

    def __enter__(self) -> SupervisedProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.poll() is None:
            self.terminate()
            try:
                self.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()
        self.release()
