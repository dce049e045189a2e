"""The client side of `/_appmesh-local/applied`: stacks and applied manifests, kept by the server."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from .errors import ApplyError

KUBERNETES = "kubernetes"  # the applied set that holds every Kubernetes object, like a cluster's API server


class Registry:
    """Read and write applied sets of one account and region on one server."""

    def __init__(self, endpoint: str, account: str, region: str) -> None:
        self.base = f"{endpoint.rstrip('/')}/_appmesh-local/applied/{account}/{region}"

    def _request(self, method: str, path: str = "", document: Any = None) -> Any:
        data = json.dumps(document).encode() if document is not None else None
        request = urllib.request.Request(
            self.base + path, data=data, method=method, headers={"content-type": "application/json"} if data else {}
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return None
            raise ApplyError(f"the server refused {method} {self.base + path}: HTTP {exc.code}") from None
        except OSError as exc:
            raise ApplyError(f"cannot reach {self.base}: {getattr(exc, 'reason', exc)}") from None

    def get(self, name: str) -> dict[str, Any] | None:
        return self._request("GET", "/" + urllib.parse.quote(name, safe=""))

    def put(self, name: str, document: dict[str, Any]) -> None:
        self._request("PUT", "/" + urllib.parse.quote(name, safe=""), document)

    def delete(self, name: str) -> None:
        self._request("DELETE", "/" + urllib.parse.quote(name, safe=""))

    def all(self) -> list[dict[str, Any]]:
        found = self._request("GET")
        return list((found or {}).get("applied", []))

    def exports(self, excluding: str | None = None) -> dict[str, tuple[str, Any]]:
        """{export name: (stack, value)} of every stack applied here (but `excluding`)."""
        found: dict[str, tuple[str, Any]] = {}
        for document in self.all():
            if document.get("kind") != "cloudformation" or document.get("name") == excluding:
                continue
            for name, value in (document.get("exports") or {}).items():
                found[name] = (document["name"], value)
        return found
