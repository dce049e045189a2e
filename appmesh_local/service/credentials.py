"""The credentials a server accepts signatures from: a shared-credentials file and its environment.

A signature can only be checked by someone who knows the secret key, so a server that verifies
signatures must be told the key pairs it trusts. Two sources, both in the format AWS tools
already use: an AWS shared-credentials file (INI; every profile's `aws_access_key_id` and
`aws_secret_access_key`, and optionally `aws_account_id`) and the server's own
`AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` (/ `AWS_ACCOUNT_ID`). A key's account is the one
its profile names, else the key id itself when it is 12 digits (this emulator's convention for
choosing an account, as in `identity.py`), else the default account.
"""

from __future__ import annotations

import configparser
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from .context import DEFAULT_ACCOUNT

_ACCOUNT_ID = re.compile(r"\d{12}")


class CredentialsError(Exception):
    """A credentials file that cannot be used (one line for the user)."""


@dataclass(frozen=True)
class Credential:
    access_key: str
    secret_key: str
    account: str


class CredentialStore:
    """Access key id → secret and account."""

    def __init__(self, credentials: list[Credential] | None = None) -> None:
        self._by_key = {c.access_key: c for c in credentials or []}

    def __len__(self) -> int:
        return len(self._by_key)

    def secret_for(self, access_key: str) -> str | None:
        found = self._by_key.get(access_key)
        return found.secret_key if found else None

    def account_for(self, access_key: str) -> str:
        found = self._by_key.get(access_key)
        return found.account if found else account_of_key(access_key, None)

    @classmethod
    def load(cls, file: Path | None = None, environ: Mapping[str, str] | None = None) -> CredentialStore:
        """Every key pair of `file` (if given) and of `environ` (if it has one)."""
        found: list[Credential] = []
        if file is not None:
            found += _from_file(Path(file))
        environ = os.environ if environ is None else environ
        key, secret = environ.get("AWS_ACCESS_KEY_ID"), environ.get("AWS_SECRET_ACCESS_KEY")
        if key and secret:
            found.append(Credential(key, secret, account_of_key(key, environ.get("AWS_ACCOUNT_ID"))))
        return cls(found)


def account_of_key(access_key: str, named: str | None) -> str:
    if named and _ACCOUNT_ID.fullmatch(named):
        return named
    return access_key if _ACCOUNT_ID.fullmatch(access_key) else DEFAULT_ACCOUNT


def _from_file(path: Path) -> list[Credential]:
    parser = configparser.ConfigParser(interpolation=None)
    try:
        with open(path, encoding="utf-8") as handle:
            parser.read_file(handle)
    except OSError as error:
        raise CredentialsError(f"cannot read credentials file {path}: {error.strerror or error}") from None
    except configparser.Error as error:
        raise CredentialsError(f"credentials file {path} is not an INI file: {' '.join(str(error).split())}") from None
    found = []
    for section in parser.sections():
        profile = parser[section]
        key, secret = profile.get("aws_access_key_id"), profile.get("aws_secret_access_key")
        if not key or not secret:
            raise CredentialsError(
                f"credentials file {path}: [{section}] needs aws_access_key_id and aws_secret_access_key"
            )
        found.append(
            Credential(key.strip(), secret.strip(), account_of_key(key.strip(), profile.get("aws_account_id")))
        )
    if not found:
        raise CredentialsError(f"credentials file {path} has no profile with aws_access_key_id")
    return found
