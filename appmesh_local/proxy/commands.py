"""What `appmesh-local bootstrap|envoy|status` do, as plain functions: the CLI only parses arguments."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any, Mapping, Sequence

from appmesh_local.proxy.bootstrap import XDS_CLUSTER, bootstrap_yaml, render_bootstrap, with_xds_token
from appmesh_local.proxy.image_env import ADMIN_ACCESS_LOG, ImageEnv, ImageEnvError, proxy_identity
from appmesh_local.proxy.listeners import ListenerWatch
from appmesh_local.proxy.process import EnvoyProcess
from appmesh_local.proxy.signals import interrupt_on_stop_signals, shielded
from appmesh_local.proxy.status_text import render_status
from appmesh_local.settings import DEFAULT_HOST, DEFAULT_XDS_PORT
from appmesh_local.store.records import VIRTUAL_GATEWAY, VIRTUAL_NODE
from appmesh_local.xds.auth import TokenKey


def proxy_kind(virtual_node: str | None, virtual_gateway: str | None) -> tuple[str, str]:
    """(kind, name) from the mutually exclusive --virtual-node / --virtual-gateway options."""
    if bool(virtual_node) == bool(virtual_gateway):
        raise ValueError("give exactly one of --virtual-node or --virtual-gateway")
    return (VIRTUAL_NODE, virtual_node) if virtual_node else (VIRTUAL_GATEWAY, str(virtual_gateway))


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
    xds_auth_key: str | Path | None = None,
    xds_sigv4: bool = False,
    image: ImageEnv | None = None,
    admin_access_log: str | None = ADMIN_ACCESS_LOG,
) -> dict[str, Any]:
    """The bootstrap `appmesh-local bootstrap|envoy` write: the proxy from the options or from
    APPMESH_RESOURCE_ARN (`image`), xDS at `xds_host`/`xds_port`, else APPMESH_XDS_ENDPOINT, else
    127.0.0.1:4601; with `xds_auth_key` (the server's token key file) it carries the proxy's token."""
    image = image or ImageEnv()
    kind = name = None
    if virtual_node or virtual_gateway:
        kind, name = proxy_kind(virtual_node, virtual_gateway)
    identity = proxy_identity(image, mesh, kind, name)
    endpoint = image.xds_endpoint or (DEFAULT_HOST, DEFAULT_XDS_PORT)
    bootstrap = render_bootstrap(
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
        xds_sigv4=xds_sigv4,
        image=image,
        admin_access_log=admin_access_log,
    )
    if xds_auth_key is not None:
        with_xds_token(bootstrap, TokenKey.load(Path(xds_auth_key)))
    return bootstrap


def bootstrap_command(
    mesh: str | None,
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
        # a bootstrap with a token is a credential: readable by its owner only
        mode = 0o600 if options.get("xds_auth_key") else 0o644
        fd = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        os.chmod(output, mode)
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
    """Run Envoy in the foreground (logs on this terminal) until it exits, or Ctrl-C, SIGTERM or SIGHUP.

    The log level and concurrency come from the arguments, else ENVOY_LOG_LEVEL / ENVOY_CONCURRENCY
    (`options["image"]`), else info and 1. Returns Envoy's exit status (128 + N when a signal N ended
    it; 0 when stopped as asked). Envoy and its work directory go away with this process however it
    ends (EnvoyProcess's supervisor).

    A listener Envoy cannot bind when it starts (an address someone else holds) stops it with
    status 1 and Envoy's reason: never a proxy serving some listeners and not others. Later
    failures (a change it cannot apply) are reported and Envoy keeps its last good listeners.
    """
    image: ImageEnv = options.get("image") or ImageEnv()
    if image.admin_uds:
        raise ImageEnvError(
            "ENVOY_ADMIN_MODE=uds is not supported by `appmesh-local envoy` (it polls the admin over TCP)"
        )
    options.setdefault("admin_access_log", _usable_admin_log(ADMIN_ACCESS_LOG))
    bootstrap = build_bootstrap(mesh, virtual_node, virtual_gateway, **options)
    envoy = EnvoyProcess(
        bootstrap,
        envoy_path=envoy_path,
        log_level=log_level or image.log_level or "info",
        concurrency=concurrency or image.concurrency or 1,
        extra_args=extra_args,
        console=True,
    )
    xds = _xds_text(bootstrap)
    admin = bootstrap["admin"]["address"].get("socket_address", {})
    code: int | None = None
    with interrupt_on_stop_signals():
        try:
            envoy.start(wait_live=False)
            print(
                f"appmesh-local: envoy (pid {envoy.pid}) for {bootstrap['node']['id']} → xDS {xds}, admin "
                f"{admin.get('address')}:{admin.get('port_value')} (access log {envoy.admin_access_log_path}), "
                f"files in {envoy.workdir}",
                file=sys.stderr,
                flush=True,
            )
            assert envoy.proc is not None
            code = _wait_watching_listeners(envoy, bootstrap["node"]["id"])
        except KeyboardInterrupt:
            pass
        except (RuntimeError, TimeoutError) as error:  # Envoy exited (or hung) before its admin came up
            code = envoy.proc.returncode if envoy.proc is not None else None
            if code != 0:  # 0: it was asked to exit early (e.g. --mode validate), not a failure
                first = str(error).splitlines()[0]
                print(f"appmesh-local: envoy: error: {first} (Envoy's messages are above)", file=sys.stderr)
                code = code or 1
        finally:
            with shielded():  # a second Ctrl-C must not leave Envoy or its files behind
                stopped = envoy.stop()
    if code is None:  # stopped on request: ending by our SIGTERM (Envoy still starting up) is success too
        code = 0 if stopped in (None, -signal.SIGTERM) else stopped
    return code if code >= 0 else 128 - code


def _wait_watching_listeners(envoy: EnvoyProcess, node_id: str) -> int:
    """Envoy's exit status; 1 when a listener could not bind as it started (the caller stops Envoy)."""
    assert envoy.proc is not None
    watch = ListenerWatch(lambda path: envoy.admin_get(path, timeout=2))
    while True:
        try:
            return envoy.proc.wait(timeout=0.25)
        except subprocess.TimeoutExpired:
            pass
        if envoy.admin_url is None:
            continue  # admin not up yet
        was_started = watch.started
        _, errors = watch.poll()
        if errors and not was_started:
            print(
                f"appmesh-local: envoy for {node_id} cannot listen: {'; '.join(errors)}; stopping it "
                "(another process holds that address: stop it, or choose other ports)",
                file=sys.stderr,
                flush=True,
            )
            return 1
        for error in errors:
            print(f"appmesh-local: warning: envoy for {node_id} rejected a listener: {error}", file=sys.stderr)


def _xds_text(bootstrap: Mapping[str, Any]) -> str:
    cluster = next(c for c in bootstrap["static_resources"]["clusters"] if c["name"] == XDS_CLUSTER)
    address = cluster["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]["address"]
    if "pipe" in address:
        return f"unix:{address['pipe']['path']}"
    return f"{address['socket_address']['address']}:{address['socket_address']['port_value']}"


def status_command(endpoint: str = "http://127.0.0.1:4600", as_json: bool = False, timeout: float = 5.0) -> str:
    """Fetch GET <endpoint>/_appmesh-local/status and render it (or return the JSON).

    The request is signed (SigV4, service appmesh) with the AWS SDK's usual credentials when
    there are any, so it works against `serve --require-sigv4`, which then shows only the
    signing account's proxies and meshes.
    """
    url = f"{endpoint.rstrip('/')}/_appmesh-local/status"
    request = urllib.request.Request(url, headers=_signed_headers(url))
    with urllib.request.urlopen(request, timeout=timeout) as response:
        data = json.loads(response.read())
    return json.dumps(data, indent=2) + "\n" if as_json else render_status(data)


def _signed_headers(url: str) -> dict[str, str]:
    """SigV4 headers for GET `url` from botocore's credential chain (none when it finds no credentials)."""
    import botocore.session
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest

    session = botocore.session.get_session()
    credentials = session.get_credentials()
    if credentials is None:
        return {}
    request = AWSRequest(method="GET", url=url)
    SigV4Auth(
        credentials.get_frozen_credentials(), "appmesh", session.get_config_variable("region") or "us-east-1"
    ).add_auth(request)
    return dict(request.headers.items())
