"""`appmesh-local export`: the command line around `export_mesh` (argument parsing, one-line errors)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from appmesh_local.export.sources import DEFAULT_ACCOUNT, DEFAULT_REGION, SourceError, default_endpoint
from appmesh_local.ir.names import DEFAULT_BIND_ADDRESS

PROG = "appmesh-local export"
FORMATS = ("envoy", "cloudformation", "kubernetes")


def register(commands: Any) -> argparse.ArgumentParser:
    """Add the `export` subcommand to the CLI's subparsers."""
    parser = commands.add_parser(
        "export",
        help="write static Envoy configuration (no control plane needed) for a mesh's proxies",
        description="Write, for each chosen virtual node or gateway, an Envoy bootstrap with every listener, "
        "route, cluster and endpoint inline: what the xDS bridge serves, runnable with `envoy -c FILE`.",
    )
    parser.add_argument("--mesh", required=True, help="mesh name")
    parser.add_argument(
        "--format",
        choices=FORMATS,
        default="envoy",
        help="envoy: a static Envoy bootstrap per proxy (default); cloudformation: the mesh as a "
        "template; kubernetes: the mesh as App Mesh controller manifests (both for `apply -f`)",
    )
    parser.add_argument("--namespace", help="kubernetes: the namespace of the objects (default: the mesh's name)")
    which = parser.add_mutually_exclusive_group()
    which.add_argument(
        "--virtual-node", action="append", default=[], metavar="NAME", help="a virtual node (repeatable)"
    )
    which.add_argument(
        "--virtual-gateway", action="append", default=[], metavar="NAME", help="a virtual gateway (repeatable)"
    )
    which.add_argument("--all", action="store_true", help="every virtual node and gateway of the mesh")
    parser.add_argument(
        "--out",
        type=Path,
        metavar="DIR|FILE",
        help="envoy: directory for the YAML files (required); cloudformation/kubernetes: the file "
        "to write (default: standard output)",
    )
    source = parser.add_mutually_exclusive_group()
    source.add_argument(
        "--endpoint",
        help="App Mesh API to read from (default: the endpoint your AWS configuration "
        "names for App Mesh, e.g. $AWS_ENDPOINT_URL_APP_MESH, else "
        "http://127.0.0.1:4600; never real AWS)",
    )
    source.add_argument("--state-dir", type=Path, help="read an appmesh-local state directory instead of the API")
    source.add_argument("--file", type=Path, help="read a mesh file (YAML/JSON, as for `translate`) instead")
    parser.add_argument("--account", help=f"account (12 digits) to read as (default {DEFAULT_ACCOUNT})")
    parser.add_argument("--region", default=DEFAULT_REGION, help=f"region (default {DEFAULT_REGION})")
    parser.add_argument("--mesh-owner", help="owner account of a shared mesh (API only)")
    parser.add_argument(
        "--bind-address",
        default=DEFAULT_BIND_ADDRESS,
        help=f"address the proxies' listeners bind (default {DEFAULT_BIND_ADDRESS}, as in App Mesh)",
    )
    parser.add_argument(
        "--admin-port", type=int, help="Envoy admin port (default: ENVOY_ADMIN_ACCESS_PORT from -e, else 9901)"
    )
    parser.add_argument("--admin-address", default="127.0.0.1", help="Envoy admin address (default 127.0.0.1)")
    parser.add_argument(
        "--sds-socket",
        metavar="PATH",
        help="Unix socket of your SDS agent, for `sds` certificates (App Mesh's APPMESH_SDS_SOCKET_PATH)",
    )
    parser.add_argument(
        "-e",
        "--env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="an App Mesh Envoy image variable the files should carry, e.g. ENABLE_ENVOY_STATS_TAGS=1 "
        "(repeatable; this process's environment is not read)",
    )
    parser.add_argument(
        "--no-validate",
        dest="validate",
        action="store_false",
        help="do not check the written files with `envoy --mode validate` (done by default when Envoy is here)",
    )
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    from appmesh_local.export import ExportError, export_mesh

    if args.format != "envoy":
        return _run_definitions(args)
    if args.out is None or not (args.virtual_node or args.virtual_gateway or args.all):
        print(
            f"{PROG}: error: --format envoy needs --out DIR and one of --virtual-node, --virtual-gateway, --all",
            file=sys.stderr,
        )
        return 2
    from appmesh_local.proxy.commands import image_env
    from appmesh_local.proxy.image_env import ImageEnvError

    try:
        image = image_env({}, args.env)
    except ImageEnvError as exc:
        print(f"{PROG}: error: {one_line(str(exc))}", file=sys.stderr)
        return 2
    try:
        snapshot, cloud_map, secrets = _read(args)
        result = export_mesh(
            snapshot,
            args.out,
            virtual_nodes=args.virtual_node,
            virtual_gateways=args.virtual_gateway,
            everything=args.all,
            bind_address=args.bind_address,
            admin_port=args.admin_port,
            admin_address=args.admin_address,
            sds_socket_path=args.sds_socket,
            cloud_map=cloud_map,
            secrets=secrets,
            image=image,
        )
    except (SourceError, ExportError, ImageEnvError) as exc:
        print(f"{PROG}: error: {one_line(str(exc))}", file=sys.stderr)
        return 1
    except Exception as exc:  # noqa: BLE001 - a bug here must still not greet the user with a traceback
        print(f"{PROG}: internal error: {type(exc).__name__}: {one_line(str(exc))}", file=sys.stderr)
        return 1
    for problem in result.problems:
        print(f"{PROG}: warning: {one_line(problem)}", file=sys.stderr)
    for failure in result.failures:
        print(f"{PROG}: error: {one_line(failure)}", file=sys.stderr)
    if not result.files and not result.failures:
        print(f"{PROG}: mesh {args.mesh!r} has no virtual nodes or gateways: nothing written", file=sys.stderr)
    rejected = _rejected_by_envoy(result.files) if args.validate else {}
    for path, reason in rejected.items():
        print(f"{PROG}: error: Envoy rejects {path} (kept for inspection): {one_line(reason)}", file=sys.stderr)
    for path in result.files:
        print(path)
    return 1 if result.failures or rejected else 0


def _rejected_by_envoy(files: tuple[Path, ...]) -> dict[Path, str]:
    """Envoy's verdict on each written file; a warning (and nothing checked) when there is no Envoy here."""
    from appmesh_local.export.envoy_check import envoy_rejections
    from appmesh_local.proxy.process import envoy_binary

    if not files:
        return {}
    try:
        envoy = envoy_binary()
    except FileNotFoundError as exc:
        print(f"{PROG}: warning: files not checked with `envoy --mode validate`: {exc}", file=sys.stderr)
        return {}
    return envoy_rejections(files, envoy)


def _run_definitions(args: argparse.Namespace) -> int:
    """--format cloudformation|kubernetes: the mesh's resources as a template or manifests."""
    from appmesh_local.export.definitions import (
        cloudformation_template,
        dump_yaml,
        dump_yaml_all,
        kubernetes_manifests,
    )

    try:
        snapshot, _, _ = _read(args)
        if args.format == "cloudformation":
            text = dump_yaml(cloudformation_template(snapshot))
        else:
            text = dump_yaml_all(kubernetes_manifests(snapshot, args.namespace))
        if args.out is None:
            sys.stdout.write(text)
        else:
            args.out.write_text(text)
            print(args.out)
    except SourceError as exc:
        print(f"{PROG}: error: {one_line(str(exc))}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"{PROG}: error: cannot write {args.out}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    return 0


def one_line(text: str) -> str:
    """Messages from YAML, botocore or protobuf may span lines: the CLI prints one."""
    return " ".join(part.strip() for part in text.splitlines() if part.strip())


def _read(args: argparse.Namespace) -> tuple[Any, Any, Any]:
    """(mesh snapshot, Cloud Map lookup, ACM source) from the file, state directory or API asked for."""
    from appmesh_local.export.neighbours import ApiAcm, ApiCloudMap, in_process_neighbours
    from appmesh_local.export.sources import (
        api_client,
        api_client_factory,
        snapshot_from_api,
        snapshot_from_file,
        snapshot_from_state_dir,
    )

    if args.file is not None:
        snapshot = snapshot_from_file(args.file)
        if snapshot.name != args.mesh:
            raise SourceError(f"{args.file} describes mesh {snapshot.name!r}, not {args.mesh!r}")
        return snapshot, None, None  # offline: no Cloud Map instances, no ACM material
    if args.state_dir is not None:
        snapshot = snapshot_from_state_dir(args.state_dir, args.mesh, args.account or DEFAULT_ACCOUNT, args.region)
        return (snapshot, *in_process_neighbours(args.state_dir))
    endpoint = args.endpoint or default_endpoint(args.region)
    clients = api_client_factory(endpoint)
    try:
        client = api_client(endpoint, args.region, args.account)
    except Exception as exc:  # noqa: BLE001 - botocore rejects a malformed endpoint URL here
        raise SourceError(f"cannot use endpoint {endpoint!r}: {exc}") from None
    snapshot = snapshot_from_api(client, args.mesh, args.mesh_owner)
    return snapshot, ApiCloudMap(clients), ApiAcm(clients)
