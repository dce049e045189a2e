"""Who made each task namespace and bridge, so what a dead owner left behind can be reclaimed.

A process killed with SIGKILL runs no clean-up: its network namespace (and the NAT rules
inside it, which live and die with the namespace), the host end of its veth, its
`/etc/netns/<ns>` hosts file and a bridge it created stay behind, and the same task cannot
start again. Each `Task.up()` / `Bridge.up()` that creates something therefore writes a
record naming its owner, in the private directory (root's, 0700):

    <private>/tasks/<netns>.json     {"kind": "task", "netns", "veth", "hosts_dir", "owner": {...}}
    <private>/tasks/<bridge>.json    {"kind": "bridge", "bridge", "owner": {...}}

The owner is a pid plus its start time and the boot id, so a recycled pid or a reboot is
never taken for the owner. `reclaim_dead()` tears down what every dead owner left and is
run when a task starts. A namespace without a record is never touched: another tool (or
another checkout's older code) may own it.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from appmesh_local.proxy.private import private_dir, private_subdir

BOOT_ID = Path("/proc/sys/kernel/random/boot_id")
Runner = Callable[..., Any]  # netns.task.sh: (*argv, check=bool) -> CompletedProcess


@dataclass(frozen=True)
class Owner:
    """A process, identified beyond its pid: (pid, start time in clock ticks since boot, boot id)."""

    pid: int
    start: int
    boot: str

    @classmethod
    def me(cls) -> Owner:
        pid = os.getpid()
        return cls(pid, _start_time(pid) or 0, _boot_id())

    def alive(self) -> bool:
        return self.boot == _boot_id() and _start_time(self.pid) == self.start

    def as_dict(self) -> dict[str, Any]:
        return {"pid": self.pid, "start": self.start, "boot": self.boot}


def _start_time(pid: int) -> int | None:
    """Field 22 of /proc/<pid>/stat; None when the process is gone or a zombie (it has exited)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2 :].split()  # after "pid (comm) ": comm may hold spaces
    if fields[0] == "Z":
        return None
    return int(fields[19])


def _boot_id() -> str:
    try:
        return BOOT_ID.read_text().strip()
    except OSError:
        return ""


def records_dir() -> Path:
    return private_subdir(private_dir() / "tasks", 0o700)


def record_path(name: str) -> Path:
    return records_dir() / f"{name}.json"


def write_record(name: str, kind: str, **fields: Any) -> None:
    """Record that this process owns `name` (a namespace or a bridge); atomic, 0600."""
    path = record_path(name)
    partial = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump({"kind": kind, "name": name, **fields, "owner": Owner.me().as_dict()}, out)
    os.replace(partial, path)


def drop_record(name: str) -> None:
    record_path(name).unlink(missing_ok=True)


def read_record(name: str) -> dict[str, Any] | None:
    try:
        return json.loads(record_path(name).read_text())
    except (OSError, ValueError):
        return None


def owner_of(record: dict[str, Any]) -> Owner | None:
    try:
        raw = record["owner"]
        return Owner(int(raw["pid"]), int(raw["start"]), str(raw["boot"]))
    except (KeyError, TypeError, ValueError):
        return None


def is_orphaned(record: dict[str, Any]) -> bool:
    owner = owner_of(record)
    return owner is None or not owner.alive()


def reclaim_task(record: dict[str, Any], sh: Runner) -> None:
    """Tear down one task: its processes, namespace (and so its NAT rules and veth), hosts file."""
    netns = str(record.get("netns", ""))
    if netns.startswith("aml-"):
        pids = sh("ip", "netns", "pids", netns, check=False).stdout.split()
        for pid in pids:
            try:
                os.kill(int(pid), signal.SIGKILL)  # its owner and supervisors are gone: nothing to ask nicely
            except (ProcessLookupError, ValueError):
                pass
        sh("ip", "netns", "del", netns, check=False)
    veth = str(record.get("veth", ""))
    if veth.startswith("aml-"):
        sh("ip", "link", "del", veth, check=False)
    hosts_dir = Path(str(record.get("hosts_dir", "")))
    if hosts_dir.parent == Path("/etc/netns") and hosts_dir.name.startswith("aml-"):
        shutil.rmtree(hosts_dir, ignore_errors=True)


def bridge_in_use(name: str, sh: Runner) -> bool:
    return bool(sh("ip", "-o", "link", "show", "master", name, check=False).stdout.strip())


def reclaim_dead(sh: Runner) -> list[str]:
    """Reclaim everything whose recorded owner is dead; one line per thing reclaimed."""
    done: list[str] = []
    records = []
    for path in sorted(records_dir().glob("*.json")):
        try:
            records.append(json.loads(path.read_text()))
        except (OSError, ValueError):
            path.unlink(missing_ok=True)  # half-written by a process killed mid-write
    for record in sorted(records, key=lambda r: r.get("kind") != "task"):  # tasks before bridges
        if not is_orphaned(record):
            continue
        owner = owner_of(record)
        pid = owner.pid if owner else "?"
        name = str(record.get("name", ""))
        if record.get("kind") == "task":
            reclaim_task(record, sh)
            done.append(f"task namespace {name} (its owner, pid {pid}, is gone)")
        elif record.get("kind") == "bridge":
            if bridge_in_use(name, sh):
                continue  # tasks still hang on it; reclaimed once the last one is gone
            if name.startswith("aml-br"):
                sh("ip", "link", "del", name, check=False)
            done.append(f"bridge {name} (its owner, pid {pid}, is gone)")
        drop_record(name)
    return done
