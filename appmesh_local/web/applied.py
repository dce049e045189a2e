"""`/_appmesh-local/applied/<account>/<region>[/<name>]`: what `appmesh-local apply` made.

A CloudFormation stack (or the set of applied Kubernetes objects) is remembered by the
server it was applied to, so a later `apply` of a changed template knows what to update
and delete, `Fn::ImportValue` finds the exports of stacks applied earlier, and any
machine can re-apply or delete it. The documents are opaque JSON to the server.
"""

from __future__ import annotations

import re

from flask import Flask, Response, abort, jsonify, request

from ..service import AppMeshService

PREFIX = "/_appmesh-local/applied"
_ACCOUNT = re.compile(r"[0-9]{12}")
_REGION = re.compile(r"[a-z]{2}(-[a-z]+)+-[0-9]+")
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9._-]{0,127}")


def _check(account: str, region: str, name: str | None = None) -> None:
    if (
        not _ACCOUNT.fullmatch(account)
        or not _REGION.fullmatch(region)
        or (name is not None and not _NAME.fullmatch(name))
    ):
        abort(400)


def register_applied_sets(app: Flask, service: AppMeshService) -> None:
    store = service.store

    @app.get(f"{PREFIX}/<account>/<region>")
    def list_applied(account: str, region: str) -> Response:
        _check(account, region)
        return jsonify({"applied": store.applied_sets(account, region)})

    @app.get(f"{PREFIX}/<account>/<region>/<name>")
    def get_applied(account: str, region: str, name: str) -> Response:
        _check(account, region, name)
        document = store.applied_set(account, region, name)
        if document is None:
            abort(404)
        return jsonify(document)

    @app.put(f"{PREFIX}/<account>/<region>/<name>")
    def put_applied(account: str, region: str, name: str) -> Response:
        _check(account, region, name)
        document = request.get_json(silent=True)
        if not isinstance(document, dict):
            abort(400)
        store.put_applied_set(account, region, name, document)
        return jsonify({"name": name})

    @app.delete(f"{PREFIX}/<account>/<region>/<name>")
    def delete_applied(account: str, region: str, name: str) -> Response:
        _check(account, region, name)
        if not store.delete_applied_set(account, region, name):
            abort(404)
        return jsonify({"name": name})
