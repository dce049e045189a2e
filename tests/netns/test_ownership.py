"""Records of who made each task namespace and bridge, and reclaiming what dead owners left."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from appmesh_local.netns import ownership
from appmesh_local.netns.task import Bridge, sh
from tests.support.tasks import require_task_capabilities

pytestmark = pytest.mark.timeout(60)


def dead_owner() -> dict:
    """The identity of a process that has exited."""
    child = subprocess.Popen([sys.executable, "-c", "import os; print(os.getpid())"], stdout=subprocess.PIPE)
    pid = int(child.communicate()[0])
    me = ownership.Owner.me()
    return {"pid": pid, "start": 1, "boot": me.boot}


def test_owner_identity_is_pid_start_time_and_boot():
    me = ownership.Owner.me()
    assert me.alive()
    assert not ownership.Owner(me.pid, me.start + 1, me.boot).alive()  # same pid, another process
    assert not ownership.Owner(me.pid, me.start, "another-boot").alive()
    assert not ownership.Owner(**dead_owner()).alive()


@pytest.fixture
def netns_root():
    require_task_capabilities("ownership records", need_envoy=False)


def netns_list() -> list[str]:
    return sh("ip", "netns", "list").stdout.split()


def test_reclaim_removes_what_a_dead_owner_left_and_nothing_else(netns_root):
    dead, alive = f"aml-rd{os.getpid() % 10000}", f"aml-ra{os.getpid() % 10000}"
    orphan_without_record = f"aml-rn{os.getpid() % 10000}"
    for netns in (dead, alive, orphan_without_record):
        sh("ip", "netns", "add", netns)
    sleeper = subprocess.Popen(["ip", "netns", "exec", dead, "sleep", "60"])  # a process left in the namespace
    try:
        ownership.write_record(dead, "task", netns=dead, veth=f"{dead}-h", hosts_dir=f"/etc/netns/{dead}")
        record = ownership.read_record(dead)
        record["owner"] = dead_owner()
        ownership.record_path(dead).write_text(json.dumps(record))
        ownership.write_record(alive, "task", netns=alive, veth=f"{alive}-h", hosts_dir=f"/etc/netns/{alive}")

        reclaimed = ownership.reclaim_dead(sh)

        assert any(dead in line for line in reclaimed) and not any(alive in line for line in reclaimed)
        assert dead not in netns_list() and ownership.read_record(dead) is None
        assert sleeper.wait(10) == -9  # killed: its owner and supervisors are gone
        assert alive in netns_list() and ownership.read_record(alive) is not None  # its owner (us) lives
        assert orphan_without_record in netns_list()  # no record: someone else's, never touched
    finally:
        if sleeper.poll() is None:
            sleeper.kill()
        for netns in (dead, alive, orphan_without_record):
            sh("ip", "netns", "del", netns, check=False)
            ownership.drop_record(netns)


def test_a_bridge_is_reclaimed_only_when_its_creator_is_gone_and_nothing_uses_it(netns_root):
    bridge = Bridge.free_slot(os.getpid() + 3).up()
    try:
        assert bridge.created and ownership.read_record(bridge.name)["kind"] == "bridge"
        assert not any(bridge.name in line for line in ownership.reclaim_dead(sh))  # its creator (us) lives
        record = ownership.read_record(bridge.name)
        record["owner"] = dead_owner()
        ownership.record_path(bridge.name).write_text(json.dumps(record))
        veth = f"aml-rb{os.getpid() % 10000}"
        sh("ip", "link", "add", veth, "type", "veth", "peer", "name", f"{veth}p")
        sh("ip", "link", "set", veth, "master", bridge.name)
        assert not any(bridge.name in line for line in ownership.reclaim_dead(sh))  # still in use
        assert bridge.exists()
        sh("ip", "link", "del", veth)
        assert any(bridge.name in line for line in ownership.reclaim_dead(sh))
        assert not bridge.exists() and ownership.read_record(bridge.name) is None
        bridge.created = False
    finally:
        bridge.down()
        sh("ip", "link", "del", bridge.name, check=False)
        ownership.drop_record(bridge.name)
