"""Flask app factory: one generic view turns any App Mesh request into a service call."""
from __future__ import annotations

import logging
import uuid
from typing import Any, Callable

from flask import Flask, Response, jsonify, request

from ..api_models.errors import ApiError
from ..api_models.validation import validate_input
from ..api_models.wire import match_operation, parse_request, serialize_error, serialize_response
from ..service import AppMeshService
from .identity import context_from

log = logging.getLogger(__name__)
ADMIN_PREFIX = "/_appmesh-local"


def create_app(service: AppMeshService, status: Callable[[], dict[str, Any]] | None = None) -> Flask:
    """The WSGI app. `status` (from the xDS bridge) feeds GET /_appmesh-local/status."""
    app = Flask("appmesh_local")

    @app.get(f"{ADMIN_PREFIX}/health")
    def health() -> Response:
        return jsonify({"status": "ok", "revision": service.store.revision})

    @app.get(f"{ADMIN_PREFIX}/status")
    def xds_status() -> Response:
        return jsonify(status() if status else {"xds": "disabled"})

    @app.route("/", defaults={"path": ""}, methods=["GET", "PUT", "POST", "DELETE", "PATCH", "HEAD"])
    @app.route("/<path:path>", methods=["GET", "PUT", "POST", "DELETE", "PATCH", "HEAD"])
    def appmesh(path: str) -> Response:
        try:
            operation, labels = match_operation(request.method, request.path)
            params = parse_request(operation, labels, request.args, request.get_data())
            params = validate_input(operation, params)
            result = service.dispatch(operation, context_from(request.headers, request.args), params)
            status_code, headers, body = serialize_response(operation, result)
        except ApiError as error:
            status_code, headers, body = serialize_error(error)
        except Exception:  # noqa: BLE001 - the caller gets AWS's 500, the log gets the traceback
            log.exception("internal error on %s %s", request.method, request.path)
            status_code, headers, body = serialize_error(ApiError("An internal error occurred"))
        headers["x-amzn-RequestId"] = str(uuid.uuid4())
        return Response(body, status=status_code, headers=headers)

    return app
