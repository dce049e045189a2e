"""Keep Cloud Map, ACM and ACM PCA state across restarts: a snapshot file of moto's backends.

moto holds everything in memory. Replaying a journal of calls cannot rebuild it: ids are
random, and a private CA gets a fresh key on creation, which its replayed certificates would
not match. So after each successful mutating call the backends are pickled whole, written to
a temporary file and renamed over the state file before the call is answered: a crash (even
SIGKILL) leaves the old or the new file, never half of one, and never loses an acknowledged
call. Like the SQLite store (WAL, synchronous=NORMAL) there is no fsync: only an OS crash could
lose the last calls. Certificates and keys, which `cryptography` cannot pickle, travel as PEM.

A snapshot that cannot be written (disk full, read-only) fails the call: `save()` raises, and
`restore()` puts the backends back as the file on disk has them, so what the client was told
failed is not left half-applied in memory. At start a file that cannot be loaded (damaged, or
written by an incompatible moto) stops the server with a one-line reason: it is never set
aside or reset silently.

The file is trusted like the rest of the state directory (pickle runs code on load). moto's
state is process-wide: one state file per process.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import pickle
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from ..store.state_dir import StateDirError
from . import backends

log = logging.getLogger(__name__)
FORMAT = 1
_HINT = "move it away to start Cloud Map, ACM and ACM PCA empty, or restore it from a backup"
SERVICES = (backends.CLOUD_MAP, backends.ACM, backends.ACM_PCA)
READ_PREFIXES = ("Get", "List", "Describe", "Discover", "Export")


def is_mutating(operation: str) -> bool:
    return not operation.startswith(READ_PREFIXES)


class DamagedState(StateDirError):
    """The snapshot file exists but cannot be loaded; the message says which file and what to do."""


class NeighbourState:
    """The snapshot file at `path`. Call `load()` once at start, `save()` after each change."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def load(self) -> bool:
        """Install the saved backends; False if there is no file yet. Raise DamagedState if unusable."""
        saved = self._read()
        if saved is None:
            return False
        self._install(saved, replace=False)
        return True

    def restore(self) -> None:
        """Make the backends exactly what the file holds (empty without a file): undo unsaved calls.

        Caller holds `backends.LOCK`. Regions the file does not hold are dropped; moto builds
        them afresh, empty, on their next use.
        """
        self._install(self._read() or {"backends": {}}, replace=True)

    def _read(self) -> dict[str, Any] | None:
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as error:
            raise DamagedState(f"cannot read {self.path}: {error.strerror or error}") from None
        if not data:
            raise DamagedState(f"{self.path} is empty (truncated?); {_HINT}")
        try:
            saved = pickle.loads(data)
        except Exception as error:  # noqa: BLE001 - any unpickling failure is a damaged or foreign file
            raise DamagedState(f"{self.path} cannot be loaded ({type(error).__name__}: {error}); {_HINT}") from None
        if not isinstance(saved, dict) or saved.get("format") != FORMAT:
            found = saved.get("format") if isinstance(saved, dict) else type(saved).__name__
            raise DamagedState(f"{self.path} has an unknown format ({found!r}); {_HINT}")
        return saved

    def _install(self, saved: dict[str, Any], replace: bool) -> None:
        from moto.backends import get_backend

        with backends.LOCK:
            for service in SERVICES:
                accounts = saved["backends"].get(service, {})
                backend_dict = get_backend(service)  # type: ignore[call-overload]
                if replace:
                    for account, per_account in list(backend_dict.items()):
                        for region in [r for r in per_account if r not in accounts.get(account, {})]:
                            del per_account[region]
                for account, regions in accounts.items():
                    backend_dict[account].update(regions)

    def save(self) -> None:
        """Write every Cloud Map/ACM/ACM PCA backend moto has built. Caller holds `backends.LOCK`."""
        from moto.backends import get_backend

        state = {
            service: {account: dict(per_account.items()) for account, per_account in get_backend(service).items()}  # type: ignore[attr-defined]
            for service in SERVICES
        }
        buffer = io.BytesIO()
        _Pickler(buffer, protocol=pickle.HIGHEST_PROTOCOL).dump({"format": FORMAT, "backends": state})
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_name(self.path.name + ".tmp")
        try:
            temporary.write_bytes(buffer.getvalue())
            os.replace(temporary, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                temporary.unlink()  # a partial file would only take space from the next attempt
            raise


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
