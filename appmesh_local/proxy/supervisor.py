"""Keep one child process (Envoy, a task's app) from outliving the process that asked for it.

Run as a plain script (`python -I -S supervisor.py ...`), standard library only, so it
starts in milliseconds and imports nothing of appmesh-local. `supervised.py` is the other
end. Why a separate process: the owner may be killed with SIGKILL, which runs no clean-up
code, and Linux's parent-death signal (PR_SET_PDEATHSIG) alone cannot help because it
fires when the *thread* that forked the child ends (an owner starting Envoy from a worker
thread would lose it early) and it cannot remove files. This process therefore

- starts COMMAND in a new session, with the parent-death signal SIGKILL set on it, so the
  command dies with this supervisor whatever happens to the supervisor (even SIGKILL);
- watches the owner through a pidfd (a process-wide handle: pollable when the whole owner
  process has exited), falling back to polling getppid() where pidfds do not exist;
- when the owner is gone: SIGTERM to the command's process group, SIGKILL after --grace
  seconds, then removes every --remove path and exits;
- obeys the owner's control pipe: `signal N` (forward a signal to the command's process
  group) and `release` (the owner is done: exit without touching the files);
- reports on the status pipe: `started PID`, then `exited RETURNCODE` (negative: killed
  by that signal) once the command has been reaped, or `failed MESSAGE` if it did not start;
- treats SIGTERM, SIGINT and SIGHUP sent to itself as "stop everything": the command is
  stopped as above and the --remove paths are removed.

usage: supervisor.py --owner PID --control-fd FD --status-fd FD [--remove PATH]... [--grace S] -- COMMAND...
"""

from __future__ import annotations

import errno
import os
import selectors
import signal
import subprocess
import sys
import time

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
POLL_INTERVAL = 0.2  # seconds, only where pidfds are missing
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


def set_parent_death_signal(signum: int) -> None:
    """prctl(PR_SET_PDEATHSIG, signum) on Linux; nothing elsewhere (no such facility)."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes  # here, not at the top: it costs start-up time and only Linux needs it

    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, signum, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")


def open_pidfd(pid: int) -> int | None:
    """A pidfd for `pid` (Linux 5.3+), None where the kernel or Python lacks them."""
    opener = getattr(os, "pidfd_open", None)
    if opener is None:
        return None
    try:
        return opener(pid)
    except OSError as error:
        if error.errno in (errno.ENOSYS, errno.EPERM, errno.EINVAL):
            return None
        if error.errno == errno.ESRCH:
            return -1  # already gone
        raise


class Options:
    """The command line (a plain class: dataclasses would import inspect, ~15 ms of start-up)."""

    def __init__(self) -> None:
        self.owner = 0
        self.control_fd = -1
        self.status_fd = -1
        self.remove: list[str] = []
        self.grace = 5.0
        self.command: list[str] = []


class Supervisor:
    """One supervised command; `run()` returns the supervisor's exit status."""

    def __init__(self, args: Options) -> None:
        self.owner: int = args.owner
        self.control = os.fdopen(args.control_fd, "rb", buffering=0)
        self.status_fd: int = args.status_fd
        self.remove: list[str] = args.remove
        self.grace: float = args.grace
        self.command: list[str] = args.command
        self.child: subprocess.Popen[bytes] | None = None
        self.returncode: int | None = None
        self.selector = selectors.DefaultSelector()
        self._control_buffer = b""

    # ---- reporting -------------------------------------------------------------------------
    def report(self, line: str) -> bool:
        """Write one status line; False when the owner's end is closed (the owner is gone)."""
        if self.status_fd < 0:
            return False
        try:
            os.write(self.status_fd, (line + "\n").encode())
            return True
        except OSError:
            os.close(self.status_fd)
            self.status_fd = -1
            return False

    # ---- the command -----------------------------------------------------------------------
    def start_child(self) -> bool:
        me = os.getpid()
        if sys.platform.startswith("linux"):
            import ctypes  # noqa: F401 - loaded before the fork, so the child only calls it

        def in_child() -> None:  # between fork and exec, in the child; this process has one thread
            set_parent_death_signal(signal.SIGKILL)
            if os.getppid() != me:  # the supervisor died before the prctl: do not run unsupervised
                os._exit(1)

        try:
            self.child = subprocess.Popen(
                self.command, stdin=subprocess.DEVNULL, start_new_session=True, preexec_fn=in_child
            )
        except OSError as error:
            self.report(f"failed {self.command[0]}: {error.strerror or error}")
            return False
        self.report(f"started {self.child.pid}")
        return True

    def child_alive(self) -> bool:
        if self.child is None or self.returncode is not None:
            return False
        code = self.child.poll()
        if code is None:
            return True
        self.returncode = code
        self.report(f"exited {code}")
        return False

    def signal_child(self, signum: int) -> None:
        """Signal the command's process group (it leads one: helpers it forked go too)."""
        if self.child is None or not self.child_alive():
            return
        try:
            os.killpg(self.child.pid, signum)
        except ProcessLookupError:
            pass
        except PermissionError:  # a member of the group runs as another user (we are not root): the command alone
            self.child.send_signal(signum)

    def stop_child(self) -> None:
        """SIGTERM, then SIGKILL after the grace period; returns once the command is reaped."""
        if not self.child_alive():
            return
        self.signal_child(signal.SIGTERM)
        deadline = time.monotonic() + self.grace
        while self.child_alive() and time.monotonic() < deadline:
            time.sleep(0.02)
        if self.child_alive():
            self.signal_child(signal.SIGKILL)
            assert self.child is not None
            self.child.wait()
            self.child_alive()

    def clean_up(self) -> None:
        import shutil  # only needed now: keeps the start-up quick

        self.stop_child()
        for path in self.remove:
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path, ignore_errors=True)
            else:
                try:
                    os.unlink(path)
                except FileNotFoundError:
                    pass

    # ---- the owner's commands --------------------------------------------------------------
    def read_control(self) -> str | None:
        """Act on the owner's control lines; 'release' or 'eof' end the loop."""
        try:
            data = self.control.read(4096)
        except BlockingIOError:
            return None
        if data is None:  # non-blocking read with nothing there yet
            return None
        if not data:
            return "eof"
        self._control_buffer += data
        while b"\n" in self._control_buffer:
            line, self._control_buffer = self._control_buffer.split(b"\n", 1)
            words = line.decode(errors="replace").split()
            if words[:1] == ["release"]:
                return "release"
            if words[:1] == ["signal"] and len(words) == 2 and words[1].isdigit():
                self.signal_child(int(words[1]))
        return None

    # ---- main loop -------------------------------------------------------------------------
    def run(self) -> int:
        """Supervise until the owner releases us (files kept) or is gone / asks us to stop (files removed)."""
        wake_read, wake_write = os.pipe()
        os.set_blocking(wake_write, False)
        signal.set_wakeup_fd(wake_write, warn_on_full_buffer=False)
        for signum in (*STOP_SIGNALS, signal.SIGCHLD):
            signal.signal(signum, lambda *_: None)  # the byte on the wakeup pipe is what counts
        owner_fd = open_pidfd(self.owner)
        if owner_fd == -1 or os.getppid() != self.owner:  # the owner died before we could watch it
            self.clean_up()
            return 0
        if not self.start_child():
            return 127
        os.set_blocking(self.control.fileno(), False)
        self.selector.register(wake_read, selectors.EVENT_READ, "signal")
        self.selector.register(self.control, selectors.EVENT_READ, "control")
        if owner_fd is not None:
            self.selector.register(owner_fd, selectors.EVENT_READ, "owner")
        while True:
            events = self.selector.select(None if owner_fd is not None else POLL_INTERVAL)
            if owner_fd is None and os.getppid() != self.owner:
                events.append((selectors.SelectorKey(-1, -1, selectors.EVENT_READ, "owner"), selectors.EVENT_READ))
            for key, _ in events:
                if key.data == "signal":
                    received = os.read(wake_read, 512)
                    if any(signum in received for signum in STOP_SIGNALS):
                        self.clean_up()
                        return 0
                    self.child_alive()  # SIGCHLD: report the exit now, keep guarding the files
                    continue
                verdict = self.read_control() if key.data == "control" else "owner gone"
                if verdict == "release":  # the owner is done and removes (or keeps) the files itself
                    self.stop_child()
                    return 0
                if verdict is not None:  # the owner exited, or dropped its end without releasing us
                    self.clean_up()
                    return 0
            if self.status_fd < 0:  # the owner closed the status pipe: it is gone
                self.clean_up()
                return 0


def parse_args(argv: list[str]) -> Options:
    """The few options of the usage line (argparse alone would double the start-up time)."""
    options, args = Options(), list(argv)
    while args and args[0] != "--":
        flag = args.pop(0)
        if not args:
            raise SystemExit(f"supervisor.py: {flag} needs a value")
        value = args.pop(0)
        if flag == "--owner":
            options.owner = int(value)
        elif flag == "--control-fd":
            options.control_fd = int(value)
        elif flag == "--status-fd":
            options.status_fd = int(value)
        elif flag == "--remove":
            options.remove.append(value)
        elif flag == "--grace":
            options.grace = float(value)
        else:
            raise SystemExit(f"supervisor.py: unknown option {flag}")
    options.command = args[1:]
    if not options.owner or options.control_fd < 0 or options.status_fd < 0 or not options.command:
        raise SystemExit(__doc__.rsplit("usage: ", 1)[-1] if __doc__ else "usage: see supervised.py")
    return options


def main(argv: list[str] | None = None) -> int:
    return Supervisor(parse_args(sys.argv[1:] if argv is None else argv)).run()


if __name__ == "__main__":
    sys.exit(main())
