"""Account and region of a request, read from its SigV4 credential scope.

Without `serve --require-sigv4` nothing is verified: the region comes from the credential
scope and the account from a 12-digit access key id (else the default account). With it,
the front door (web/sigv4.py) has verified the signature first and puts the account of the
verified key in the WSGI environ under VERIFIED_ACCOUNT, which no HTTP header can set
(header names become `HTTP_*` keys), and that account wins.
"""

from __future__ import annotations

import re
from typing import Any, Mapping, Protocol

from .context import DEFAULT_ACCOUNT, DEFAULT_REGION, RequestContext

VERIFIED_ACCOUNT = "appmesh_local.verified_account"


class HeaderSource(Protocol):
    """What is read from request headers: a dict, werkzeug's Headers, the fast path's environ view."""

    def get(self, key: str, default: str, /) -> Any: ...


_CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/\d{8}/([^/,\s]+)/")
_ACCOUNT_ID = re.compile(r"\d{12}")


def account_for_key(access_key: str) -> str:
    """The account an access key id stands for when nothing else says: itself if 12 digits."""
    return access_key if _ACCOUNT_ID.fullmatch(access_key) else DEFAULT_ACCOUNT


def context_from(
    headers: HeaderSource, query: Mapping[str, str], verified_account: str | None = None
) -> RequestContext:
    """Region from the credential scope; account as verified, else from a 12-digit access key id."""
    source = headers.get("Authorization", "") or ""
    if "Credential=" not in source:
        source = "Credential=" + (query.get("X-Amz-Credential", "") or "")
    match = _CREDENTIAL.search(source)
    if not match:
        return RequestContext(account=verified_account or DEFAULT_ACCOUNT)
    access_key, region = match.groups()
    account = verified_account or account_for_key(access_key)
    return RequestContext(account=account, region=region or DEFAULT_REGION)
