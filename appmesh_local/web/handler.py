"""The one App Mesh request handler: request line, query, headers, body in; status, headers, body out.

It knows nothing of Flask or WSGI, so the Flask view and the WSGI fast path
(web/fastpath.py) share it and cannot drift apart.
"""

from __future__ import annotations

import logging
import uuid
from typing import Mapping

from ..api_models.errors import ApiError
from ..api_models.validation import validate_input
from ..api_models.wire import match_operation, parse_request, serialize_error, serialize_response
from ..service import AppMeshService
from ..service.identity import HeaderLookup, context_from

log = logging.getLogger(__name__)

Answer = tuple[int, dict[str, str], bytes]


def handle_api(
    service: AppMeshService, method: str, path: str, query: Mapping[str, str], headers: HeaderLookup, body: bytes
) -> Answer:
    """Route, parse, validate, dispatch and serialize one call; every failure becomes AWS's error shape."""
    try:
        operation, labels = match_operation(method, path)
        params = parse_request(operation, labels, query, body)
        params = validate_input(operation, params)
        result = service.dispatch(operation, context_from(headers, query), params)
        status_code, response_headers, response_body = serialize_response(operation, result)
    except ApiError as error:
        status_code, response_headers, response_body = serialize_error(error)
    except Exception:  # noqa: BLE001 - the caller gets AWS's 500, the log gets the traceback
        log.exception("internal error on %s %s", method, path)
        status_code, response_headers, response_body = serialize_error(ApiError("An internal error occurred"))
    response_headers["x-amzn-RequestId"] = str(uuid.uuid4())
    return status_code, response_headers, response_body
