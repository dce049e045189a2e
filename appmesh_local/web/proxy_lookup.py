"""GET /_appmesh-local/proxy: does the server know a proxy, and if not, what is nearby?

`appmesh-local envoy|bootstrap|task` ask this before starting Envoy, so a wrong region,
account or name is one clear line instead of an Envoy that waits forever; the unknown
nodes of GET /_appmesh-local/status carry the same sentence (service/nearby.py).
"""

from __future__ import annotations

from typing import Any, Callable

from flask import Flask, Response, jsonify, request

from ..service import AppMeshService
from ..service.nearby import missing_proxy_reason
from ..xds.node_id import DEFAULT_ACCOUNT, DEFAULT_REGION, PROXY_KINDS

Status = Callable[[], dict[str, Any]]
UNKNOWN = "no such mesh or proxy"  # xds/status.py's reason when the node id parsed but names nothing


def register(app: Flask, service: AppMeshService, status: Status | None, prefix: str) -> None:
    @app.get(f"{prefix}/proxy")
    def proxy_lookup() -> Response | tuple[Response, int]:
        args = request.args
        missing = [p for p in ("mesh", "kind", "name") if not args.get(p)]
        if missing or args["kind"] not in PROXY_KINDS:
            problem = f"missing {', '.join(missing)}" if missing else f"kind must be one of {', '.join(PROXY_KINDS)}"
            return jsonify({"error": problem}), 400
        account = args.get("account") or DEFAULT_ACCOUNT
        region = args.get("region") or DEFAULT_REGION
        reason = missing_proxy_reason(service.store, account, region, args["mesh"], args["kind"], args["name"])
        server = (status() or {}).get("server") if status else None
        return jsonify(
            {
                "account": account,
                "region": region,
                "exists": reason is None,
                "reason": reason,
                "xds": server,  # None: this server runs without xDS
            }
        )


def with_unknown_node_reasons(status: Status, service: AppMeshService) -> Status:
    """`status` whose unknown nodes say why they are unknown and what exists nearby."""

    def explained() -> dict[str, Any]:
        data = status()
        for node in data.get("unknown_nodes") or []:
            if node.get("reason") == UNKNOWN and node.get("kind") in PROXY_KINDS:
                reason = missing_proxy_reason(
                    service.store,
                    node.get("account") or DEFAULT_ACCOUNT,
                    node.get("region") or DEFAULT_REGION,
                    node.get("mesh") or "",
                    node["kind"],
                    node.get("name") or "",
                    advice="bootstrap with",
                )
                node["reason"] = reason or "the proxy exists but has no configuration yet (see the mesh's translation)"
        return data

    return explained
