"""The state directory a server owns: one lock, and a look at every file before anything reads it.

Two servers on one directory would each keep their own cache of the same database and overwrite
each other's Cloud Map/ACM snapshot, so the first server holds an exclusive `flock` on a lock file
for as long as it runs; the kernel drops it when the process ends, even by SIGKILL, so a crash
never leaves a stale lock behind. The file carries the holder's PID for the refusal message.

A damaged file (not SQLite, truncated, a directory where a file belongs, unreadable) stops
start-up with one sentence naming the file and what to do, never a traceback, and is never
replaced: whatever it holds may still be recovered by hand.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import stat
from pathlib import Path

DATABASE = "appmesh-local.sqlite3"
NEIGHBOURS = "neighbours.pickle"
LOCK_FILE = "appmesh-local.lock"
XDS_AUTH_KEY = "xds-auth.key"  # the secret xDS tokens are minted with (serve --xds-auth)
_SIDE_FILES = (f"{DATABASE}-wal", f"{DATABASE}-shm")
RECOVERY_HINT = "restore it from a backup, or move it away to start with an empty state"


class StateDirError(Exception):
    """A state directory (or one of its files) that cannot be used; `str()` is one line for the user."""


class StateDirLocked(StateDirError):
    """Another live server holds the directory."""

    def __init__(self, path: Path, pid: int | None) -> None:
        holder = f"pid {pid}" if pid is not None else "pid unknown"
        super().__init__(
            f"state directory {path} is in use by another appmesh-local server ({holder}); "
            f"stop that server, or give this one another --state-dir"
        )
        self.pid = pid


class StateDir:
    """An open, locked state directory. `close()` releases the lock (process exit does too)."""

    def __init__(self, path: Path, lock_fd: int) -> None:
        self.path = path
        self._lock_fd: int | None = lock_fd

    @property
    def database(self) -> Path:
        return self.path / DATABASE

    @property
    def neighbours(self) -> Path:
        return self.path / NEIGHBOURS

    @property
    def locked(self) -> bool:
        return self._lock_fd is not None

    def close(self) -> None:
        """Release the lock. The PID stays in the file: harmless, the lock is what counts."""
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # closing the only descriptor drops the flock
            self._lock_fd = None


def open_state_dir(path: Path | str) -> StateDir:
    """Create (if needed), lock and check `path`; raise StateDirError with a one-line reason."""
    path = Path(path)
    _make_directory(path)
    lock_fd = _lock(path)
    try:
        check_files(path)
        check_database(path / DATABASE, other_state=_has_other_state(path))
    except BaseException:
        os.close(lock_fd)
        raise
    return StateDir(path, lock_fd)


def _make_directory(path: Path) -> None:
    try:
        info = path.stat()
    except FileNotFoundError:
        info = None
    except OSError as error:  # a parent we may not search, a loop of links...
        raise StateDirError(f"cannot reach state directory {path}: {_reason(error)}") from None
    if info is not None and not stat.S_ISDIR(info.st_mode):
        raise StateDirError(f"state directory {path} exists and is not a directory")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise StateDirError(f"cannot create state directory {path}: {_reason(error)}") from None


def _lock(path: Path) -> int:
    """An fd holding an exclusive flock on the lock file, which now names this process."""
    lock_path = path / LOCK_FILE
    try:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except IsADirectoryError:
        raise StateDirError(f"{lock_path} is a directory, not a file; move it away") from None
    except OSError as error:
        raise StateDirError(f"cannot write to state directory {path}: {_reason(error)}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        pid = _read_pid(fd)
        os.close(fd)
        raise StateDirLocked(path, pid) from None
    except OSError as error:
        os.close(fd)
        raise StateDirError(f"cannot lock state directory {path}: {_reason(error)}") from None
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    except OSError as error:
        os.close(fd)
        raise StateDirError(f"cannot write to state directory {path}: {_reason(error)}") from None
    return fd


def _read_pid(fd: int) -> int | None:
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def check_files(path: Path) -> None:
    """Every state file that exists is a regular file this process can read and write."""
    for name in (DATABASE, *_SIDE_FILES, NEIGHBOURS):
        file = path / name
        try:
            info = file.lstat()
        except FileNotFoundError:
            continue
        except OSError as error:
            raise StateDirError(f"cannot use {file}: {_reason(error)}") from None
        if stat.S_ISLNK(info.st_mode):
            try:
                info = file.stat()
            except OSError as error:
                raise StateDirError(f"{file} is a broken symbolic link ({_reason(error)})") from None
        if not stat.S_ISREG(info.st_mode):
            raise StateDirError(f"{file} is a {_file_type(info.st_mode)}, not a file; move it away")
        try:
            with open(file, "rb+"):
                pass
        except OSError as error:
            raise StateDirError(f"cannot read and write {file}: {_reason(error)}") from None


def check_database(database: Path, *, other_state: bool = False) -> None:
    """The SQLite file opens and passes `PRAGMA quick_check` (a few ms per MB; a new file passes).

    An empty database file beside other state means it was truncated: SQLite itself would take it
    for a new database and the server would start empty, which is exactly the silent reset refused here.
    """
    if not database.exists():
        return
    if database.stat().st_size == 0:
        if other_state:
            raise StateDirError(f"{database} is empty while other state files exist (truncated?); {RECOVERY_HINT}")
        return
    try:
        connection = sqlite3.connect(f"file:{database}?mode=rw", uri=True)
    except sqlite3.Error as error:
        raise StateDirError(f"cannot open {database}: {error}") from None
    try:
        rows = connection.execute("PRAGMA quick_check").fetchall()
    except sqlite3.DatabaseError as error:
        raise StateDirError(f"{database} is not a usable SQLite database ({error}); {RECOVERY_HINT}") from None
    finally:
        connection.close()
    if rows != [("ok",)]:
        first = str(rows[0][0]) if rows else "no answer"
        raise StateDirError(f"{database} is damaged ({first}); {RECOVERY_HINT}")


def _has_other_state(path: Path) -> bool:
    return any((path / name).is_file() and (path / name).stat().st_size > 0 for name in (*_SIDE_FILES, NEIGHBOURS))


def _file_type(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "directory"
    if stat.S_ISSOCK(mode):
        return "socket"
    if stat.S_ISFIFO(mode):
        return "named pipe"
    return "special file"


def _reason(error: OSError) -> str:
    return error.strerror or str(error)
