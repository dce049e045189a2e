"""Flask app factory: one generic view turns any App Mesh request into a service call."""

from __future__ import annotations

import logging
from typing import Any, Callable

from flask import Flask, Response, jsonify, request

from ..insight.inspector import Inspector
from ..service import AppMeshService
from .applied import register_applied_sets
from .console import console_blueprint
from .fastpath import API_METHODS, ApiFastPath
from .handler import handle_api
from .proxy_lookup import register as register_proxy_lookup
from .proxy_lookup import with_unknown_node_reasons

log = logging.getLogger(__name__)
ADMIN_PREFIX = "/_appmesh-local"


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
        return jsonify(status() if status else {"xds": "disabled"})

    register_applied_sets(app, service)

    @app.route("/", defaults={"path": ""}, methods=sorted(API_METHODS))
    @app.route("/<path:path>", methods=sorted(API_METHODS))
    def appmesh(path: str) -> Response:
        status_code, headers, body = handle_api(
            service, request.method, request.path, request.args, request.headers, request.get_data()
        )
        return Response(body, status=status_code, headers=headers)

    app.wsgi_app = ApiFastPath(app.wsgi_app, service, ADMIN_PREFIX)  # type: ignore[method-assign]
    return app
