"""Stand-in for the App Mesh Flask app the middleware wraps."""

from __future__ import annotations

from flask import Flask

INNER_BODY = "answered by the wrapped app"


def inner_app() -> Flask:
    """Stands in for the App Mesh Flask app: says who answered."""
    app = Flask("inner")

    @app.route("/", defaults={"path": ""}, methods=["GET", "POST", "PUT", "DELETE"])
    @app.route("/<path:path>", methods=["GET", "POST", "PUT", "DELETE"])
    def anything(path: str) -> str:
        return INNER_BODY

    return app
