"""The app beside a host-mode proxy: what it is told, how it is started and stopped, when it listens.

Host mode (docs/host-mode.md) hands the app its addresses in its environment; the app runs under
a supervisor like its Envoy, so neither outlives whoever started them.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from typing import IO, Any, Callable, Mapping, Sequence

from appmesh_local.ir import names
from appmesh_local.ir.placement import HostPlacement
from appmesh_local.proxy.supervised import SupervisedProcess

# What the app is told (README "Host mode"): where to listen, where its backends are.
ENV_ADDRESS = "APPMESH_LOCAL_ADDRESS"
ENV_APP_HOST = "APPMESH_LOCAL_APP_HOST"
ENV_APP_PORTS = "APPMESH_LOCAL_APP_PORTS"
ENV_EGRESS_HOST = "APPMESH_LOCAL_EGRESS_HOST"
ENV_ENVOY_ADMIN = "APPMESH_LOCAL_ENVOY_ADMIN"


def app_environment(
    placement: HostPlacement,
    app_ports: Sequence[int],
    admin_url: str | None = None,
    base: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The app's environment: `base` (default: ours) plus where to listen and how to reach backends.

    HTTP/1.1 clients that honour HTTP_PROXY (curl, requests, urllib, Go, Java with it set) and
    gRPC (grpc-core reads http_proxy and tunnels with CONNECT) need no change; other clients
    connect to `<egress host>:<backend port>` with Host (or :authority) `<service>:<port>`.
    """
    env = dict(os.environ if base is None else base)
    proxy = f"http://{placement.egress_address}:{names.HTTP_PROXY_PORT}"
    bypass = [entry for entry in env.get("NO_PROXY", env.get("no_proxy", "")).split(",") if entry.strip()]
    for host in ("localhost", "127.0.0.1", "::1", placement.address, placement.app_address):
        if host not in bypass:
            bypass.append(host)
    env.update(
        {
            ENV_ADDRESS: placement.address,
            ENV_APP_HOST: placement.app_address,
            ENV_APP_PORTS: ",".join(str(p) for p in app_ports),
            ENV_EGRESS_HOST: placement.egress_address,
            "HTTP_PROXY": proxy,
            "http_proxy": proxy,
            "grpc_proxy": proxy,  # gRPC's C core reads it first (grpc/grpc doc/environment_variables.md)
            "NO_PROXY": ",".join(bypass),
            "no_proxy": ",".join(bypass),
        }
    )
    if len(app_ports) == 1:
        env["PORT"] = str(app_ports[0])
    if admin_url:
        env[ENV_ENVOY_ADMIN] = admin_url
    return env


def start_app(
    argv: Sequence[str],
    env: Mapping[str, str],
    *,
    cwd: str | os.PathLike[str] | None = None,
    log: IO[Any] | None = None,
    remove: Sequence[str | os.PathLike[str]] = (),
) -> SupervisedProcess:
    """Start the app under a supervisor (proxy/supervised.py), as Envoy is: it leads a process group of
    its own, and if this process dies without stopping it (SIGKILL included), the supervisor does, and
    removes the `remove` paths (the app's work directory)."""
    return SupervisedProcess(
        list(argv),
        env=env,
        cwd=cwd,
        stdout=log,
        stderr=subprocess.STDOUT if log is not None else None,
        remove=remove,
    )


def stop_app(proc: SupervisedProcess, timeout: float = 10.0) -> int | None:
    """SIGTERM the app's process group, SIGKILL after `timeout`; its exit status."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                pass
    proc.release()
    return proc.returncode


def wait_listening(
    address: str, ports: Sequence[int], timeout: float, alive: Callable[[], bool] = lambda: True
) -> list[int]:
    """Wait until something accepts connections on `address` at every port; the ports still closed at the end."""
    deadline = time.monotonic() + timeout
    waiting = list(ports)
    while waiting and alive():
        still = []
        for port in waiting:
            try:
                socket.create_connection((address, port), timeout=0.5).close()
            except OSError:
                still.append(port)
        waiting = still
        if not waiting or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    return waiting


# ---- Envoy's listeners ---------------------------------------------------------------------------
