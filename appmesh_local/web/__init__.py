"""HTTP front door: the Flask app speaking App Mesh's rest-json."""

from .app import create_app

__all__ = ["create_app"]
