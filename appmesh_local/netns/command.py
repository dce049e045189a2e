"""`appmesh-local task`: one app + its Envoy sidecar in a network namespace, as an ECS task with App Mesh.

The task sits on the bridge `aml-br0` (198.51.100.1/24), App Mesh's iptables rules
send its inbound traffic on the app ports to Envoy's 15000 and its outbound traffic
to 15001, Envoy runs as uid 1337 and reaches xDS over the server's unix socket
(`serve --xds-socket`; namespaces share the filesystem), and the app runs as uid
1001. Everything is removed when the app exits or on Ctrl-C / SIGTERM / SIGHUP. If the
command is killed outright (SIGKILL), its supervisors stop Envoy and the app at once, and
the next `task` start reclaims the namespace, veth and bridge it left (netns/ownership.py).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Mapping, Sequence, TextIO

from appmesh_local.netns import ownership
from appmesh_local.netns.iptables import Interception
from appmesh_local.netns.task import APP_UID, ENVOY_UID, Bridge, Task, sh
from appmesh_local.proxy.bootstrap import render_bootstrap, with_xds_token
from appmesh_local.proxy.image_env import ImageEnv, ImageEnvError, proxy_identity
from appmesh_local.proxy.private import UnsafeDirectory
from appmesh_local.proxy.signals import interrupt_on_stop_signals, shielded
from appmesh_local.settings import DEFAULT_XDS_SOCKET
from appmesh_local.store.records import VIRTUAL_NODE
from appmesh_local.xds.auth import TokenKey

BRIDGE_NAME = "aml-br0"
BRIDGE_ADDRESS = "198.51.100.1"
ADMIN_PORT = 9901


class TaskCommandError(Exception):
    """A problem reported to the user as one line (exit status 1)."""


def missing_requirements() -> str | None:
    """Why tasks cannot run here (None when they can): root, ip, setpriv, iptables, Envoy."""
    if os.geteuid() != 0:
        return "`task` needs root (network namespaces, iptables)"
    for tool, package in (("ip", "iproute2"), ("setpriv", "util-linux")):
        if shutil.which(tool) is None:
            return f"`{tool}` is not installed (apt-get install {package})"
    if "--pdeathsig" not in subprocess.run(["setpriv", "--help"], capture_output=True, text=True).stdout:
        return "`setpriv` is too old (no --pdeathsig: util-linux 2.33 or later needed)"
    if shutil.which("iptables-legacy") is None and shutil.which("iptables") is None:
        return "`iptables` is not installed (apt-get install iptables)"
    try:
        from appmesh_local.proxy.process import envoy_binary

        envoy_binary()
    except FileNotFoundError as error:
        return str(error)
    return None


def default_task_name(virtual_node: str) -> str:
    """Task names also name the veth (≤ 9 letters/digits/dashes): the virtual node's, shortened."""
    name = re.sub(r"[^A-Za-z0-9-]", "", virtual_node)[:9].strip("-")
    if not name:
        raise TaskCommandError(f"cannot derive a task name from {virtual_node!r}: give --name")
    return name


def parse_hosts(entries: Sequence[str]) -> dict[str, str]:
    """NAME=ADDR pairs (the task's /etc/hosts, e.g. virtual service names) as a dict."""
    hosts: dict[str, str] = {}
    for entry in entries:
        hostname, sep, address = entry.partition("=")
        if not sep or not hostname or not address:
            raise TaskCommandError(f"--host takes NAME=ADDR, not {entry!r}")
        hosts[hostname] = address
    return hosts


def run_task(
    mesh: str | None,
    virtual_node: str | None,
    address: str,
    app_ports: Sequence[int],
    command: Sequence[str],
    *,
    hosts: Mapping[str, str] | None = None,
    xds_socket: str = DEFAULT_XDS_SOCKET,
    name: str | None = None,
    account: str | None = None,
    region: str | None = None,
    admin_port: int | None = None,
    envoy_log_level: str | None = None,
    ready_timeout: float = 60.0,
    out: TextIO = sys.stdout,
    xds_auth_key: str | Path | None = None,
    image: ImageEnv | None = None,
) -> int:
    """Run the task until the app exits (its status is returned) or SIGINT/SIGTERM (0); always clean up.

    `image` holds the App Mesh Envoy image's variables (the sidecar's environment block):
    APPMESH_RESOURCE_ARN may name the node, APPMESH_XDS_ENDPOINT replaces the xDS socket,
    ENVOY_ADMIN_ACCESS_PORT / ENVOY_LOG_LEVEL / tracing / stats variables reach the bootstrap.
    As in App Mesh's task, Envoy's admin binds 0.0.0.0 inside the task's own namespace.
    Raises TaskCommandError for problems the user must fix (reported as one line by the CLI).
    """
    image = image or ImageEnv()
    try:
        identity = proxy_identity(image, mesh, "virtualNode" if virtual_node or mesh else None, virtual_node)
    except ImageEnvError as error:
        raise TaskCommandError(str(error)) from None
    if identity.kind != "virtualNode":
        raise TaskCommandError(f"a task runs a virtual node, and APPMESH_RESOURCE_ARN names a {identity.kind}")
    if image.admin_uds:
        raise TaskCommandError("ENVOY_ADMIN_MODE=uds is not supported by `task` (it polls the admin over TCP)")
    mesh, virtual_node = identity.mesh, identity.name
    account = account or identity.account
    admin_port = admin_port if admin_port is not None else image.admin_port or ADMIN_PORT
    if not command:
        raise TaskCommandError("give the app's command after `--`")
    if not app_ports:
        raise TaskCommandError("give at least one --app-port")
    missing = missing_requirements()
    if missing:
        raise TaskCommandError(missing)
    name = name or default_task_name(virtual_node)
    blocked = [str(d) for d in Path(xds_socket).resolve().parents if d.exists() and not d.stat().st_mode & 0o001]
    on_socket = image.xds_endpoint is None  # APPMESH_XDS_ENDPOINT: host:port instead of the socket
    if on_socket and blocked:
        raise TaskCommandError(f"Envoy (uid 1337) cannot reach {xds_socket}: {blocked[0]} is not o+x")
    refused = socket_refuses_envoy(xds_socket) if on_socket else None
    if refused:
        raise TaskCommandError(refused)
    if on_socket and not os.path.exists(xds_socket):
        print(
            f"appmesh-local: warning: no xDS socket at {xds_socket} yet; start "
            f"`appmesh-local serve --xds-socket {xds_socket}` (Envoy waits for it)",
            file=sys.stderr,
        )
    try:
        bridge = Bridge(BRIDGE_NAME, BRIDGE_ADDRESS)
        task = Task(name, address, bridge, hosts=hosts, interception=Interception(app_ports=tuple(app_ports)))
    except ValueError as error:
        raise TaskCommandError(str(error)) from None
    if address == bridge.address:
        raise TaskCommandError(f"{address} is the bridge's own address")

    try:
        for line in ownership.reclaim_dead(sh):
            print(f"appmesh-local: reclaimed {line}", file=sys.stderr)
    except UnsafeDirectory as error:
        raise TaskCommandError(str(error)) from None
    with interrupt_on_stop_signals():
        try:
            bridge.up()
            try:
                task.up()
            except (RuntimeError, UnsafeDirectory) as error:
                raise TaskCommandError(f"cannot create task {name}: {error}") from None
            xds_host, xds_port = image.xds_endpoint or ("127.0.0.1", 0)
            bootstrap = render_bootstrap(
                mesh,
                VIRTUAL_NODE,
                virtual_node,
                xds_host,
                xds_port,
                admin_port=admin_port,
                admin_address="0.0.0.0",  # the task's namespace: App Mesh's 0.0.0.0:9901, reached on the task address
                account=account,
                region=region,
                node_id=identity.node_id,
                xds_socket_path=xds_socket if on_socket else None,
                image=image,
            )
            if xds_auth_key is not None:
                with_xds_token(bootstrap, TokenKey.load(Path(xds_auth_key)))
            envoy = task.envoy(
                bootstrap, log_level=envoy_log_level or image.log_level or "info", concurrency=image.concurrency or 1
            )
            try:
                envoy.start(timeout=ready_timeout)  # ECS starts the app once Envoy is healthy (LIVE)
            except (TimeoutError, RuntimeError) as error:
                tail = envoy.log_text()[-2000:].strip()
                raise TaskCommandError(
                    f"Envoy for {virtual_node} did not become LIVE ({error}); is "
                    f"`appmesh-local serve --xds-socket {xds_socket}` running and does "
                    f"virtual node {virtual_node} exist in mesh {mesh}?" + (f"\n{tail}" if tail else "")
                ) from None
            try:
                app = task.popen(list(command), uid=APP_UID)
            except OSError as error:
                raise TaskCommandError(f"cannot start the app of task {name}: {error}") from None
            print(
                f"appmesh-local: task {name} up: {mesh}/{virtual_node} at {address}, app ports "
                f"{','.join(map(str, app_ports))}, Envoy admin http://{address}:{admin_port} "
                f"(pids: Envoy {envoy.pid}, app {app.pid}; Envoy's files in {envoy.workdir}; Ctrl-C to stop)",
                file=out,
                flush=True,
            )
            while True:
                status = app.poll()
                if status is not None:
                    print(f"appmesh-local: task {name}: the app exited with status {status}", file=out, flush=True)
                    return status
                if not envoy.alive():
                    raise TaskCommandError(f"Envoy of task {name} exited:\n{envoy.log_text()[-2000:].strip()}")
                time.sleep(0.2)
        except KeyboardInterrupt:
            print(f"appmesh-local: task {name}: stopping", file=out, flush=True)
            return 0
        finally:
            with shielded():  # a second Ctrl-C or SIGTERM must not interrupt the clean-up
                task.down()
                _remove_bridge_if_unused(bridge)
                ownership.reclaim_dead(sh)  # e.g. a bridge whose creator has exited since


def socket_refuses_envoy(path: str) -> str | None:
    """Why Envoy (uid and gid 1337, no other groups) could not connect to the xDS socket, if so.

    The server makes its socket 0600, or 0660 with `serve --xds-socket-group`: a task's Envoy
    needs the group to be 1337 (or the socket to be its own).
    """
    try:
        info = os.stat(path)
    except OSError:
        return None  # not there yet: Envoy waits for it, and the warning below says so
    mode = info.st_mode
    if (info.st_uid == ENVOY_UID and mode & 0o200) or (info.st_gid == ENVOY_UID and mode & 0o020) or mode & 0o002:
        return None
    return (
        f"Envoy (uid {ENVOY_UID}) may not connect to {path} (mode {mode & 0o777:04o}, owner "
        f"{info.st_uid}:{info.st_gid}); serve it with `--xds-socket-group {ENVOY_UID}`"
    )


def _remove_bridge_if_unused(bridge: Bridge) -> None:
    """Delete the bridge only if this run created it and no other task's veth is still attached.

    If one is, the bridge stays, and so does its record naming this (soon dead) process: the
    first task to start or stop after the last user has gone reclaims it.
    """
    if bridge.created and ownership.bridge_in_use(bridge.name, sh):
        bridge.created = False
    bridge.down()
