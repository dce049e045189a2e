"""Network-namespace tests need root, `ip` and `iptables` (Debian: apt-get install iproute2 iptables)."""

from __future__ import annotations

import pytest

from tests.support.tasks import require_task_capabilities


@pytest.fixture
def netns_requirements():
    require_task_capabilities("network-namespace tests", need_envoy=False)
