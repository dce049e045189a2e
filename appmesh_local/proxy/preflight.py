"""Before `envoy`, `bootstrap` or `task` start anything: is the server there, and does it know the proxy?

Envoy bootstrapped for a mesh that does not exist (wrong region or account, a typo, no
server running) starts happily and then waits forever for configuration. These checks
ask the server (GET /_appmesh-local/proxy, web/proxy_lookup.py) and return one line per
problem, naming what exists nearby; the CLI prints them as warnings, or as errors with
`--strict`.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

LOOKUP_PATH = "/_appmesh-local/proxy"


def check_proxy(
    endpoint: str,
    mesh: str,
    kind: str,
    name: str,
    *,
    account: str | None = None,
    region: str | None = None,
    mesh_owner: str | None = None,
    xds_port: int | None = None,
    xds_socket: str | None = None,
    timeout: float = 3.0,
) -> list[str]:
    """Problems (one line each) that would leave Envoy without configuration; [] when there are none.

    `account` is the mesh owner's (`mesh_owner` wins, as in the node id), `xds_port` or
    `xds_socket` where the bootstrap sends Envoy for xDS.
    """
    query = {"mesh": mesh, "kind": kind, "name": name}
    if mesh_owner or account:
        query["account"] = str(mesh_owner or account)
    if region:
        query["region"] = region
    url = f"{endpoint.rstrip('/')}{LOOKUP_PATH}?{urllib.parse.urlencode(query)}"
    try:
        data = _get_json(url, timeout)
    except urllib.error.HTTPError as error:
        return [f"{endpoint} answered {error.code} to {LOOKUP_PATH}: is it an appmesh-local server (and this version)?"]
    except (OSError, ValueError) as error:
        reason = getattr(error, "reason", None) or error
        return [
            f"no appmesh-local server answers at {endpoint} ({reason}): start `appmesh-local serve` "
            f"or pass --endpoint; Envoy gets no configuration until one does"
        ]
    problems = [str(data["reason"])] if not data.get("exists") else []
    problems += _xds_problems(endpoint, data.get("xds"), xds_port, xds_socket)
    return problems


def _xds_problems(endpoint: str, xds: dict[str, Any] | None, port: int | None, socket: str | None) -> list[str]:
    if xds is None:
        return [f"the server at {endpoint} runs without xDS (--no-xds): nothing will configure Envoy"]
    if socket:
        served = xds.get("unix_socket")
        if served != socket:
            where = f"on {served}" if served else "on no unix socket"
            return [
                f"the server at {endpoint} serves xDS {where}, not {socket}: "
                f"start it with --xds-socket {socket} or pass --xds-socket {served or '...'}"
            ]
        return []
    if port is not None and xds.get("port") not in (None, port):
        return [f"the server at {endpoint} serves xDS on port {xds['port']}, not {port}: use --xds-port {xds['port']}"]
    return []


def _get_json(url: str, timeout: float) -> dict[str, Any]:
    host = urllib.parse.urlsplit(url).hostname or ""
    loopback = host == "localhost" or host.startswith("127.") or host == "::1"
    handlers = [urllib.request.ProxyHandler({})] if loopback else []  # a local server: never via $HTTP_PROXY
    with urllib.request.build_opener(*handlers).open(url, timeout=timeout) as response:
        data = json.loads(response.read())
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    return data
