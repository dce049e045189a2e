"""Network-namespace tests need root, `ip` and `iptables` (Debian: apt-get install iproute2 iptables)."""
from __future__ import annotations


import pytest
from tests.support.tasks import missing_task_requirements


def missing_requirements() -> str | None:
    return missing_task_requirements("network-namespace tests", need_envoy=False)


@pytest.fixture
def netns_requirements():
    reason = missing_requirements()
    if reason:
        print(f"SKIP netns: {reason}")
        pytest.skip(reason)
