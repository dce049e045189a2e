"""Who may stream a proxy's configuration: per-proxy tokens and SigV4-signed streams.

Without authentication any local process that names a node in its first request receives that
node's configuration, ACM private keys included (issue 15). When the server is asked to
authenticate (`serve --xds-auth`), every ADS stream must present, in its request headers
(gRPC metadata), one of:

- a per-proxy token (`x-appmesh-local-token`), which the bootstrap carries as `initial_metadata`:
  an HMAC-SHA256, under the server's key, of the proxy's account, region, mesh, kind and name.
  It opens that proxy's stream and no other; `appmesh-local bootstrap|envoy|task` mint it from
  the key file, so whoever can read that file (by default inside the state directory) can mint;
- a SigV4 signature with a credential the server knows, as App Mesh's Envoy image signed its xDS
  streams (service `appmesh`; App Mesh's agent configured Envoy's `aws_iam` gRPC credentials,
  which Envoy since 1.35 replaces with the `aws_request_signing` upstream filter). The signer's
  account must own the proxy's mesh and the credential scope must name the proxy's region.

Credentials are checked when the stream starts; the proxy they open is checked against the node
the first request names, before anything is sent. A refused stream ends with UNAUTHENTICATED or
PERMISSION_DENIED and the reason, which is also logged and listed by `status`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping, Sequence

from appmesh_local.xds.node_id import ProxyRef

TOKEN_HEADER = "x-appmesh-local-token"
TOKEN_PREFIX = "aml1."
SIGNING_SERVICES = ("appmesh", "appmesh-preview")  # the App Mesh agent's APPMESH_SIGNING_NAME choices
ENVOY_AUTHORITY = "xds_cluster"  # Envoy's :authority for an envoy_grpc service is its cluster's name
KEY_BYTES = 32

# (path, headers, possible :authority values) → (account, region) of the signer; raises if invalid.
SignatureCheck = Callable[[str, Mapping[str, str], Sequence[str]], tuple[str, str]]


class AuthKeyError(Exception):
    """A token key file that cannot be used (one line for the user)."""


class TokenKey:
    """The server's secret for per-proxy tokens."""

    def __init__(self, key: bytes) -> None:
        if len(key) < 16:
            raise ValueError("a token key needs at least 16 bytes")
        self._key = key

    @classmethod
    def generate(cls) -> TokenKey:
        return cls(secrets.token_bytes(KEY_BYTES))

    @classmethod
    def load(cls, path: Path) -> TokenKey:
        """The key in `path` (hex text, as `load_or_create` writes it)."""
        try:
            text = Path(path).read_text().strip()
        except OSError as error:
            raise AuthKeyError(f"cannot read xDS token key {path}: {error.strerror or error}") from None
        try:
            return cls(bytes.fromhex(text))
        except ValueError:
            raise AuthKeyError(f"xDS token key {path} is not {KEY_BYTES * 2} hexadecimal digits") from None

    @classmethod
    def load_or_create(cls, path: Path) -> TokenKey:
        """The key in `path`, made (mode 0600, never replacing a file) if there is none yet."""
        path = Path(path)
        if path.exists():
            return cls.load(path)
        key = cls.generate()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return cls.load(path)  # made by someone else meanwhile: theirs counts
        except OSError as error:
            raise AuthKeyError(f"cannot create xDS token key {path}: {error.strerror or error}") from None
        with os.fdopen(fd, "w") as handle:
            handle.write(key._key.hex() + "\n")
        return key

    def token(self, proxy: ProxyRef) -> str:
        """The token that opens `proxy`'s stream (and no other)."""
        message = "\n".join((proxy.account, proxy.region, proxy.mesh, proxy.kind, proxy.name)).encode()
        digest = hmac.new(self._key, message, hashlib.sha256).digest()
        return TOKEN_PREFIX + base64.urlsafe_b64encode(digest).decode().rstrip("=")

    def opens(self, token: str, proxy: ProxyRef) -> bool:
        return hmac.compare_digest(token.encode(), self.token(proxy).encode())


@dataclass(frozen=True)
class Presented:
    """What a stream offered when it started."""

    token: str | None = None
    signer: tuple[str, str] | None = None  # (account, region) of a valid signature
    signature_error: str | None = None  # why a signature present was not valid


@dataclass(frozen=True)
class Refusal:
    """Why a stream gets nothing; `authenticated`: it proved an identity, just not this proxy's."""

    reason: str
    authenticated: bool = False


class XdsAuth:
    """The server's policy: which streams may receive which proxy's configuration."""

    def __init__(
        self,
        tokens: TokenKey | None = None,
        sigv4: SignatureCheck | None = None,
        authorities: Sequence[str] = (ENVOY_AUTHORITY,),
    ) -> None:
        self.tokens = tokens
        self.sigv4 = sigv4
        self.authorities = tuple(authorities)

    def inspect(self, method: str, metadata: Sequence[tuple[str, str | bytes]]) -> Presented:
        """Read a stream's credentials from its headers (`method` is the gRPC path that was called)."""
        headers = {key.lower(): value for key, value in metadata if isinstance(value, str)}
        token = headers.get(TOKEN_HEADER)
        if "authorization" not in headers or self.sigv4 is None:
            return Presented(token=token)
        try:
            return Presented(token=token, signer=self.sigv4(method, headers, self.authorities))
        except Exception as error:  # noqa: BLE001 - any verification failure refuses, with its message
            return Presented(token=token, signature_error=str(error))

    def authorize(self, presented: Presented, proxy: ProxyRef | None, node_id: str) -> Refusal | None:
        """None when `presented` opens `proxy`'s stream, else why not."""
        if proxy is None:
            return Refusal(f"node id {node_id!r} names no proxy, and only a proxy's own credentials open a stream")
        if presented.token is not None and self.tokens is not None and self.tokens.opens(presented.token, proxy):
            return None
        if presented.signer is not None:
            account, region = presented.signer
            if account == proxy.account and region == proxy.region:
                return None
            return Refusal(
                f"the SigV4 signer (account {account}, region {region}) may not stream {proxy.short_id()} "
                f"of account {proxy.account} in {proxy.region}",
                authenticated=True,
            )
        if presented.token is not None:
            return Refusal(f"the {TOKEN_HEADER} token does not open {proxy.short_id()} ({proxy})")
        if presented.signature_error is not None:
            return Refusal(f"SigV4 signature refused: {presented.signature_error}")
        return Refusal(
            f"no credentials: the bootstrap must carry an {TOKEN_HEADER} token "
            f"(appmesh-local bootstrap --xds-auth-key FILE) or sign its xDS requests (--xds-sigv4)"
        )
