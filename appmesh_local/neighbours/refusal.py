"""An AWS error a neighbour API answers instead of a result (raised by the code run around or instead of moto)."""

from __future__ import annotations


class Refusal(Exception):
    """A modelled (or AWS-common) error: `code` becomes the JSON `__type`, `status` the HTTP status."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status
