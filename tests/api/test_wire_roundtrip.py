"""Wire fidelity checked with botocore itself, in-process (no server needed).

Requests: botocore's rest-json serializer writes the HTTP request for model-generated params; our
router + parser must recover exactly those params. Responses: our serializer writes a model-generated
result; botocore's parser must read back exactly that result.
"""

from __future__ import annotations

import datetime as dt
import importlib
from urllib.parse import parse_qsl, unquote, urlsplit

import pytest
from botocore.awsrequest import prepare_request_dict
from botocore.parsers import create_parser
from botocore.serialize import create_serializer

from tests.api import model_examples as examples

OPERATIONS = examples.service_model().operation_names
VARIANTS = list(range(max(examples.union_width(), examples.enum_width())))


@pytest.fixture(scope="module")
def wire():
    """The server's wire module; an ImportError is a failure, not a skip."""
    return importlib.import_module("appmesh_local.api_models.wire")


def http_request_for(operation: str, params: dict) -> tuple[str, str, dict[str, str], bytes]:
    """(method, path, query, body) exactly as a boto3 client would send them."""
    request = create_serializer("rest-json").serialize_to_request(params, examples.operation_model(operation))
    prepare_request_dict(request, endpoint_url="http://127.0.0.1:4600")
    url = urlsplit(request["url"])
    query = dict(parse_qsl(url.query, keep_blank_values=True))
    body = request["body"]
    if isinstance(body, str):
        body = body.encode()
    return request["method"], unquote(url.path), query, body or b""


def parse_with_botocore(operation: str, status: int, headers: dict[str, str], body: bytes) -> dict:
    parsed = create_parser("rest-json").parse(
        {"status_code": status, "headers": headers, "body": body}, examples.operation_model(operation).output_shape
    )
    parsed.pop("ResponseMetadata", None)
    return parsed


def assert_same(actual, expected, path: str = "") -> None:
    """Deep equality where timestamps may differ by float rounding (< 1 ms)."""
    if isinstance(expected, dt.datetime):
        assert isinstance(actual, dt.datetime), f"{path}: {actual!r} is not a datetime"
        assert abs(actual - expected) < dt.timedelta(milliseconds=1), f"{path}: {actual} != {expected}"
    elif isinstance(expected, dict):
        assert isinstance(actual, dict), f"{path}: {actual!r} is not an object"
        assert set(actual) == set(expected), f"{path}: keys {sorted(actual)} != {sorted(expected)}"
        for key in expected:
            assert_same(actual[key], expected[key], f"{path}.{key}")
    elif isinstance(expected, list):
        assert isinstance(actual, list) and len(actual) == len(expected), f"{path}: {actual!r}"
        for index, (got, want) in enumerate(zip(actual, expected)):
            assert_same(got, want, f"{path}[{index}]")
    else:
        assert type(actual) is type(expected) and actual == expected, f"{path}: {actual!r} != {expected!r}"


def to_epoch(value):
    """The same result with every datetime replaced by epoch seconds (float)."""
    if isinstance(value, dt.datetime):
        return value.timestamp()
    if isinstance(value, dict):
        return {key: to_epoch(item) for key, item in value.items()}
    if isinstance(value, list):
        return [to_epoch(item) for item in value]
    return value


def check_request_roundtrip(wire, operation: str, params: dict) -> None:
    method, path, query, body = http_request_for(operation, params)
    name, uri_params = wire.match_operation(method, path)
    assert name == operation, f"{method} {path} routed to {name}"
    parsed = wire.parse_request(name, uri_params, query, body)
    assert_same(parsed, params)


@pytest.mark.parametrize("operation", OPERATIONS)
def test_request_roundtrip_every_variant(wire, operation):
    for variant in VARIANTS:
        check_request_roundtrip(wire, operation, examples.input_example(operation, variant))


@pytest.mark.parametrize("operation", OPERATIONS)
def test_request_roundtrip_required_members_only(wire, operation):
    check_request_roundtrip(wire, operation, examples.input_example(operation, 0, minimal=True))


@pytest.mark.parametrize("operation", OPERATIONS)
def test_response_roundtrip_every_variant(wire, operation):
    for variant in VARIANTS:
        result = examples.output_example(operation, variant)
        status, headers, body = wire.serialize_response(operation, result)
        assert status == 200
        assert_same(parse_with_botocore(operation, status, headers, body), result)


@pytest.mark.parametrize("operation", OPERATIONS)
def test_response_roundtrip_epoch_timestamps_and_minimal(wire, operation):
    result = examples.output_example(operation, 1, minimal=True)
    status, headers, body = wire.serialize_response(operation, to_epoch(result))
    assert status == 200
    assert_same(parse_with_botocore(operation, status, headers, body), result)


def test_request_with_percent_encoded_names(wire):
    """Names travel percent-encoded in the path; the parser must hand back the real name."""
    params = {"meshName": "mesh one+two", "virtualServiceName": "svc.ns.svc.cluster.local", "meshOwner": "111111111111"}
    check_request_roundtrip(wire, "DescribeVirtualService", params)


def test_routes_use_singular_parent_segment(wire):
    """Routes and gateway routes hang off `virtualRouter/` and `virtualGateway/` (singular)."""
    assert wire.match_operation("GET", "/v20190125/meshes/m/virtualRouter/r/routes")[0] == "ListRoutes"
    assert wire.match_operation("GET", "/v20190125/meshes/m/virtualRouters/r")[0] == "DescribeVirtualRouter"
    assert (
        wire.match_operation("DELETE", "/v20190125/meshes/m/virtualGateway/g/gatewayRoutes/gr")[0]
        == "DeleteGatewayRoute"
    )
    name, uri = wire.match_operation("PUT", "/v20190125/meshes/m/virtualRouter/r/routes/rt")
    assert (name, uri) == ("UpdateRoute", {"meshName": "m", "virtualRouterName": "r", "routeName": "rt"})
