"""What `appmesh-local bootstrap|envoy|status` do, as plain functions: the CLI only parses arguments."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path
from typing import Any, Sequence

from appmesh_local.proxy.bootstrap import bootstrap_yaml, render_bootstrap
from appmesh_local.proxy.host import ListenerWatch
from appmesh_local.proxy.process import envoy_binary
from appmesh_local.proxy.status_text import render_status


def proxy_kind(virtual_node: str | None, virtual_gateway: str | None) -> tuple[str, str]:
    """(kind, name) from the mutually exclusive --virtual-node / --virtual-gateway options."""
    if bool(virtual_node) == bool(virtual_gateway):
        raise ValueError("give exactly one of --virtual-node or --virtual-gateway")
    return ("virtualNode", virtual_node) if virtual_node else ("virtualGateway", str(virtual_gateway))


def build_bootstrap(
    mesh: str,
    virtual_node: str | None = None,
    virtual_gateway: str | None = None,
    *,
    xds_host: str = "127.0.0.1",
    xds_port: int = 4601,
    admin_port: int = 9901,
    admin_address: str = "127.0.0.1",
    account: str | None = None,
    region: str | None = None,
    mesh_owner: str | None = None,
    node_cluster: str | None = None,
    api_type: str = "GRPC",
    sds_socket_path: str | None = None,
    xds_socket_path: str | None = None,
) -> dict[str, Any]:
    kind, name = proxy_kind(virtual_node, virtual_gateway)
    return render_bootstrap(
        mesh,
        kind,
        name,
        xds_host,
        xds_port,
        admin_port=admin_port,
        admin_address=admin_address,
        account=account,
        region=region,
        node_cluster=node_cluster,
        mesh_owner=mesh_owner,
        api_type=api_type,
        sds_socket_path=sds_socket_path,
        xds_socket_path=xds_socket_path,
    )


def bootstrap_command(
    mesh: str,
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


def envoy_command(
    mesh: str,
    virtual_node: str | None = None,
    virtual_gateway: str | None = None,
    *,
    log_level: str = "info",
    envoy_path: str | None = None,
    concurrency: int = 1,
    extra_args: Sequence[str] = (),
    **options: Any,
) -> int:
    """Run Envoy in the foreground (logs on this terminal) until it exits or Ctrl-C; return its exit code.

    A listener Envoy cannot bind when it starts (an address someone else holds) stops it with
    status 1 and Envoy's reason: never a proxy serving some listeners and not others. Later
    failures (a change it cannot apply) are reported and Envoy keeps its last good listeners.
    """
    bootstrap = build_bootstrap(mesh, virtual_node, virtual_gateway, **options)
    binary = Path(envoy_path) if envoy_path else envoy_binary()
    workdir = Path(tempfile.mkdtemp(prefix="appmesh-envoy-"))
    try:
        path = workdir / "bootstrap.json"
        path.write_text(json.dumps(bootstrap, indent=2))
        admin_address_path = workdir / "admin-address"
        args = [
            str(binary),
            "-c",
            str(path),
            "--concurrency",
            str(concurrency),
            "--log-level",
            log_level,
            "--disable-hot-restart",
            "--admin-address-path",
            str(admin_address_path),
            *extra_args,
        ]
        xds = (
            f"unix:{options['xds_socket_path']}"
            if options.get("xds_socket_path")
            else f"{options.get('xds_host', '127.0.0.1')}:{options.get('xds_port', 4601)}"
        )
        print(
            f"appmesh-local: envoy for {bootstrap['node']['id']} → xDS {xds}, admin "
            f"{options.get('admin_address', '127.0.0.1')}:{options.get('admin_port', 9901)}",
            file=sys.stderr,
        )
        proc = subprocess.Popen(args)
        try:
            return _wait_watching_listeners(proc, admin_address_path, bootstrap["node"]["id"])
        except KeyboardInterrupt:
            proc.terminate()
            try:
                return proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                return proc.wait()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _wait_watching_listeners(proc: subprocess.Popen[bytes], admin_address_path: Path, node_id: str) -> int:
    """Envoy's exit status; 1 after stopping it when a listener could not bind as it started."""

    def admin_get(path: str) -> str:
        address = admin_address_path.read_text().strip()
        with urllib.request.urlopen(f"http://{address}{path}", timeout=2) as response:
            return response.read().decode()

    watch = ListenerWatch(admin_get)
    while True:
        try:
            return proc.wait(timeout=0.25)
        except subprocess.TimeoutExpired:
            pass
        was_started = watch.started
        started, errors = watch.poll()
        if errors and not was_started:
            print(
                f"appmesh-local: envoy for {node_id} cannot listen: {'; '.join(errors)}; stopping it "
                "(another process holds that address: stop it, or choose other ports)",
                file=sys.stderr,
                flush=True,
            )
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            return 1
        for error in errors:
            print(f"appmesh-local: warning: envoy for {node_id} rejected a listener: {error}", file=sys.stderr)


def status_command(endpoint: str = "http://127.0.0.1:4600", as_json: bool = False, timeout: float = 5.0) -> str:
    """Fetch GET <endpoint>/_appmesh-local/status and render it (or return the JSON)."""
    with urllib.request.urlopen(f"{endpoint.rstrip('/')}/_appmesh-local/status", timeout=timeout) as response:
        data = json.loads(response.read())
    return json.dumps(data, indent=2) + "\n" if as_json else render_status(data)
