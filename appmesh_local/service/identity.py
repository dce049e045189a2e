"""Account and region of a request, read from its SigV4 signature (never verified)."""

from __future__ import annotations

import re
from typing import Mapping, Protocol

from .context import DEFAULT_ACCOUNT, DEFAULT_REGION, RequestContext

_CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/\d{8}/([^/,\s]+)/")
_ACCOUNT_ID = re.compile(r"\d{12}")


class HeaderLookup(Protocol):
    """Request headers as any web layer holds them (werkzeug's Headers, a WSGI environ view): `get` only."""

    def get(self, key: str, default: str, /) -> str | None: ...


def context_from(headers: HeaderLookup, query: Mapping[str, str]) -> RequestContext:
    """Region from the credential scope; account from a 12-digit access key id, else the default."""
    source = headers.get("Authorization", "") or ""
    if "Credential=" not in source:
        source = "Credential=" + query.get("X-Amz-Credential", "")
    match = _CREDENTIAL.search(source)
    if not match:
        return RequestContext()
    access_key, region = match.groups()
    account = access_key if _ACCOUNT_ID.fullmatch(access_key) else DEFAULT_ACCOUNT
    return RequestContext(account=account, region=region or DEFAULT_REGION)
