"""PEM files → SDS `Secret` messages, re-read when a file changes (certificate rotation).

A secret is either a certificate with its key (`(chain_path, key_path)` → `tls_certificate`)
or a CA bundle (`ca_path` → `validation_context`), as the SPIRE agent served App Mesh's
Envoys over APPMESH_SDS_SOCKET_PATH. Material travels inline, so Envoy (uid 1337) never
needs to read the files itself.
"""

from __future__ import annotations

import hashlib
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping, Union

from envoy.config.core.v3 import base_pb2
from envoy.extensions.transport_sockets.tls.v3 import common_pb2, secret_pb2

PathLike = Union[str, "os.PathLike[str]"]
# name → (certificate chain, private key) for a certificate, or a CA bundle path for trust.
SecretFiles = Mapping[str, tuple[PathLike, PathLike] | PathLike]


@dataclass(frozen=True)
class _Loaded:
    stamp: tuple[tuple[int, int], ...]  # (mtime_ns, size) of each file
    message: secret_pb2.Secret
    digest: str


def _secret(name: str, files: tuple[Path, ...], texts: tuple[str, ...]) -> secret_pb2.Secret:
    if len(files) == 2:
        return secret_pb2.Secret(
            name=name,
            tls_certificate=common_pb2.TlsCertificate(
                certificate_chain=base_pb2.DataSource(inline_string=texts[0]),
                private_key=base_pb2.DataSource(inline_string=texts[1]),
            ),
        )
    return secret_pb2.Secret(
        name=name,
        validation_context=common_pb2.CertificateValidationContext(
            trusted_ca=base_pb2.DataSource(inline_string=texts[0])
        ),
    )


class SecretStore:
    """The configured secrets; `get` re-reads a secret's files only when their stamp changed."""

    def __init__(self, secrets: SecretFiles) -> None:
        self._files: dict[str, tuple[Path, ...]] = {}
        for name, spec in secrets.items():
            files = tuple(Path(p) for p in spec) if isinstance(spec, (tuple, list)) else (Path(spec),)
            if len(files) not in (1, 2):
                raise ValueError(f"secret {name}: give (certificate chain, private key) or a CA bundle path")
            self._files[name] = files
        self._loaded: dict[str, _Loaded] = {}
        self._lock = threading.Lock()

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(sorted(self._files))

    def get(self, name: str) -> tuple[secret_pb2.Secret, str] | None:
        """(Secret, digest of its material) or None when unknown or its files are unreadable."""
        files = self._files.get(name)
        if files is None:
            return None
        try:
            stamp = tuple((st.st_mtime_ns, st.st_size) for st in (f.stat() for f in files))
        except OSError:
            return None
        with self._lock:
            loaded = self._loaded.get(name)
            if loaded is None or loaded.stamp != stamp:
                try:
                    texts = tuple(f.read_text() for f in files)
                except OSError:
                    return None
                digest = hashlib.blake2b("\0".join(texts).encode(), digest_size=8).hexdigest()
                loaded = _Loaded(stamp, _secret(name, files, texts), digest)
                self._loaded[name] = loaded
            return loaded.message, loaded.digest

    def snapshot(self, names: Iterable[str]) -> tuple[list[secret_pb2.Secret], str]:
        """The known secrets among `names` and a version naming exactly that material."""
        found: list[secret_pb2.Secret] = []
        parts: list[str] = []
        for name in sorted(set(names)):
            item = self.get(name)
            if item is not None:
                found.append(item[0])
                parts.append(f"{name}={item[1]}")
        version = hashlib.blake2b("|".join(parts).encode(), digest_size=8).hexdigest()
        return found, version
