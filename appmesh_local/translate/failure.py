"""A resource that cannot be translated, named as App Mesh names it.

A failure raised while translating a shared resource (a virtual service every client reaches, a
route target) travels through each proxy that uses it, so every such proxy's failure says which
resource is at fault and why, not only that the proxy failed. The innermost name wins: it is the
resource whose value could not be turned into Envoy configuration.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator


class ResourceFailure(Exception):
    """`resource` (e.g. "virtualService db.local") could not be translated: `cause` says why."""

    def __init__(self, resource: str, cause: str) -> None:
        super().__init__(f"{resource}: {cause}")
        self.resource = resource
        self.cause = cause

    @property
    def reason(self) -> str:
        return str(self)

    @classmethod
    def wrap(cls, resource: str, error: BaseException) -> ResourceFailure:
        """`error` itself when it already names a resource, else `error` attributed to `resource`."""
        if isinstance(error, ResourceFailure):
            return error
        return cls(resource, describe(error))

    @classmethod
    @contextmanager
    def naming(cls, resource: str, failed: dict[str, ResourceFailure]) -> Iterator[None]:
        """Attribute any failure inside the block to `resource`, once per run: `failed` remembers it,
        so the next user of the same resource fails at once with the same reason."""
        if resource in failed:
            raise failed[resource]
        try:
            yield
        except Exception as error:
            failure = cls.wrap(resource, error)
            failed[resource] = failure
            if failure is error:
                raise
            raise failure from error


def describe(error: BaseException) -> str:
    """`Type: message` on one line (protobuf and validation messages may span several)."""
    text = " ".join(str(error).split())
    return f"{type(error).__name__}: {text}" if text else type(error).__name__
