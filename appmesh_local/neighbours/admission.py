"""What a Cloud Map / ACM / ACM PCA request must be before moto sees it: JSON, a known operation, valid input.

moto trusts its caller (boto3 validates client-side) and fails with KeyError, TypeError or
RecursionError on input AWS's front end would have refused; those failures were answered
500. AWS answers such requests itself, before the service runs, with the awsJson common
errors: SerializationException (body not a JSON object), UnknownOperationException
(no such X-Amz-Target operation) and ValidationException (Coral's "N validation errors
detected" naming each member), all HTTP 400. The model of each service is botocore's.
"""

from __future__ import annotations

import json
from typing import Any

from ..api_models.errors import BadRequest
from ..api_models.model import service_model
from ..api_models.validation import check_input
from . import backends
from .refusal import Refusal

# Each service's modelled catch-all for input it cannot process (HTTP 400), used when moto
# fails on input the model allows (a moto limitation, logged with its traceback).
INVALID_INPUT = {
    backends.CLOUD_MAP: "InvalidInput",
    backends.ACM: "ValidationException",
    backends.ACM_PCA: "InvalidRequestException",
}


def admit(service: str, operation: str, body: bytes) -> dict[str, Any]:
    """The request's params, or a Refusal with AWS's code and message."""
    if operation not in service_model(service).operation_names:
        raise Refusal("UnknownOperationException", f"The operation {operation!r} is not supported by {service}")
    try:
        params = json.loads(body or b"{}")
    except (ValueError, RecursionError):
        raise Refusal("SerializationException", "The request body is not valid JSON or is nested too deeply") from None
    if not isinstance(params, dict):
        raise Refusal("SerializationException", "The request body must be a JSON object")
    try:
        check_input(service, operation, params)
    except BadRequest as error:
        raise Refusal("ValidationException", error.message) from None
    return params
