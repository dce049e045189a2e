"""Flask app factory: one generic view turns any App Mesh request into a service call."""

from __future__ import annotations

import logging
from typing import Any, Callable

from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException

from ..insight.inspector import Inspector
from ..service import AppMeshService
from ..service.identity import VERIFIED_ACCOUNT
from .applied import register_applied_sets
from .console import console_blueprint
from .errors import error_parts, is_aws_json
from .fastpath import API_METHODS, ApiFastPath
from .handler import handle_api
from .proxy_lookup import register as register_proxy_lookup
from .proxy_lookup import with_unknown_node_reasons

log = logging.getLogger(__name__)
ADMIN_PREFIX = "/_appmesh-local"

# werkzeug's exception names → the AWS error code a client sees instead of an HTML page.
_CODES = {404: "UnknownOperationException", 405: "UnknownOperationException"}


def create_app(
    service: AppMeshService,
    status: Callable[[], dict[str, Any]] | None = None,
    inspector: Inspector | None = None,
) -> Flask:
    """The WSGI app. `status` (from the xDS bridge) feeds GET /_appmesh-local/status; `inspector`
    the console and the explain / lint / topology views under /_appmesh-local/."""
    app = Flask("appmesh_local")
    if status is not None:
        status = with_unknown_node_reasons(status, service)
    register_proxy_lookup(app, service, status, ADMIN_PREFIX)
    app.register_blueprint(console_blueprint(inspector, lambda: service.store.revision), url_prefix=ADMIN_PREFIX)

    @app.get(f"{ADMIN_PREFIX}/health")
    def health() -> Response:
        return jsonify({"status": "ok", "revision": service.store.revision})

    @app.get(f"{ADMIN_PREFIX}/status")
    def xds_status() -> Response:
        document = status() if status else {"xds": "disabled"}
        account = request.environ.get(VERIFIED_ACCOUNT)
        return jsonify(scoped_status(document, account) if account else document)

    register_applied_sets(app, service)

    @app.before_request
    def own_account_only() -> Response | None:
        """With a verified caller, admin views that name an account (the console's mesh views,
        applied sets) answer for the caller's account only; the mesh listing needs `account=`."""
        account = request.environ.get(VERIFIED_ACCOUNT)
        if account is None or not request.path.startswith(ADMIN_PREFIX):
            return None
        asked = (request.view_args or {}).get("account")
        if asked is None and request.path.rstrip("/") == f"{ADMIN_PREFIX}/api/meshes":
            asked = request.args.get("account")
        elif asked is None:
            return None
        if asked == account:
            return None
        line, headers, body = error_parts(
            403, "ForbiddenException", f"With --require-sigv4 these views show only your account: account={account}"
        )
        return Response(body, status=403, headers=[h for h in headers if h[0] != "Content-Length"])

    @app.route("/", defaults={"path": ""}, methods=sorted(API_METHODS))
    @app.route("/<path:path>", methods=sorted(API_METHODS))
    def appmesh(path: str) -> Response:
        status_code, headers, body = handle_api(
            service,
            request.method,
            request.path,
            request.args,
            request.headers,
            request.get_data(),
            request.environ.get(VERIFIED_ACCOUNT),
        )
        return Response(body, status=status_code, headers=headers)

    @app.errorhandler(HTTPException)
    def aws_error(error: HTTPException) -> Response:
        """Flask's own answers (404, 405, 500, ...) in AWS's JSON error shape, never an HTML page."""
        code = error.code or 500
        name = _CODES.get(code, "BadRequestException" if code < 500 else "InternalServerErrorException")
        line, headers, body = error_parts(code, name, error.description or error.name, is_aws_json(request.environ))
        response = Response(body, status=code, headers=[h for h in headers if h[0] != "Content-Length"])
        if code == 405 and getattr(error, "valid_methods", None):
            response.headers["Allow"] = ", ".join(error.valid_methods)  # type: ignore[attr-defined]
        return response

    app.wsgi_app = ApiFastPath(app.wsgi_app, service, ADMIN_PREFIX)  # type: ignore[method-assign]
    return app


def scoped_status(document: dict[str, Any], account: str) -> dict[str, Any]:
    """The status document as one account may see it: its own proxies and meshes only.

    Streams whose node id matched no proxy carry no account and are left out, as is
    anything else that names another account's meshes.
    """
    scoped = dict(document)
    scoped["proxies"] = [p for p in document.get("proxies", []) if str(p.get("proxy") or "").startswith(f"{account}/")]
    scoped["unknown_nodes"] = []
    scoped["meshes"] = [m for m in document.get("meshes", []) if m.get("account") == account]
    return scoped
