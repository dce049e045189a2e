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
    config = ServerConfig(host=args.host, port=args.port, xds_host=args.xds_host,
                          xds_port=None if args.no_xds else args.xds_port, state_dir=state_dir, quotas=quotas)
    server = AppMeshServer(config)
    print(f"appmesh-local: App Mesh API on {server.endpoint}"
          + (f", xDS on {args.xds_host}:{args.xds_port}" if not args.no_xds else "")
          + f", state {'in memory' if state_dir is None else state_dir}", flush=True)
    server.serve_forever()
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
    serve.add_argument("--no-xds", action="store_true", help="serve the API only")
    state = serve.add_mutually_exclusive_group()
    state.add_argument("--state-dir", type=Path, help="where the SQLite state lives (default: per-user data dir)")
    state.add_argument("--ephemeral", action="store_true", help="keep state in memory only")
    serve.add_argument("--quota", action="append", metavar="NAME=VALUE", help="override a service quota, e.g. virtualNodesPerMesh=2000")
    serve.set_defaults(func=_serve)

    from .export.command import register as register_export
    from .offline import register as register_translate
    register_export(commands)
    register_translate(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return args.func(args)
