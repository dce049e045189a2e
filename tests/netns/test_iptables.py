"""App Mesh's interception rules as data: same order and arguments as the EC2 guide's script."""

from __future__ import annotations

import pytest

from appmesh_local.netns.iptables import Interception, appmesh_rules, rules_script


def test_rules_follow_the_app_mesh_script():
    rules = [
        " ".join(r)
        for r in appmesh_rules(
            Interception(
                app_ports=(9080, 9081),
                ignore_gid=1337,
                egress_ignored_ports=(2049,),
                egress_ignored_ips=("169.254.169.254", "fd00::1"),
            )
        )
    ]
    assert rules == [
        "-t nat -N APPMESH_INGRESS",
        "-t nat -N APPMESH_EGRESS",
        "-t nat -A APPMESH_EGRESS -m owner --uid-owner 1337 -j RETURN",
        "-t nat -A APPMESH_EGRESS -m owner --gid-owner 1337 -j RETURN",
        "-t nat -A APPMESH_EGRESS -p tcp -m multiport --dports 2049 -j RETURN",
        "-t nat -A APPMESH_EGRESS -p tcp -m multiport --dports 22 -j RETURN",
        "-t nat -A APPMESH_EGRESS -p tcp -d 169.254.169.254 -j RETURN",
        "-t nat -A APPMESH_EGRESS -p tcp -j REDIRECT --to 15001",
        "-t nat -A OUTPUT -p tcp -m addrtype ! --dst-type LOCAL -j APPMESH_EGRESS",
        "-t nat -A APPMESH_INGRESS -p tcp -m multiport --dports 9080,9081 -j REDIRECT --to-port 15000",
        "-t nat -A PREROUTING -p tcp -m addrtype ! --src-type LOCAL -j APPMESH_INGRESS",
    ]


def test_no_app_ports_means_no_ingress_chain():
    rules = [" ".join(r) for r in appmesh_rules(Interception())]
    assert not any("INGRESS" in r or "PREROUTING" in r for r in rules)


def test_an_ignored_id_is_required():
    with pytest.raises(ValueError):
        appmesh_rules(Interception(ignore_uid=None))


def test_script_quotes_the_negation():
    script = rules_script(Interception(app_ports=(80,)), iptables="iptables-legacy")
    assert script.startswith("#!/bin/sh\n") and "set -e" in script
    assert "iptables-legacy -t nat -A OUTPUT -p tcp -m addrtype '!' --dst-type LOCAL -j APPMESH_EGRESS" in script


def test_tasks_stay_in_the_documentation_range():
    from appmesh_local.netns.task import Bridge, Task

    with pytest.raises(ValueError):
        Bridge(address="10.0.0.1")
    with pytest.raises(ValueError):
        Task("a", "192.168.1.5", Bridge())
    with pytest.raises(ValueError):
        Task("much-too-long-name", "198.51.100.5", Bridge())
    small = Bridge("aml-br3", "198.51.100.49", 28)
    assert small.host(1) == "198.51.100.50"
    with pytest.raises(ValueError):
        Task("a", "198.51.100.5", small)  # outside the bridge's /28
    with pytest.raises(ValueError):
        small.host(14)
    task = Task("web", "198.51.100.5", Bridge())
    assert task.exec_args(1337) == [
        "ip",
        "netns",
        "exec",
        "aml-web",
        "setpriv",
        "--reuid=1337",
        "--regid=1337",
        "--clear-groups",
        "--pdeathsig=KILL",
    ]
