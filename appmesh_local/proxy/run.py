"""`appmesh-local run`: an app and its Envoy sidecar in host mode, without root or network namespaces.

The proxy takes a block of loopback addresses of its own (proxy/host.py): its Envoy listens on
the task address (ingress) and the egress address (backends, and an HTTP proxy on 15001), the
app on the app address; the app learns all of it from its environment (README "Host mode").
Envoy starts first and must have every listener bound, as ECS started the app once Envoy was
healthy; a listener that cannot bind (a taken address) fails the run at once with Envoy's
reason. Both stop together: when the app exits (its status is the command's), on Ctrl-C,
SIGTERM or SIGHUP, or when Envoy dies.
"""

from __future__ import annotations

import os
import shlex
import sys
import time
from pathlib import Path
from typing import Sequence, TextIO

from appmesh_local.ir.placement import HostPlacement
from appmesh_local.proxy.app import (
    ENV_ADDRESS,
    ENV_APP_HOST,
    ENV_APP_PORTS,
    ENV_EGRESS_HOST,
    ENV_ENVOY_ADMIN,
    app_environment,
    start_app,
    stop_app,
    wait_listening,
)
from appmesh_local.proxy.bootstrap import render_bootstrap, with_xds_token
from appmesh_local.proxy.host import HostModeError, lease
from appmesh_local.proxy.listeners import ingress_ports, listener_errors, listeners_dump
from appmesh_local.proxy.process import EnvoyProcess
from appmesh_local.proxy.signals import interrupt_on_stop_signals, shielded
from appmesh_local.proxy.supervised import SupervisedProcess
from appmesh_local.xds.auth import TokenKey

ADMIN_PORT = 9901
RECONNECT_BASE_MS = 250  # back quickly after a server restart: the proxy is its node's instance again
LISTEN_WARNING_S = 10.0  # an app not listening by then probably binds the wrong address
SHOWN_VARIABLES = (ENV_ADDRESS, ENV_APP_HOST, ENV_APP_PORTS, "PORT", ENV_EGRESS_HOST, "HTTP_PROXY", ENV_ENVOY_ADMIN)


class RunError(Exception):
    """A problem reported to the user as one paragraph (exit status 1)."""


def run_command(
    mesh: str,
    kind: str,
    name: str,
    command: Sequence[str] = (),
    *,
    address: str | None = None,
    admin_port: int = ADMIN_PORT,
    xds_host: str = "127.0.0.1",
    xds_port: int = 4601,
    xds_socket_path: str | None = None,
    account: str | None = None,
    region: str | None = None,
    envoy_log_level: str = "info",
    ready_timeout: float = 60.0,
    xds_auth_key: str | os.PathLike[str] | None = None,
    xds_sigv4: bool = False,
    out: TextIO = sys.stdout,
) -> int:
    """Run until the app exits (its status), or a stop signal (0), or Envoy dies (RunError); always clean up.

    Without `command` only the Envoy runs (a gateway, or a sidecar for an app started elsewhere
    with the printed environment). `xds_auth_key` (the server's token key file, `serve --xds-auth`)
    puts the proxy's token in the bootstrap; `xds_sigv4` has Envoy sign its xDS requests instead.
    """
    if kind == "virtualGateway" and command:
        raise RunError("a virtual gateway has no app: leave out the command after `--`")
    token_key = TokenKey.load(Path(xds_auth_key)) if xds_auth_key is not None else None
    try:
        held = lease(address)
    except (HostModeError, ValueError) as error:
        raise RunError(str(error)) from None
    placement = held.placement
    bootstrap = render_bootstrap(
        mesh,
        kind,
        name,
        xds_host,
        xds_port,
        admin_port=admin_port,
        admin_address=placement.address,
        account=account,
        region=region,
        reconnect_base_ms=RECONNECT_BASE_MS,
        xds_socket_path=xds_socket_path,
        xds_sigv4=xds_sigv4,
        host=placement,
    )
    if token_key is not None:
        with_xds_token(bootstrap, token_key)
    node_id = bootstrap["node"]["id"]
    envoy = EnvoyProcess(bootstrap, log_level=envoy_log_level)
    app: SupervisedProcess | None = None
    with interrupt_on_stop_signals():
        try:
            _start_envoy(envoy, node_id, placement, ready_timeout, xds_socket_path or f"{xds_host}:{xds_port}")
            ports = ingress_ports(listeners_dump(envoy.admin_get)) if kind == "virtualNode" else []
            env = app_environment(placement, ports, envoy.admin_url)
            _announce(out, node_id, kind, placement, ports, envoy.admin_url, env, bool(command))
            if command:
                app = start_app(command, env)
            return _supervise(envoy, app, placement, ports, node_id, out)
        except KeyboardInterrupt:
            print(f"appmesh-local: {name}: stopping", file=out, flush=True)
            return 0
        finally:
            with shielded():  # a second Ctrl-C must not leave the app or Envoy behind
                try:
                    if app is not None:
                        stop_app(app)
                finally:
                    envoy.stop()
                    held.release()


def _start_envoy(envoy: EnvoyProcess, node_id: str, placement: HostPlacement, timeout: float, xds: str) -> None:
    """Envoy LIVE with every listener bound, or RunError saying why."""
    try:
        envoy.start(wait_live=True, timeout=timeout)
    except (TimeoutError, RuntimeError) as error:
        tail = envoy.log_text()[-2000:].strip()
        raise RunError(
            f"Envoy for {node_id} did not become LIVE ({str(error).splitlines()[0]}); is appmesh-local serving "
            f"xDS at {xds}, and does {node_id} exist?" + (f"\n{tail}" if tail else "")
        ) from None
    errors = listener_errors(listeners_dump(envoy.admin_get))
    if errors:
        raise RunError(
            f"Envoy for {node_id} cannot listen where host mode placed it ({placement.address}, "
            f"{placement.egress_address}): " + "; ".join(errors)
        )


def _announce(
    out: TextIO,
    node_id: str,
    kind: str,
    placement: HostPlacement,
    ports: list[int],
    admin_url: str | None,
    env: dict[str, str],
    with_app: bool,
) -> None:
    if kind == "virtualGateway":
        where = f"gateway listeners on {placement.address}"
    else:
        listening = ", ".join(f"{placement.address}:{p}" for p in ports) or "no listeners"
        where = f"ingress {listening}, app address {placement.app_address}, egress {placement.egress_address}"
    print(
        f"appmesh-local: {node_id} up in host mode: {where}, Envoy admin {admin_url} (Ctrl-C to stop)",
        file=out,
        flush=True,
    )
    if kind == "virtualNode" and not with_app:
        print("appmesh-local: start the app with:", file=out)
        for variable in SHOWN_VARIABLES:
            if variable in env:
                print(f"  export {variable}={shlex.quote(env[variable])}", file=out)
        out.flush()


def _supervise(
    envoy: EnvoyProcess,
    app: SupervisedProcess | None,
    placement: HostPlacement,
    ports: list[int],
    node_id: str,
    out: TextIO,
) -> int:
    """Wait for the app to exit (its status) or Envoy to die (RunError); say when the app does not listen."""
    started, warned = time.monotonic(), not ports or app is None
    reported: set[str] = set()
    while True:
        if app is not None:
            status = app.poll()
            if status is not None:
                print(f"appmesh-local: the app of {node_id} exited with status {status}", file=out, flush=True)
                return status
        if not envoy.alive():
            raise RunError(f"Envoy for {node_id} exited:\n{envoy.log_text()[-2000:].strip()}")
        if not warned and time.monotonic() - started > LISTEN_WARNING_S:
            warned = True
            closed = wait_listening(placement.app_address, ports, 0)
            if closed:
                print(
                    f"appmesh-local: warning: nothing listens on {placement.app_address}:{closed} yet; the app must "
                    f"bind ${ENV_APP_HOST} ({placement.app_address}), not 0.0.0.0",
                    file=sys.stderr,
                    flush=True,
                )
        try:
            errors = set(listener_errors(listeners_dump(envoy.admin_get))) - reported
        except OSError:
            errors = set()  # Envoy going away: the next round sees it
        for error in sorted(errors):  # a later change Envoy could not apply: it keeps serving the rest
            print(f"appmesh-local: warning: Envoy for {node_id} rejected a listener: {error}", file=sys.stderr)
        reported |= errors
        time.sleep(0.5)
