"""Network-namespace tests need root, `ip` and `iptables` (Debian: apt-get install iproute2 iptables)."""
from __future__ import annotations

import os
import shutil

import pytest


def missing_requirements() -> str | None:
    if os.geteuid() != 0:
        return "network-namespace tests need root (ip netns, iptables)"
    for tool in ("ip", "setpriv"):
        if shutil.which(tool) is None:
            return f"`{tool}` is not installed (apt-get install iproute2 util-linux)"
    if shutil.which("iptables-legacy") is None and shutil.which("iptables") is None:
        return "`iptables` is not installed (apt-get install iptables)"
    return None


@pytest.fixture
def netns_requirements():
    reason = missing_requirements()
    if reason:
        print(f"SKIP netns: {reason}")
        pytest.skip(reason)
