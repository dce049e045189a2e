"""What every test that runs ECS-like tasks (network namespaces, App Mesh iptables, Envoy) needs."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

from appmesh_local.proxy.process import world_executable

SYSTEM_PATH = "/usr/local/bin:/usr/bin:/bin"


def missing_task_requirements(suite: str, need_envoy: bool = True) -> str | None:
    """Why `suite` cannot run on this machine (None when it can): root, ip, setpriv, iptables, Envoy."""
    if os.geteuid() != 0:
        return f"{suite} need root (ip netns, iptables)"
    for tool in ("ip", "setpriv"):
        if shutil.which(tool) is None:
            return f"`{tool}` is not installed (apt-get install iproute2 util-linux)"
    if shutil.which("iptables-legacy") is None and shutil.which("iptables") is None:
        return "`iptables` is not installed (apt-get install iptables)"
    if need_envoy:
        from appmesh_local.testing import envoy_available

        return envoy_available()
    return None


def require_task_capabilities(suite: str, need_envoy: bool = True) -> None:
    """Skip the calling test/fixture, saying why (printed too, so CI logs show it), when `suite` cannot run."""
    reason = missing_task_requirements(suite, need_envoy)
    if reason:
        print(f"SKIP {suite}: {reason}")
        pytest.skip(reason)


def app_python() -> str:
    """A Python the app uid can run: the test's own may live under a 0700 /root (pyenv).

    Prefers the system Python of the same minor version, so copied packages still import.
    """
    if world_executable(Path(sys.executable)):
        return sys.executable
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    found = shutil.which(version, path=SYSTEM_PATH) or shutil.which("python3", path=SYSTEM_PATH)
    if not found:
        pytest.fail("no python3 that a non-root uid can run")
    return found


# Scripts run with `python -c` inside a task (as the app uid), where the project is not importable.
APP_CLIENT = r"""
import json, sys, urllib.request
with urllib.request.urlopen(sys.argv[1], timeout=5) as r:
    print(json.dumps({"status": r.status, "headers": {k.lower(): v for k, v in r.headers.items()}, "body": json.loads(r.read())}))
"""
WAIT_PORT = r"""
import socket, sys, time
for _ in range(200):
    try:
        socket.create_connection(("127.0.0.1", int(sys.argv[1])), 0.2).close(); sys.exit(0)
    except OSError:
        time.sleep(0.02)
sys.exit(1)
"""
