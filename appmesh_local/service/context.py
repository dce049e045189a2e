"""Who is calling: the account and region every resource is isolated by."""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_ACCOUNT = "123456789012"
DEFAULT_REGION = "us-east-1"


@dataclass(frozen=True)
class RequestContext:
    account: str = DEFAULT_ACCOUNT
    region: str = DEFAULT_REGION
