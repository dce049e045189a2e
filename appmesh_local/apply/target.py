"""The server `apply` talks to: its endpoint, the account and region to act as, API clients."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .registry import Registry


@dataclass
class Target:
    endpoint: str
    account: str
    region: str
    _clients: dict[str, Any] = field(default_factory=dict, repr=False)

    def client(self, service: str) -> Any:
        """A botocore client of `service` (appmesh, servicediscovery, acm, acm-pca) for this server."""
        if service not in self._clients:
            from ..clients import api_client

            self._clients[service] = api_client(self.endpoint, self.region, self.account, service)
        return self._clients[service]

    @property
    def appmesh(self) -> Any:
        return self.client("appmesh")

    @property
    def registry(self) -> Registry:
        return Registry(self.endpoint, self.account, self.region)
