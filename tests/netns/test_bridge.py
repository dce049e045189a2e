"""The task bridge keeps one MAC address while tasks join and leave it.

A Linux bridge without an assigned address takes the lowest MAC of its ports. When the task whose
veth lent it leaves, the others still have that MAC in their ARP caches, so for seconds their
datagrams to the host (an X-Ray daemon or StatsD agent on the bridge address) go to a MAC nobody
answers to. The X-Ray test of tests/dataplane lost one Envoy's segments about one run in twenty
that way.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from appmesh_local.netns.task import Bridge, Task, sh
from tests.support.tasks import app_python

pytestmark = [pytest.mark.timeout(90), pytest.mark.usefixtures("netns_requirements")]
SEND = "import socket, sys; socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b'ping', (sys.argv[1], int(sys.argv[2])))"
LOWEST_MAC = "02:00:00:00:00:01"  # lower than any MAC the kernel picks at random for a veth


def mac_of(link: str) -> str:
    return Path(f"/sys/class/net/{link}/address").read_text().strip()


def test_a_task_reaches_the_host_at_once_when_another_task_leaves_the_bridge():
    bridge = Bridge.free_slot(os.getpid()).up()
    slot = bridge.name.removeprefix("aml-br")
    tasks: list[Task] = []
    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        receiver.bind((bridge.address, 0))
        receiver.settimeout(1.0)  # far below the ARP cache's seconds, far above a datagram's delay
        port = str(receiver.getsockname()[1])
        staying = Task(f"mac{slot}a", bridge.host(1), bridge).up()
        tasks.append(staying)
        leaving = Task(f"mac{slot}b", bridge.host(2), bridge).up()
        tasks.append(leaving)
        # The leaving task's veth has the lowest MAC on the bridge: an unassigned bridge address is that one.
        sh("ip", "link", "set", "dev", leaving.veth_host, "address", LOWEST_MAC)
        assert staying.run([app_python(), "-c", SEND, bridge.address, port]).returncode == 0
        assert receiver.recv(64) == b"ping"  # the staying task now caches the bridge's MAC

        leaving.down()
        tasks.remove(leaving)
        assert staying.run([app_python(), "-c", SEND, bridge.address, port]).returncode == 0
        try:
            assert receiver.recv(64) == b"ping"
        except TimeoutError:
            pytest.fail("a datagram to the host was lost after another task left the bridge")
        assert mac_of(bridge.name) == bridge.mac
    finally:
        receiver.close()
        for task in tasks:
            task.down()
        bridge.down()
    assert not bridge.exists()


def test_a_bridge_left_by_an_older_version_gets_its_mac_pinned():
    bridge = Bridge.free_slot(os.getpid() + 1)
    sh("ip", "link", "add", "name", bridge.name, "type", "bridge")  # as releases before this fix made it
    try:
        assert Path(f"/sys/class/net/{bridge.name}/addr_assign_type").read_text().strip() != "3"
        bridge.up()
        assert mac_of(bridge.name) == bridge.mac
        assert Path(f"/sys/class/net/{bridge.name}/addr_assign_type").read_text().strip() == "3"
    finally:
        sh("ip", "link", "del", bridge.name, check=False)


def test_bridge_macs_are_locally_administered_unicast_and_differ_by_name():
    first, second = Bridge("aml-br1", "198.51.100.17", 28), Bridge("aml-br2", "198.51.100.33", 28)
    assert first.mac != second.mac
    for mac in (first.mac, second.mac):
        octet = int(mac.split(":")[0], 16)
        assert octet & 0b10 and not octet & 0b1  # locally administered, not multicast
