"""What `appmesh-local bootstrap|envoy|status` do, as plain functions: the CLI only parses arguments."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path
from typing import Any, Mapping, Sequence

from appmesh_local.proxy.bootstrap import XDS_CLUSTER, bootstrap_yaml, render_bootstrap
from appmesh_local.proxy.image_env import ADMIN_ACCESS_LOG, ImageEnv, ImageEnvError, proxy_identity
from appmesh_local.proxy.process import EnvoyProcess, envoy_binary
from appmesh_local.proxy.status_text import render_status
from appmesh_local.settings import DEFAULT_HOST, DEFAULT_XDS_PORT


def proxy_kind(virtual_node: str | None, virtual_gateway: str | None) -> tuple[str, str]:
    """(kind, name) from the mutually exclusive --virtual-node / --virtual-gateway options."""
    if bool(virtual_node) == bool(virtual_gateway):
        raise ValueError("give exactly one of --virtual-node or --virtual-gateway")
    return ("virtualNode", virtual_node) if virtual_node else ("virtualGateway", str(virtual_gateway))


def image_env(environment: Mapping[str, str] | None = None, overrides: Sequence[str] = ()) -> ImageEnv:
    """The App Mesh image's variables from `environment` (default: this process's), with NAME=VALUE
    `overrides` on top (the CLI's -e/--env, as `docker run -e`)."""
    values = dict(os.environ if environment is None else environment)
    for item in overrides:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise ImageEnvError(f"--env takes NAME=VALUE, not {item!r}")
        values[name] = value
    return ImageEnv.from_environ(values)


def build_bootstrap(
    mesh: str | None = None,
    virtual_node: str | None = None,
    virtual_gateway: str | None = None,
    *,
    xds_host: str | None = None,
    xds_port: int | None = None,
    admin_port: int | None = None,
    admin_address: str = "127.0.0.1",
    account: str | None = None,
    region: str | None = None,
    mesh_owner: str | None = None,
    node_cluster: str | None = None,
    api_type: str = "GRPC",
    sds_socket_path: str | None = None,
    xds_socket_path: str | None = None,
    image: ImageEnv | None = None,
    admin_access_log: str | None = ADMIN_ACCESS_LOG,
) -> dict[str, Any]:
    """The bootstrap `appmesh-local bootstrap|envoy` write: the proxy from the options or from
    APPMESH_RESOURCE_ARN, xDS at --xds-host/--xds-port, else APPMESH_XDS_ENDPOINT, else 127.0.0.1:4601."""
    image = image or ImageEnv()
    kind = name = None
    if virtual_node or virtual_gateway:
        kind, name = proxy_kind(virtual_node, virtual_gateway)
    identity = proxy_identity(image, mesh, kind, name)
    endpoint = image.xds_endpoint or (DEFAULT_HOST, DEFAULT_XDS_PORT)
    return render_bootstrap(
        identity.mesh,
        identity.kind,
        identity.name,
        xds_host or endpoint[0],
        xds_port or endpoint[1],
        admin_port=admin_port,
        admin_address=admin_address,
        account=account or identity.account,
        region=region,
        node_cluster=node_cluster,
        mesh_owner=mesh_owner,
        node_id=identity.node_id,
        api_type=api_type,
        sds_socket_path=sds_socket_path,
        xds_socket_path=xds_socket_path,
        image=image,
        admin_access_log=admin_access_log,
    )


def bootstrap_command(
    mesh: str | None = None,
    virtual_node: str | None = None,
    virtual_gateway: str | None = None,
    *,
    output: str | Path | None = None,
    fmt: str = "yaml",
    **options: Any,
) -> str:
    """The bootstrap text (yaml or json); also written to `output` when given. Options: see build_bootstrap."""
    bootstrap = build_bootstrap(mesh, virtual_node, virtual_gateway, **options)
    text = bootstrap_yaml(bootstrap) if fmt == "yaml" else json.dumps(bootstrap, indent=2) + "\n"
    if output is not None:
        Path(output).write_text(text)
    return text


def _usable_admin_log(path: str) -> str | None:
    """The image's shared admin log path if this user can append to it (else None: keep one privately)."""
    target = Path(path)
    if target.exists():
        return path if os.access(target, os.W_OK) else None
    return path if os.access(target.parent, os.W_OK) else None


def envoy_command(
    mesh: str | None = None,
    virtual_node: str | None = None,
    virtual_gateway: str | None = None,
    *,
    log_level: str | None = None,
    envoy_path: str | None = None,
    concurrency: int | None = None,
    extra_args: Sequence[str] = (),
    **options: Any,
) -> int:
    """Run Envoy in the foreground (logs on this terminal) until it exits, Ctrl-C or SIGTERM (a
    container's stop); return its exit code. The log level and concurrency come from the options,
    else ENVOY_LOG_LEVEL / ENVOY_CONCURRENCY, else info and 1."""
    image: ImageEnv = options.get("image") or ImageEnv()
    if image.admin_uds:
        raise ImageEnvError(
            "ENVOY_ADMIN_MODE=uds is not supported by `appmesh-local envoy` (it polls the admin over TCP)"
        )
    options.setdefault("admin_access_log", _usable_admin_log(ADMIN_ACCESS_LOG))
    bootstrap = build_bootstrap(mesh, virtual_node, virtual_gateway, **options)
    binary = Path(envoy_path) if envoy_path else envoy_binary()
    workdir = Path(tempfile.mkdtemp(prefix="appmesh-envoy-"))
    process = EnvoyProcess(
        bootstrap,
        envoy_path=binary,
        workdir=workdir,
        log_level=log_level or image.log_level or "info",
        concurrency=concurrency or image.concurrency or 1,
        extra_args=extra_args,
    )
    address = bootstrap["admin"]["address"].get("socket_address", {})
    print(
        f"appmesh-local: envoy for {bootstrap['node']['id']} → xDS {_xds_text(bootstrap)}, admin "
        f"{address.get('address')}:{address.get('port_value')} (access log {process.admin_access_log_path})",
        file=sys.stderr,
    )
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        proc = subprocess.Popen(process.command_for_terminal())
        try:
            return proc.wait()
        except KeyboardInterrupt:
            proc.terminate()
            try:
                return proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                return proc.wait()
    finally:
        signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)
        shutil.rmtree(workdir, ignore_errors=True)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _xds_text(bootstrap: Mapping[str, Any]) -> str:
    cluster = next(c for c in bootstrap["static_resources"]["clusters"] if c["name"] == XDS_CLUSTER)
    address = cluster["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]["address"]
    if "pipe" in address:
        return f"unix:{address['pipe']['path']}"
    return f"{address['socket_address']['address']}:{address['socket_address']['port_value']}"


def status_command(endpoint: str = "http://127.0.0.1:4600", as_json: bool = False, timeout: float = 5.0) -> str:
    """Fetch GET <endpoint>/_appmesh-local/status and render it (or return the JSON)."""
    with urllib.request.urlopen(f"{endpoint.rstrip('/')}/_appmesh-local/status", timeout=timeout) as response:
        data = json.loads(response.read())
    return json.dumps(data, indent=2) + "\n" if as_json else render_status(data)
