"""App Mesh's modelled errors: the code is the model's shape name, the status its httpStatusCode."""

from __future__ import annotations

from functools import cache

from .model import service_model


@cache
def status_for(code: str) -> int:
    """HTTP status of an error code as the model declares it (500 for unmodelled codes)."""
    try:
        shape = service_model().shape_for(code)
    except Exception:  # noqa: BLE001 - unknown shape names are simply unmodelled
        return 500
    return int(shape.metadata.get("error", {}).get("httpStatusCode", 500))


class ApiError(Exception):
    """An error the API returns to the caller as `x-amzn-ErrorType` + `{"message": ...}`."""

    code = "InternalServerErrorException"

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        if code:
            self.code = code
        self.message = message

    @property
    def status(self) -> int:
        return status_for(self.code)


class BadRequest(ApiError):
    code = "BadRequestException"


class NotFound(ApiError):
    code = "NotFoundException"


class Conflict(ApiError):
    code = "ConflictException"


class ResourceInUse(ApiError):
    code = "ResourceInUseException"


class LimitExceeded(ApiError):
    code = "LimitExceededException"


class TooManyTags(ApiError):
    code = "TooManyTagsException"
