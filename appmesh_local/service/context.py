"""Who is calling: the account and region every resource is isolated by."""

from __future__ import annotations

from dataclasses import dataclass

from ..settings import DEFAULT_ACCOUNT, DEFAULT_REGION

__all__ = ["DEFAULT_ACCOUNT", "DEFAULT_REGION", "RequestContext"]


@dataclass(frozen=True)
class RequestContext:
    account: str = DEFAULT_ACCOUNT
    region: str = DEFAULT_REGION
