"""The private directory: what uid 1337 executes, nobody else can plant or change."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import tempfile
from pathlib import Path

import pytest

from appmesh_local.proxy.private import ENV_VAR, UnsafeDirectory, executable_for_any_user, private_dir

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def base(monkeypatch) -> Path:
    """A fresh traversable directory in /tmp (sticky, like the real fallback's parent), as the runtime dir's parent."""
    made = Path(tempfile.mkdtemp(prefix="aml-private-"))
    made.chmod(0o755)
    monkeypatch.setenv(ENV_VAR, str(made / "runtime"))
    yield made
    shutil.rmtree(made, ignore_errors=True)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def test_made_owner_only(base):
    made = private_dir()
    assert made == base / "runtime" and made.stat().st_uid == os.geteuid()
    assert mode(made) == (0o711 if os.geteuid() == 0 else 0o700)
    assert private_dir() == made  # and accepted when it exists


@pytest.mark.parametrize("problem", ["symlink", "file", "writable", "parent"])
def test_unsafe_directories_are_refused_with_the_reason(base, problem, monkeypatch):
    target = base / "runtime"
    if problem == "symlink":
        (base / "elsewhere").mkdir()
        target.symlink_to(base / "elsewhere")
    elif problem == "file":
        target.write_text("")
    elif problem == "writable":
        target.mkdir()
        target.chmod(0o777)
    else:
        (base / "open").mkdir()
        (base / "open").chmod(0o777)  # writable by all and not sticky: anyone could swap what is inside
        monkeypatch.setenv(ENV_VAR, str(base / "open" / "runtime"))
    with pytest.raises(UnsafeDirectory, match=str(base)):
        private_dir()


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root: makes a binary uid 1337 must run")
def test_a_binary_hidden_under_a_0700_directory_is_copied_where_uid_1337_can_run_it_but_not_change_it(base):
    hidden = base / "hidden"
    hidden.mkdir(mode=0o700)
    hidden.chmod(0o700)
    binary = hidden / "tool"
    shutil.copy2("/bin/true", binary)
    binary.chmod(0o700)  # neither o+r nor o+x: a copy, never a hard link (chmod would change the original)
    copy = executable_for_any_user(binary)
    assert copy.parent.parent.parent == base / "runtime" and copy.read_bytes() == binary.read_bytes()
    for path in (copy.parent, copy.parent.parent, copy.parent.parent.parent):
        assert path.stat().st_uid == 0 and mode(path) == 0o711
    assert copy.stat().st_uid == 0 and mode(copy) == 0o755 and mode(binary) == 0o700
    ran = subprocess.run(["setpriv", "--reuid=1337", "--regid=1337", "--clear-groups", str(copy)], timeout=10)
    assert ran.returncode == 0
    assert executable_for_any_user(binary) == copy  # made once
    # A new version replaces the old copy.
    binary.write_bytes(binary.read_bytes() + b"\0")
    newer = executable_for_any_user(binary)
    assert newer != copy and not copy.exists() and newer.exists()


def test_a_binary_anyone_can_run_is_used_where_it_is(base):
    assert executable_for_any_user(Path("/bin/true")) == Path("/bin/true").resolve()
