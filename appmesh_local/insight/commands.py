"""`appmesh-local explain` and `appmesh-local lint`: ask the running server, print for people or CI.

Both are answered by the server (`/_appmesh-local/api/...`) because they read the live state:
the resources the bridge serves and what the connected proxies report.
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from .. import settings
from ..service.context import DEFAULT_ACCOUNT, DEFAULT_REGION
from .explain import render_text
from .lint import ERROR, WARNING

DEFAULT_ENDPOINT = f"http://{settings.DEFAULT_HOST}:{settings.DEFAULT_API_PORT}"


class CommandError(Exception):
    """A one-line, user-facing failure (exit status 2)."""


def register(commands: Any) -> None:
    explain = commands.add_parser("explain", help="the path a request takes through a proxy's Envoy configuration")
    _common(explain)
    proxy = explain.add_mutually_exclusive_group(required=True)
    proxy.add_argument("--virtual-node", help="explain an outbound request of this virtual node's app")
    proxy.add_argument("--virtual-gateway", help="explain a request arriving at this virtual gateway")
    explain.add_argument("url", help="e.g. http://color.local:8080/path?x=1 (the Host is the URL's host:port)")
    explain.add_argument("-H", "--header", action="append", default=[], metavar="'NAME: VALUE'")
    explain.add_argument("-X", "--method", default="GET")
    explain.set_defaults(func=run_explain)

    lint = commands.add_parser("lint", help="find silent misconfigurations in a mesh (exit 1 if any)")
    _common(lint)
    lint.add_argument(
        "--fail-on",
        choices=[WARNING, ERROR, "never"],
        default=WARNING,
        help="lowest severity that makes the exit status 1 (default warning)",
    )
    lint.set_defaults(func=run_lint)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--mesh", required=True)
    parser.add_argument("--endpoint", default=DEFAULT_ENDPOINT)
    parser.add_argument("--account", default=DEFAULT_ACCOUNT)
    parser.add_argument("--region", default=DEFAULT_REGION)
    parser.add_argument("--json", action="store_true", help="print the server's JSON answer")


def run_explain(args: argparse.Namespace) -> int:
    kind, name = ("virtualNode", args.virtual_node) if args.virtual_node else ("virtualGateway", args.virtual_gateway)
    headers = {}
    for header in args.header:
        key, separator, value = header.partition(":")
        if not separator or not key.strip():
            return _fail(f"-H {header!r}: expected 'NAME: VALUE'")
        headers[key.strip()] = value.strip()
    body = {"kind": kind, "name": name, "url": args.url, "method": args.method, "headers": headers}
    try:
        answer = _call(args, "explain", body)
    except CommandError as error:
        return _fail(str(error))
    sys.stdout.write(json.dumps(answer, indent=2) + "\n" if args.json else render_text(answer))
    return 0


def run_lint(args: argparse.Namespace) -> int:
    try:
        answer = _call(args, f"lint?fail_on={args.fail_on}")
    except CommandError as error:
        return _fail(str(error))
    if args.json:
        sys.stdout.write(json.dumps(answer, indent=2) + "\n")
    else:
        findings = answer["findings"]
        for item in findings:
            print(f"{item['severity']:<7} {item['code']:<26} {item['resource']} {item['field']}: {item['message']}")
        print(f"{len(findings)} finding(s) in mesh {args.mesh}")
    return int(answer["exit_code"])


def _call(args: argparse.Namespace, view: str, body: dict[str, Any] | None = None) -> Any:
    path = "/".join(urllib.parse.quote(part, safe="") for part in (args.account, args.region, args.mesh))
    url = f"{args.endpoint.rstrip('/')}/_appmesh-local/api/meshes/{path}/{view}"
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as error:
        try:
            message = json.loads(error.read()).get("message")
        except ValueError:
            message = None
        raise CommandError(message or f"{url}: HTTP {error.code}") from None
    except (urllib.error.URLError, OSError) as error:
        raise CommandError(f"cannot reach {args.endpoint}: {getattr(error, 'reason', error)}") from None


def _fail(message: str) -> int:
    print(f"appmesh-local: {message}", file=sys.stderr)
    return 2
