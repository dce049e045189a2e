"""`appmesh-local translate FILE`: run the bridge's translator on a mesh file, no server needed.

The debugging aid Contour and Envoy Gateway users know: see the IR (App Mesh semantics
resolved, no Envoy vocabulary) or the exact Envoy resources a proxy would receive,
for a mesh described in YAML/JSON with the same shapes as the App Mesh API.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import yaml

from appmesh_local.export.command import one_line

PROG = "appmesh-local translate"


class TranslateError(Exception):
    """A one-line reason the translation cannot be shown."""


def register(commands: Any) -> argparse.ArgumentParser:
    """Add the `translate` subcommand to the CLI's subparsers."""
    parser = commands.add_parser(
        "translate",
        help="translate a mesh file offline and print the IR or the Envoy resources (YAML)",
        description="Read App Mesh resources from a YAML/JSON file (mesh: {meshName, spec}, virtualNodes: "
        "[{virtualNodeName, spec}], virtualRouters, routes, virtualServices, virtualGateways, "
        "gatewayRoutes) and print what the translator makes of them.",
    )
    parser.add_argument("file", type=Path, metavar="FILE", help="mesh file (YAML or JSON)")
    output = parser.add_mutually_exclusive_group()
    output.add_argument(
        "--ir", dest="output", action="store_const", const="ir", help="print the intermediate representation (default)"
    )
    output.add_argument(
        "--envoy",
        dest="output",
        action="store_const",
        const="envoy",
        help="print the Envoy resources each proxy receives over xDS",
    )
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--virtual-node", metavar="NAME", help="only this virtual node's proxy")
    which.add_argument("--virtual-gateway", metavar="NAME", help="only this virtual gateway's proxy")
    parser.add_argument("--bind-address", default="0.0.0.0", help="listener bind address (default 0.0.0.0)")
    parser.set_defaults(func=run, output="ir")
    return parser


def run(args: argparse.Namespace) -> int:
    try:
        text = translate_file(args.file, args.output, _proxy(args), args.bind_address)
    except TranslateError as exc:
        print(f"{PROG}: error: {one_line(str(exc))}", file=sys.stderr)
        return 1
    except Exception as exc:  # noqa: BLE001 - never a traceback for a bad input
        print(f"{PROG}: internal error: {type(exc).__name__}: {one_line(str(exc))}", file=sys.stderr)
        return 1
    sys.stdout.write(text)
    return 0


def translate_file(
    path: Path, output: str = "ir", proxy: tuple[str, str] | None = None, bind_address: str = "0.0.0.0"
) -> str:
    """The YAML text `translate` prints: the IR or the Envoy resources, of the mesh or one proxy."""
    from appmesh_local.export.sources import SourceError, snapshot_from_file

    try:
        snapshot = snapshot_from_file(path)
    except SourceError as exc:
        raise TranslateError(str(exc)) from None
    try:
        data = _ir(snapshot, proxy, bind_address) if output == "ir" else _envoy(snapshot, proxy, bind_address)
    except TranslateError:
        raise
    except Exception as exc:  # noqa: BLE001 - a file the translator chokes on gets a message, not a traceback
        raise TranslateError(f"{path}: translation failed: {type(exc).__name__}: {exc}") from None
    return yaml.safe_dump(data, sort_keys=False, default_flow_style=False)


def _ir(snapshot: Any, proxy: tuple[str, str] | None, bind_address: str) -> Any:
    from appmesh_local.ir import dump
    from appmesh_local.translate import TranslateOptions, translate_mesh

    mesh_ir = translate_mesh(snapshot, TranslateOptions(bind_address=bind_address))
    if proxy is None:
        return dump(mesh_ir)
    found = mesh_ir.proxy(*proxy)
    failed = {(f.kind, f.name): f.reason for f in mesh_ir.failures}
    if found is None and proxy in failed:
        raise TranslateError(f"{proxy[0]} {proxy[1]} cannot be translated: {failed[proxy]}")
    if found is None:
        raise TranslateError(_missing(proxy, snapshot.name, [(p.kind, p.name) for p in mesh_ir.proxies]))
    return dump(found)


def _envoy(snapshot: Any, proxy: tuple[str, str] | None, bind_address: str) -> Any:
    from appmesh_local.bridge.build import build_mesh_config, dump_mesh_config, dump_proxy_config

    config = build_mesh_config(snapshot, bind_address=bind_address)
    if proxy is None:
        return dump_mesh_config(config)
    found = config.proxies.get(proxy)
    if found is None and proxy in config.failures:
        raise TranslateError(f"{proxy[0]} {proxy[1]} cannot be translated: {config.failures[proxy]}")
    if found is None:
        raise TranslateError(_missing(proxy, snapshot.name, list(config.proxies)))
    return dump_proxy_config(found)


def _proxy(args: argparse.Namespace) -> tuple[str, str] | None:
    if args.virtual_node:
        return ("virtualNode", args.virtual_node)
    if args.virtual_gateway:
        return ("virtualGateway", args.virtual_gateway)
    return None


def _missing(proxy: tuple[str, str], mesh: str, have: list[tuple[str, str]]) -> str:
    kind, name = proxy
    label = "virtual node" if kind == "virtualNode" else "virtual gateway"
    names = sorted(n for k, n in have if k == kind) or ["none"]
    return f"{label} {name!r} not found in mesh {mesh!r} (it has: {', '.join(names)})"
