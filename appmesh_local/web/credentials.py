"""The access keys `serve --require-sigv4` accepts: from an AWS credentials file and/or the environment.

The file is the AWS shared-credentials format (`~/.aws/credentials`): every profile with
`aws_access_key_id` and `aws_secret_access_key` is one accepted key. A profile's
`aws_account_id` (a key the AWS SDKs and CLI read since 2024) names the account the key
acts in; without it the account follows the same rule as unauthenticated requests (a
12-digit access key id is its own account, anything else the default account).
"""

from __future__ import annotations

import configparser
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from ..service.identity import account_for_key


class CredentialsError(ValueError):
    """No usable credential, or an unreadable file: `serve` refuses to start with auth on."""


@dataclass(frozen=True)
class Credential:
    access_key: str
    secret_key: str
    account: str


def from_file(path: Path) -> dict[str, Credential]:
    parser = configparser.RawConfigParser()
    try:
        with open(path, encoding="utf-8") as handle:
            parser.read_file(handle)
    except (OSError, configparser.Error, UnicodeDecodeError) as error:
        raise CredentialsError(f"cannot read credentials file {path}: {error}") from None
    found: dict[str, Credential] = {}
    for profile in parser.sections():
        section = parser[profile]
        key, secret = section.get("aws_access_key_id"), section.get("aws_secret_access_key")
        if not key or not secret:
            continue
        account = section.get("aws_account_id") or account_for_key(key)
        found[key.strip()] = Credential(key.strip(), secret.strip(), account.strip())
    return found


def from_environ(environ: Mapping[str, str]) -> dict[str, Credential]:
    key, secret = environ.get("AWS_ACCESS_KEY_ID"), environ.get("AWS_SECRET_ACCESS_KEY")
    if not key or not secret:
        return {}
    account = environ.get("AWS_ACCOUNT_ID") or account_for_key(key)
    return {key: Credential(key, secret, account)}


def load(path: Path | None, environ: Mapping[str, str] | None = None) -> dict[str, Credential]:
    """The file's keys plus the environment's (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_ACCOUNT_ID)."""
    found = from_file(path) if path is not None else {}
    found.update(from_environ(os.environ if environ is None else environ))
    if not found:
        raise CredentialsError(
            "--require-sigv4 needs credentials: --credentials-file FILE (AWS credentials format) "
            "or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in the environment"
        )
    return found
