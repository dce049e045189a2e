"""SupervisedProcess: a child that cannot outlive its owner, and files that go with it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from appmesh_local.proxy.supervised import SupervisedProcess
from tests.support.processes import Seen, survivors

pytestmark = pytest.mark.timeout(60)

OWNER = r"""
import json, sys, tempfile, threading, time
from appmesh_local.proxy.supervised import SupervisedProcess

workdir = tempfile.mkdtemp(prefix="aml-owner-")
made = {}
# Started from a thread that ends at once: a parent-death signal alone would fire here.
starter = threading.Thread(target=lambda: made.update(p=SupervisedProcess(["sleep", "60"], remove=[workdir])))
starter.start()
starter.join()
print(json.dumps({"pid": made["p"].pid, "supervisor": made["p"].supervisor_pid, "workdir": workdir}), flush=True)
time.sleep(60)
"""


def start_owner() -> tuple[subprocess.Popen, dict]:
    owner = subprocess.Popen([sys.executable, "-c", OWNER], stdout=subprocess.PIPE, text=True)
    assert owner.stdout is not None
    info = json.loads(owner.stdout.readline())
    return owner, info


def test_command_outlives_the_thread_that_started_it_but_not_the_owner_killed_with_sigkill():
    owner, info = start_owner()
    try:
        child, supervisor = Seen.of(info["pid"]), Seen.of(info["supervisor"])
        time.sleep(0.3)
        assert child.running() and Path(info["workdir"]).is_dir()  # the starting thread has ended long ago
        owner.kill()
        owner.wait(10)
        assert survivors([child, supervisor], [Path(info["workdir"])]) == []
    finally:
        if owner.poll() is None:
            owner.kill()
            owner.wait(10)


def test_killing_the_supervisor_kills_the_command(tmp_path):
    proc = SupervisedProcess(["sleep", "60"], remove=[tmp_path])
    child = Seen.of(proc.pid)
    os.kill(proc.supervisor_pid, signal.SIGKILL)
    assert proc.wait(10) == -signal.SIGKILL  # the kernel's parent-death signal
    assert survivors([child]) == []
    proc.release()


def test_exit_status_is_reported_and_release_leaves_the_files_to_the_owner(tmp_path):
    proc = SupervisedProcess(["sh", "-c", "exit 3"], remove=[tmp_path])
    supervisor = Seen.of(proc.supervisor_pid)
    assert proc.wait(10) == 3
    assert supervisor.running()  # still guarding the files until the owner says it is done
    proc.release()
    assert tmp_path.is_dir()
    assert survivors([supervisor]) == []


def test_terminate_reaches_the_whole_process_group(tmp_path):
    pid_file = tmp_path / "grandchild"
    proc = SupervisedProcess(["sh", "-c", f"sleep 60 & echo $! > {pid_file}; wait"])
    deadline = time.monotonic() + 10
    while not pid_file.exists() or not pid_file.read_text().strip():
        assert time.monotonic() < deadline
        time.sleep(0.02)
    grandchild = Seen.of(int(pid_file.read_text()))
    proc.terminate()
    assert proc.wait(10) == -signal.SIGTERM
    proc.release()
    assert survivors([grandchild]) == []


def test_a_stop_signal_to_the_supervisor_stops_the_command_and_removes_the_files():
    workdir = Path(tempfile.mkdtemp(prefix="aml-sup-"))
    proc = SupervisedProcess(["sleep", "60"], remove=[workdir])
    child = Seen.of(proc.pid)
    os.kill(proc.supervisor_pid, signal.SIGHUP)
    assert proc.wait(10) == -signal.SIGTERM
    assert survivors([child], [workdir]) == []
    proc.release()


def test_a_command_that_cannot_start_is_an_oserror():
    with pytest.raises(OSError, match="no-such-program"):
        SupervisedProcess(["/nonexistent/no-such-program"])


def test_context_manager_stops_the_command():
    with SupervisedProcess(["sleep", "60"]) as proc:
        child = Seen.of(proc.pid)
        assert proc.poll() is None
    assert proc.returncode == -signal.SIGTERM
    assert survivors([child]) == []
