"""The web console at /_appmesh-local/console, and the JSON views it (and the CLI) read.

Resources are browsed and edited through the App Mesh API itself (the page calls the same REST
operations boto3 does, with the operation table derived from the botocore model), so a form
gets exactly the validation message the CLI gets. What the API has no operation for comes from
here: the meshes of every account and region, the live topology with each proxy's xDS state and
request counters, `explain` and `lint` (appmesh_local.insight).

The page is static files (console_static/): Preact with htm, vendored as one ES module, so
nothing is built at install time (console_static/README.md says how to refresh the vendored file).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Blueprint, Response, abort, jsonify, request, send_from_directory

from ..api_models.wire import operation_table
from ..insight.explain import render_text
from ..insight.inspector import Inspector, UnknownProxy
from ..insight.lint import WARNING, exit_code

STATIC = Path(__file__).with_name("console_static")
PROXY_KINDS = ("virtualNode", "virtualGateway")


def console_blueprint(inspector: Inspector | None, revision: Any) -> Blueprint:
    """`revision()` is the store's current revision (the page polls it to refresh without reloading)."""
    blueprint = Blueprint("console", __name__)

    @blueprint.get("/console/")
    @blueprint.get("/console")
    def index() -> Response:
        return send_from_directory(STATIC, "index.html", max_age=0)

    @blueprint.get("/console/<path:name>")
    def static_file(name: str) -> Response:
        return send_from_directory(STATIC, name, max_age=0)

    @blueprint.get("/api/operations")
    def operations() -> Response:
        return jsonify(operation_table())

    @blueprint.get("/api/changes")
    def changes() -> Response:
        generation = inspector.status.generation if inspector is not None and inspector.status is not None else 0
        return jsonify({"revision": revision(), "status": generation})

    @blueprint.get("/api/meshes")
    def meshes() -> Response:
        return jsonify(_inspector().inventory(request.args.get("account")))

    @blueprint.get("/api/meshes/<account>/<region>/<mesh>/topology")
    def topology(account: str, region: str, mesh: str) -> Response:
        with_stats = request.args.get("stats", "1") != "0"
        return _answer(lambda: _inspector().topology(account, region, mesh, with_stats=with_stats))

    @blueprint.get("/api/meshes/<account>/<region>/<mesh>/lint")
    def lint(account: str, region: str, mesh: str) -> Response:
        def findings() -> dict[str, Any]:
            found = _inspector().lint(account, region, mesh)
            fail_on = request.args.get("fail_on", WARNING)
            return {"findings": [item.to_dict() for item in found], "exit_code": exit_code(found, fail_on)}

        return _answer(findings)

    @blueprint.post("/api/meshes/<account>/<region>/<mesh>/explain")
    def explain(account: str, region: str, mesh: str) -> Response:
        body = request.get_json(silent=True) or {}
        kind, name, url = body.get("kind"), body.get("name"), body.get("url")
        if kind not in PROXY_KINDS or not isinstance(name, str) or not isinstance(url, str):
            return _error(400, "give kind (virtualNode | virtualGateway), name and url")
        headers = body.get("headers") or {}
        if not isinstance(headers, dict):
            return _error(400, "headers must be an object")
        method = str(body.get("method") or "GET")

        def explained() -> dict[str, Any]:
            explanation = _inspector().explain(account, region, mesh, kind, name, url, method, headers)
            return {**explanation.to_dict(), "text": render_text(explanation)}

        return _answer(explained)

    def _inspector() -> Inspector:
        if inspector is None:
            abort(_error(503, "the console needs the xDS bridge (serve without --no-xds)"))
        return inspector

    return blueprint


def _answer(compute: Any) -> Response:
    try:
        return jsonify(compute())
    except UnknownProxy as error:
        return _error(404, str(error))
    except ValueError as error:
        return _error(400, str(error))


def _error(status: int, message: str) -> Response:
    response = jsonify({"message": message})
    response.status_code = status
    return response
