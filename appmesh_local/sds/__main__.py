"""`python -m appmesh_local.sds --socket PATH --secret NAME=CHAIN,KEY --secret NAME=CA`."""

from __future__ import annotations

import argparse
import logging
import sys

from appmesh_local.sds.server import serve_sds
from appmesh_local.unix_socket import group_id


def parse_secret(text: str) -> tuple[str, tuple[str, str] | str]:
    """NAME=CHAIN,KEY (a certificate) or NAME=CA (a trust bundle)."""
    name, sep, files = text.partition("=")
    if not sep or not name or not files:
        raise argparse.ArgumentTypeError(f"expected NAME=CHAIN,KEY or NAME=CA, got {text!r}")
    parts = files.split(",")
    if len(parts) == 2:
        return name, (parts[0], parts[1])
    if len(parts) == 1:
        return name, parts[0]
    raise argparse.ArgumentTypeError(f"expected NAME=CHAIN,KEY or NAME=CA, got {text!r}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m appmesh_local.sds", description="Serve PEM files to Envoy over SDS on a unix socket."
    )
    parser.add_argument("--socket", required=True, help="unix socket path (APPMESH_SDS_SOCKET_PATH)")
    parser.add_argument("--secret", action="append", type=parse_secret, required=True, metavar="NAME=CHAIN,KEY|NAME=CA")
    parser.add_argument(
        "--socket-group",
        help="make the socket 0660 for this group (name or gid; Envoy in `appmesh-local task` runs as 1337), else 0600",
    )
    parser.add_argument("--poll", type=float, default=1.0, help="seconds between checks for changed files")
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        group = group_id(args.socket_group, "--socket-group")
    except ValueError as error:
        parser.error(str(error))
    serve_sds(args.socket, dict(args.secret), poll_s=args.poll, group=group)
    return 0


if __name__ == "__main__":
    sys.exit(main())
