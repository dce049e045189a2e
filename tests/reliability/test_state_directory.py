"""A state directory is owned by one server, and a damaged one stops start-up with one line, untouched.

The probe of issue 15 found two servers happily sharing a directory (their caches diverged and
one overwrote the other) and 8 of 8 damaged directories answered with a traceback, one of them
(a bad Cloud Map snapshot) after silently setting the user's file aside.
"""

from __future__ import annotations

import os
import pickle
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Callable, Iterator

import pytest

from appmesh_local.server import AppMeshServer, ServerConfig
from appmesh_local.store.state_dir import (
    DATABASE,
    LOCK_FILE,
    NEIGHBOURS,
    StateDirError,
    StateDirLocked,
    open_state_dir,
)
from appmesh_local.testing import serve_in_thread
from tests.support.server import ServerProcess, free_port

pytestmark = pytest.mark.timeout(120)
NOBODY = 65534


def serve(state_dir: Path, user: int | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """`appmesh-local serve` on free ports; a healthy directory would make it serve (and time out)."""
    args = [sys.executable, "-m", "appmesh_local", "serve", "--port", str(free_port())]
    args += ["--xds-port", str(free_port()), "--state-dir", str(state_dir)]
    return subprocess.run(as_user(user) + args, capture_output=True, text=True, timeout=timeout)


def as_user(user: int | None) -> list[str]:
    """argv prefix running a command as `user` (None: as we are)."""
    return [] if user is None else ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups"]


def assert_refused_in_one_line(result: subprocess.CompletedProcess[str], *fragments: str) -> str:
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("appmesh-local: "), result.stderr
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def files_of(directory: Path) -> dict[str, bytes | str | None]:
    """Every entry under `directory` (None for directories, the target for links): nothing moved or rewritten."""

    def content(p: Path) -> bytes | str | None:
        if p.is_symlink():
            return os.readlink(p)
        return None if p.is_dir() else p.read_bytes()

    return {str(p.relative_to(directory)): content(p) for p in sorted(directory.rglob("*")) if p.name != LOCK_FILE}


def a_real_database(path: Path, nodes: int = 120) -> None:
    """A database written by the server itself, with rows spanning many pages (a truncation cuts data)."""
    assert path.name == DATABASE
    with serve_in_thread(xds=False, state_dir=path.parent) as server:
        client = server.client()
        client.create_mesh(meshName="data")
        for i in range(nodes):
            client.create_virtual_node(
                meshName="data", virtualNodeName=f"node-{i:04d}", spec={}, tags=[{"key": "pad", "value": "x" * 200}]
            )


def a_real_snapshot(path: Path) -> None:
    path.write_bytes(pickle.dumps({"format": 1, "backends": {}}))


# ---- one owner ------------------------------------------------------------------------------------
def test_a_second_server_on_the_same_directory_refuses_naming_the_holder(tmp_path):
    with ServerProcess(state_dir=tmp_path) as first:
        line = assert_refused_in_one_line(serve(tmp_path), "in use by another appmesh-local server")
        assert f"pid {first.proc.pid}" in line
        assert str(tmp_path) in line
    # the holder is gone (cleanly): the directory is free again
    with ServerProcess(state_dir=tmp_path):
        pass


def test_a_sigkilled_holder_leaves_no_stale_lock(tmp_path):
    first = ServerProcess(state_dir=tmp_path).start()
    first.kill()
    assert (tmp_path / LOCK_FILE).read_text().strip() == str(first.proc.pid)  # its pid is still written...
    with ServerProcess(state_dir=tmp_path):  # ...but the kernel dropped its lock with the process
        pass


def test_in_process_servers_lock_too(tmp_path):
    config = ServerConfig("127.0.0.1", 0, "127.0.0.1", None, tmp_path)
    first = AppMeshServer(config)
    try:
        with pytest.raises(StateDirLocked) as refused:
            AppMeshServer(config)
        assert refused.value.pid == os.getpid()
    finally:
        first.stop()
    AppMeshServer(config).stop()  # released by stop()


def test_open_state_dir_writes_the_pid_and_releases_on_close(tmp_path):
    state = open_state_dir(tmp_path / "new" / "state")
    assert (tmp_path / "new" / "state" / LOCK_FILE).read_text() == f"{os.getpid()}\n"
    with pytest.raises(StateDirLocked):
        open_state_dir(tmp_path / "new" / "state")
    state.close()
    open_state_dir(tmp_path / "new" / "state").close()


# ---- damaged directories ----------------------------------------------------------------------------
def truncated_database(d: Path) -> None:
    a_real_database(d / DATABASE)
    data = (d / DATABASE).read_bytes()
    (d / DATABASE).write_bytes(data[: len(data) // 2])


def truncated_snapshot(d: Path) -> None:
    data = pickle.dumps({"format": 1, "backends": {"servicediscovery": {}}, "padding": "x" * 4000})
    (d / NEIGHBOURS).write_bytes(data[: len(data) // 2])


def empty_database_beside_a_snapshot(d: Path) -> None:
    (d / DATABASE).write_bytes(b"")
    a_real_snapshot(d / NEIGHBOURS)


DAMAGES: dict[str, tuple[Callable[[Path], None], str]] = {
    "database of garbage bytes": (
        lambda d: (d / DATABASE).write_bytes(os.urandom(8192)),
        "is not a usable SQLite database",
    ),
    "truncated database": (truncated_database, "appmesh-local.sqlite3"),
    "empty database beside a snapshot": (empty_database_beside_a_snapshot, "is empty while other state files exist"),
    "database is a directory": (lambda d: (d / DATABASE).mkdir(), "is a directory, not a file"),
    "write-ahead log is a directory": (lambda d: (d / f"{DATABASE}-wal").mkdir(), "is a directory, not a file"),
    "empty Cloud Map snapshot": (lambda d: (d / NEIGHBOURS).write_bytes(b""), "is empty"),
    "Cloud Map snapshot of garbage": (lambda d: (d / NEIGHBOURS).write_bytes(b"\x80\x05garbage"), "cannot be loaded"),
    "truncated Cloud Map snapshot": (truncated_snapshot, "cannot be loaded"),
    "Cloud Map snapshot of another format": (
        lambda d: (d / NEIGHBOURS).write_bytes(pickle.dumps({"format": 99})),
        "unknown format",
    ),
    "Cloud Map snapshot is a directory": (lambda d: (d / NEIGHBOURS).mkdir(), "is a directory, not a file"),
    "lock file is a directory": (lambda d: (d / LOCK_FILE).mkdir(), "is a directory, not a file"),
    "dangling symbolic link as database": (
        lambda d: (d / DATABASE).symlink_to(d / "gone"),
        "broken symbolic link",
    ),
}


@pytest.mark.parametrize("damage", sorted(DAMAGES))
def test_a_damaged_state_directory_is_reported_in_one_line_and_left_alone(tmp_path, damage):
    state = tmp_path / "state"
    state.mkdir()
    make, fragment = DAMAGES[damage]
    make(state)
    before = files_of(state)
    assert_refused_in_one_line(serve(state), fragment, str(state))
    assert files_of(state) == before  # never reset, moved aside or rewritten


def test_a_state_directory_that_is_a_file(tmp_path):
    (tmp_path / "state").write_text("not a directory")
    assert_refused_in_one_line(serve(tmp_path / "state"), "is not a directory")
    assert (tmp_path / "state").read_text() == "not a directory"


def run_as_nobody_or_skip() -> int | None:
    """NOBODY when root can run this interpreter as another uid (root ignores file modes), None for
    a non-root user (who is refused by modes directly); skips, saying why, when root cannot."""
    if os.geteuid() != 0:
        return None
    if shutil.which("setpriv") is None:
        pytest.skip("root ignores file modes, and setpriv (util-linux) is missing to run the server as uid 65534")
    probe = subprocess.run(as_user(NOBODY) + [sys.executable, "-c", "import appmesh_local.cli"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip("root ignores file modes and uid 65534 cannot run this interpreter (e.g. a venv under /root)")
    return NOBODY


@pytest.fixture
def shared_tmp() -> Iterator[Path]:
    """A directory every uid can traverse (pytest's own tmp_path sits under a 0700 directory)."""
    path = Path(tempfile.mkdtemp(prefix="aml-state-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_a_state_directory_without_permission(shared_tmp):
    user = run_as_nobody_or_skip()
    state = shared_tmp / "state"
    state.mkdir()
    a_real_database(state / DATABASE)
    state.chmod(0o500 if user is None else 0o755)  # for nobody: root's directory, not writable
    try:
        assert_refused_in_one_line(serve(state, user=user), "cannot write to state directory", "ermission denied")
    finally:
        state.chmod(0o755)


def test_a_database_without_permission(shared_tmp):
    user = run_as_nobody_or_skip()
    state = shared_tmp / "state"
    state.mkdir()
    a_real_database(state / DATABASE)
    (state / LOCK_FILE).unlink()
    state.chmod(0o777)  # the lock can be taken...
    (state / DATABASE).chmod(0o600 if user is not None else 0o000)  # ...but the database is not ours
    try:
        assert_refused_in_one_line(serve(state, user=user), "cannot read and write", "ermission denied")
    finally:
        (state / DATABASE).chmod(0o600)


def test_a_state_directory_behind_a_closed_parent(shared_tmp):
    user = run_as_nobody_or_skip()
    closed = shared_tmp / "closed"
    (closed / "state").mkdir(parents=True)
    closed.chmod(0o700 if user is not None else 0o000)  # nobody may not even look inside
    try:
        assert_refused_in_one_line(serve(closed / "state", user=user), "cannot reach state directory", "ermission")
    finally:
        closed.chmod(0o755)


def test_a_healthy_directory_with_data_opens(tmp_path):
    """The checks refuse damage, not data: a real database and snapshot pass them."""
    a_real_database(tmp_path / DATABASE)
    a_real_snapshot(tmp_path / NEIGHBOURS)
    state = open_state_dir(tmp_path)
    state.close()
    with pytest.raises(StateDirError, match="is empty"):
        (tmp_path / NEIGHBOURS).write_bytes(b"")
        from appmesh_local.neighbours.persistence import NeighbourState

        NeighbourState(tmp_path / NEIGHBOURS).load()
