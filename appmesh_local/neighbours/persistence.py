"""Keep Cloud Map, ACM and ACM PCA state across restarts: a snapshot file of moto's backends.

moto holds everything in memory. Replaying a journal of calls cannot rebuild it: ids are
random, and a private CA gets a fresh key on creation, which its replayed certificates would
not match. So after each successful mutating call the backends are pickled whole, written to
a temporary file and renamed over the state file (a crash leaves the old or the new file,
never half of one; no fsync, so power loss may lose the last calls). Certificates and keys,
which `cryptography` cannot pickle, travel as PEM. At start the file is loaded; if it cannot
be (say, after a moto upgrade), it is moved aside and the services start empty.

The file is trusted like the rest of the state directory (pickle runs code on load). moto's
state is process-wide: one state file per process.
"""

from __future__ import annotations

import io
import logging
import os
import pickle
import time
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from . import backends

log = logging.getLogger(__name__)
FORMAT = 1
SERVICES = (backends.CLOUD_MAP, backends.ACM, backends.ACM_PCA)
READ_PREFIXES = ("Get", "List", "Describe", "Discover", "Export")


def is_mutating(operation: str) -> bool:
    return not operation.startswith(READ_PREFIXES)


class NeighbourState:
    """The snapshot file at `path`. Call `load()` once at start, `save()` after each change."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def load(self) -> bool:
        """Install the saved backends; False if there was nothing (usable) to load."""
        if not self.path.exists():
            return False
        try:
            saved = pickle.loads(self.path.read_bytes())
            if saved.get("format") != FORMAT:
                raise ValueError(f"unknown format {saved.get('format')!r}")
        except Exception:  # noqa: BLE001 - unreadable state must not stop the server
            aside = self.path.with_name(f"{self.path.name}.unreadable-{int(time.time())}")
            log.warning("cannot load %s; moved to %s, Cloud Map/ACM start empty", self.path, aside, exc_info=True)
            os.replace(self.path, aside)
            return False
        from moto.backends import get_backend

        with backends.LOCK:
            for service, accounts in saved["backends"].items():
                for account, regions in accounts.items():
                    per_account = get_backend(service)[account]
                    per_account.update(regions)
        return True

    def save(self) -> None:
        """Write every Cloud Map/ACM/ACM PCA backend moto has built. Caller holds `backends.LOCK`."""
        from moto.backends import get_backend

        state = {
            service: {account: dict(per_account.items()) for account, per_account in get_backend(service).items()}  # type: ignore[call-overload]
            for service in SERVICES
        }
        buffer = io.BytesIO()
        _Pickler(buffer, protocol=pickle.HIGHEST_PROTOCOL).dump({"format": FORMAT, "backends": state})
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_name(self.path.name + ".tmp")
        temporary.write_bytes(buffer.getvalue())
        os.replace(temporary, self.path)


class _Pickler(pickle.Pickler):
    """Pickles the `cryptography` objects moto keeps (certificates, RSA and EC keys) as PEM."""

    def reducer_override(self, obj: Any) -> Any:
        if isinstance(obj, (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey)):
            return _reduce_key(obj)
        if isinstance(obj, x509.Certificate):
            return _reduce_certificate(obj)
        return NotImplemented


def _reduce_key(key: Any) -> tuple[Any, tuple[bytes]]:
    return load_key, (
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()),
    )


def _reduce_certificate(certificate: x509.Certificate) -> tuple[Any, tuple[bytes]]:
    return load_certificate, (certificate.public_bytes(serialization.Encoding.PEM),)


def load_certificate(pem: bytes) -> x509.Certificate:
    return x509.load_pem_x509_certificate(pem)


def load_key(pem: bytes) -> Any:
    return serialization.load_pem_private_key(pem, password=None)
