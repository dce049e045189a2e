"""rest-json on the wire, as the model describes it: routing, request parsing, response writing.

Routes come from each operation's `http.requestUri`; members are read from the
URI, the query string or the JSON body according to their `location`.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from functools import cache
from typing import Any, Mapping

from werkzeug.exceptions import MethodNotAllowed
from werkzeug.exceptions import NotFound as NoRoute
from werkzeug.routing import Map, MapAdapter, Rule

from .. import jsontext
from .errors import ApiError, BadRequest, status_for
from .model import service_model

_LABEL = re.compile(r"\{([^}+]+)(\+?)\}")
JSON_HEADERS = {"Content-Type": "application/json"}


class UnknownOperation(ApiError):
    code = "UnknownOperationException"

    @property
    def status(self) -> int:
        return 404


@cache
def _url_map() -> Map:
    rules = []
    model = service_model()
    for name in model.operation_names:
        http = model.operation_model(name).http
        path = http["requestUri"].split("?", 1)[0]
        path = _LABEL.sub(lambda m: f"<{'path:' if m.group(2) else ''}{m.group(1)}>", path)
        rules.append(Rule(path, methods=[http["method"]], endpoint=name))
    return Map(rules, strict_slashes=False, merge_slashes=False)


@cache
def _adapter() -> MapAdapter:
    return _url_map().bind("appmesh.local")


def match_operation(method: str, path: str) -> tuple[str, dict[str, str]]:
    """The operation name and URI labels for a request line."""
    try:
        endpoint, labels = _adapter().match(path, method=method.upper())
        return str(endpoint), {str(k): str(v) for k, v in labels.items()}
    except (NoRoute, MethodNotAllowed):
        raise UnknownOperation(f"No App Mesh operation matches {method.upper()} {path}") from None


@cache
def _input_layout(operation_name: str) -> tuple[dict[str, str], dict[str, tuple[str, str]], str | None]:
    """(uri member by label, query member by name → (member, type), payload member)."""
    shape = service_model().operation_model(operation_name).input_shape
    assert shape is not None, operation_name  # every App Mesh operation has an input shape
    uri, query = {}, {}
    for member_name, member in shape.members.items():
        location = member.serialization.get("location")
        wire_name = member.serialization.get("name", member_name)
        if location == "uri":
            uri[wire_name] = member_name
        elif location == "querystring":
            query[wire_name] = (member_name, member.type_name)
    return uri, query, shape.serialization.get("payload")


def parse_request(
    operation_name: str, uri_params: Mapping[str, str], query: Mapping[str, str], body: bytes
) -> dict[str, Any]:
    """The params a botocore client passed, recovered from the HTTP request."""
    uri, query_members, payload = _input_layout(operation_name)
    params: dict[str, Any] = {}
    if body:
        try:
            document = _parse_json(body)
        except ValueError:
            raise BadRequest("The request body is not valid JSON") from None
        except RecursionError:  # the parser's nesting bound, far beyond the model's deepest shape
            raise BadRequest("The request body is nested too deeply") from None
        if not isinstance(document, dict):
            raise BadRequest("The request body must be a JSON object")
        if payload:
            params[payload] = document
        else:
            params.update(document)
    for label, member_name in uri.items():
        if label in uri_params:
            params[member_name] = uri_params[label]
    for wire_name, (member_name, type_name) in query_members.items():
        if wire_name in query:
            params[member_name] = _query_value(wire_name, query[wire_name], type_name)
    return params


# Above this size a body is parsed with a Python hook per JSON object. The C parser holds
# the GIL for a whole document (~0.3 s for 5 MB here), stalling the event loop that serves
# every other client; each hook call is a point where another thread may take the GIL.
# The hook costs ~50% more parse time, paid only by large requests, on a worker thread.
YIELDING_PARSE_BYTES = 64 * 1024


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    return dict(pairs)


def _parse_json(body: bytes) -> Any:
    if len(body) <= YIELDING_PARSE_BYTES:
        return json.loads(body)
    return json.loads(body, object_pairs_hook=_object)


def _query_value(name: str, raw: str, type_name: str) -> Any:
    if type_name in ("integer", "long"):
        try:
            return int(raw)
        except ValueError:
            raise BadRequest(
                f"1 validation error detected: Value '{raw}' at '{name}' failed to satisfy constraint: Member must be an integer"
            ) from None
    return raw


@cache
def _output_payload(operation_name: str) -> str | None:
    shape = service_model().operation_model(operation_name).output_shape
    return shape.serialization.get("payload") if shape is not None else None


def _encode(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.timestamp()
    raise TypeError(f"cannot serialize {type(value).__name__}")


def serialize_response(operation_name: str, result: Mapping[str, Any]) -> tuple[int, dict[str, str], bytes]:
    """Status, headers and body for a successful call (all App Mesh operations answer 200)."""
    payload = _output_payload(operation_name)
    document = result.get(payload) if payload else {k: v for k, v in result.items() if v is not None}
    body = jsontext.dumps(document if document is not None else {}, separators=(",", ":"), default=_encode).encode()
    return 200, dict(JSON_HEADERS), body


def serialize_error(error: ApiError) -> tuple[int, dict[str, str], bytes]:
    """rest-json error: the code in `x-amzn-ErrorType`, the message in the body."""
    body = json.dumps({"message": error.message}).encode()
    return error.status, {**JSON_HEADERS, "x-amzn-ErrorType": error.code}, body


__all__ = [
    "match_operation",
    "parse_request",
    "serialize_response",
    "serialize_error",
    "status_for",
    "UnknownOperation",
]


@cache
def operation_table() -> dict[str, dict[str, Any]]:
    """Every operation's HTTP binding, for clients that build requests by hand (the web console).

    {name: {method, uri (with {label} placeholders), uri: {label: member}, query: {name: member},
    payload: member or None, output: the output payload member or None}}, straight from the model.
    """
    table: dict[str, dict[str, Any]] = {}
    for name in service_model().operation_names:
        http = service_model().operation_model(name).http
        uri, query, payload = _input_layout(name)
        table[name] = {
            "method": http["method"],
            "uri": http["requestUri"].split("?", 1)[0].replace("+}", "}"),
            "labels": uri,
            "query": {wire: member for wire, (member, _type) in query.items()},
            "payload": payload,
            "output": _output_payload(name),
        }
    return table
