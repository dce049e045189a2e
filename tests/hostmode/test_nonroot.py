"""Issue 11's proof: a whole mesh on one machine without root.

`scenario_two_meshes.py` (two colour-app meshes, each a gateway and five apps with their Envoys,
side by side, no network namespaces) runs in a pytest of its own, as an unprivileged user: when
this test runs as root it drops to `nobody` with setpriv first. Afterwards no process of that run
may be left: every process it started carries a marker in its environment, and /proc must show none.
"""

from __future__ import annotations

import os
import pwd
import shutil
import site
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pytest

from appmesh_local.proxy.process import world_executable
from appmesh_local.testing import envoy_available
from tests.support.tasks import SYSTEM_PATH

ROOT = Path(__file__).resolve().parents[2]
SCENARIO = Path(__file__).with_name("scenario_two_meshes.py")
MARKER = "APPMESH_LOCAL_TEST_RUN"
EXPECT_UID = "APPMESH_LOCAL_TEST_UID"  # the scenario checks it really runs as that user
UNPRIVILEGED = "nobody"

pytestmark = pytest.mark.timeout(420)


def _drop_privileges() -> list[str]:
    """argv prefix running a command as `nobody` (only root can switch), or [] when we are not root."""
    if os.geteuid() != 0:
        return []
    if shutil.which("setpriv") is None:
        pytest.skip("running as root: need `setpriv` (util-linux) to drop to an unprivileged user")
    user = pwd.getpwnam(UNPRIVILEGED)
    return ["setpriv", f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}", "--clear-groups"]


def _interpreter(unprivileged: bool) -> tuple[str, dict[str, str]]:
    """A Python the unprivileged user can run, with this one's packages (a venv's python often
    links into a 0700 /root): this one if it can, else the system Python of the same version."""
    if not unprivileged or world_executable(Path(sys.executable)):
        return sys.executable, {}
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    python = shutil.which(version, path=SYSTEM_PATH)
    packages = [p for p in site.getsitepackages() if Path(p).is_dir()]
    if python is None or not all(world_executable(Path(p)) for p in packages):
        pytest.skip(f"{UNPRIVILEGED} can run neither {sys.executable} nor a system {version} with our packages")
    return python, {"PYTHONPATH": os.pathsep.join([str(ROOT), *packages])}


def _marked_processes(marker: str) -> list[str]:
    """`pid command` of every process whose environment holds MARKER=marker."""
    needle = f"{MARKER}={marker}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if needle in (entry / "environ").read_bytes().split(b"\0"):
                command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                found.append(f"{entry.name} {command[:200]}")
        except OSError:
            continue  # gone meanwhile, or not ours to read
    return found


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="needs /proc to look for leftover processes")
def test_two_meshes_side_by_side_as_an_unprivileged_user():
    reason = envoy_available()
    if reason:
        print(f"SKIP host mode as non-root: {reason}")
        pytest.skip(reason)
    prefix = _drop_privileges()
    marker = uuid.uuid4().hex
    home = Path(tempfile.mkdtemp(prefix="appmesh-nonroot-"))
    if prefix:
        os.chown(home, pwd.getpwnam(UNPRIVILEGED).pw_uid, pwd.getpwnam(UNPRIVILEGED).pw_gid)
    python, python_env = _interpreter(bool(prefix))
    env = {
        **python_env,
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "TMPDIR": tempfile.gettempdir(),
        "PYTHONDONTWRITEBYTECODE": "1",
        "LANG": "C.UTF-8",
        MARKER: marker,
        EXPECT_UID: str(pwd.getpwnam(UNPRIVILEGED).pw_uid if prefix else os.geteuid()),
    }
    argv = [
        *prefix,
        python,
        "-m",
        "pytest",
        str(SCENARIO),
        "-q",
        "-s",
        "-p",
        "no:cacheprovider",
        f"--basetemp={home / 'pytest'}",
    ]
    started = time.monotonic()
    try:
        result = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=400)
        elapsed = time.monotonic() - started
        print(result.stdout[-3000:])
        assert result.returncode == 0, f"{result.stdout[-6000:]}\n{result.stderr[-3000:]}"
        assert "1 passed" in result.stdout
        if prefix:
            assert (
                f"uid={pwd.getpwnam(UNPRIVILEGED).pw_uid}"
                in subprocess.run([*prefix, "id"], capture_output=True, text=True).stdout
            )
        leftovers = _marked_processes(marker)
        assert not leftovers, f"processes left behind: {leftovers}"
        print(f"two meshes as {'nobody' if prefix else 'this user'}: {elapsed:.1f} s, no process left behind")
    finally:
        shutil.rmtree(home, ignore_errors=True)
