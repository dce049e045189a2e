"""The xDS authentication policy of a server: its token key and the credentials SigV4 streams may use.

`xds.auth` knows tokens and what a stream presented; `service.sigv4` knows AWS signatures. This
joins them: a signed xDS stream is verified as App Mesh's management service verified Envoy's,
a POST to the gRPC method's path whose `content-type` (application/grpc) and `te` (trailers) the
gRPC layer consumed before the headers reach us, so their well-known values are put back.
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

from appmesh_local.service.credentials import CredentialStore
from appmesh_local.service.sigv4 import SigV4Verifier
from appmesh_local.xds.auth import SIGNING_SERVICES, SignatureCheck, TokenKey, XdsAuth

GRPC_HEADERS = {"content-type": "application/grpc", "te": "trailers"}


def sigv4_check(credentials: CredentialStore) -> SignatureCheck:
    """A SignatureCheck over `credentials` (raises SignatureError, whose text names AWS's error code)."""
    verifier = SigV4Verifier(credentials, SIGNING_SERVICES)

    def check(path: str, headers: Mapping[str, str], hosts: Sequence[str]) -> tuple[str, str]:
        principal = verifier.verify("POST", path, {**GRPC_HEADERS, **headers}, hosts=hosts)
        return principal.account, principal.region

    return check


def build_xds_auth(token_key: Path | TokenKey, credentials: CredentialStore | None) -> XdsAuth:
    """Tokens under the key at `token_key` (created if missing); SigV4 when credentials are known."""
    key = token_key if isinstance(token_key, TokenKey) else TokenKey.load_or_create(token_key)
    return XdsAuth(tokens=key, sigv4=sigv4_check(credentials) if credentials else None)
