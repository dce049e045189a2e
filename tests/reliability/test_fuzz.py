"""Model-driven fuzzing of all 38 App Mesh operations (hypothesis, derandomized: the same examples every run).

Requests are generated from botocore's input shapes: values that respect the model's
types and usually its constraints, names drawn mostly from a fixture mesh so that many
calls succeed, and then, for a share of them, one mutation of the JSON body (a wrong
type, null, a number past 64 bits, a lone surrogate, deep nesting), of a constraint
(too long, out of range, not in the enum) or a dropped required member. botocore's own
rest-json serializer turns them into HTTP requests, sent raw to a real server.

Asserted for every request: no 5xx; after a 4xx the store's revision is unchanged (nothing
written, nothing half-applied); after a 2xx write the mesh still translates into Envoy
configuration without an exception.
"""

from __future__ import annotations

import http.client
import json
from typing import Any

import botocore.session
import pytest
from botocore.serialize import create_serializer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from appmesh_local.api_models.representable import bounds
from appmesh_local.bridge.build import build_mesh_config
from appmesh_local.service.context import DEFAULT_ACCOUNT, DEFAULT_REGION

from .conftest import running

pytestmark = pytest.mark.timeout(900)

MODEL = botocore.session.get_session().get_service_model("appmesh")
OPERATIONS = sorted(MODEL.operation_names)
EXAMPLES_PER_OPERATION = 40
MESH = "fz"
AUTH = f"AWS4-HMAC-SHA256 Credential=fuzzer/20260101/{DEFAULT_REGION}/appmesh/aws4_request, SignedHeaders=host, Signature=0"

# Member name → the fixture's names, so that generated references mostly resolve.
NAMES: dict[str, list[str]] = {
    "meshName": [MESH],
    "virtualNodeName": ["n1", "n2"],
    "virtualNode": ["n1", "n2"],
    "virtualRouterName": ["vr"],
    "virtualServiceName": ["svc.local", "svc2.local"],
    "virtualGatewayName": ["gw"],
    "routeName": ["r1", "r2"],
    "gatewayRouteName": ["gr1", "gr2"],
    "meshOwner": [DEFAULT_ACCOUNT],
}
# Specs AWS requires exactly one route type in (a rule beyond the model's shapes).
ONE_OF = {
    "RouteSpec": ("httpRoute", "http2Route", "grpcRoute", "tcpRoute"),
    "GatewayRouteSpec": ("httpRoute", "http2Route", "grpcRoute"),
}
FIXTURE: list[tuple[str, dict[str, Any]]] = [
    ("CreateMesh", {"meshName": MESH}),
    (
        "CreateVirtualNode",
        {
            "meshName": MESH,
            "virtualNodeName": "n1",
            "spec": {
                "listeners": [{"portMapping": {"port": 8080, "protocol": "http"}}],
                "serviceDiscovery": {"dns": {"hostname": "n1.local"}},
            },
        },
    ),
    ("CreateVirtualNode", {"meshName": MESH, "virtualNodeName": "n2", "spec": {}}),
    (
        "CreateVirtualRouter",
        {
            "meshName": MESH,
            "virtualRouterName": "vr",
            "spec": {"listeners": [{"portMapping": {"port": 8080, "protocol": "http"}}]},
        },
    ),
    (
        "CreateRoute",
        {
            "meshName": MESH,
            "virtualRouterName": "vr",
            "routeName": "r1",
            "spec": {
                "httpRoute": {
                    "match": {"prefix": "/"},
                    "action": {"weightedTargets": [{"virtualNode": "n1", "weight": 1}]},
                }
            },
        },
    ),
    (
        "CreateVirtualService",
        {
            "meshName": MESH,
            "virtualServiceName": "svc.local",
            "spec": {"provider": {"virtualRouter": {"virtualRouterName": "vr"}}},
        },
    ),
    (
        "CreateVirtualService",
        {
            "meshName": MESH,
            "virtualServiceName": "svc2.local",
            "spec": {"provider": {"virtualNode": {"virtualNodeName": "n1"}}},
        },
    ),
    (
        "CreateVirtualGateway",
        {
            "meshName": MESH,
            "virtualGatewayName": "gw",
            "spec": {"listeners": [{"portMapping": {"port": 8080, "protocol": "http"}}]},
        },
    ),
    (
        "CreateGatewayRoute",
        {
            "meshName": MESH,
            "virtualGatewayName": "gw",
            "gatewayRouteName": "gr1",
            "spec": {
                "httpRoute": {
                    "match": {"prefix": "/"},
                    "action": {"target": {"virtualService": {"virtualServiceName": "svc.local"}}},
                }
            },
        },
    ),
]
WEIRD = [None, True, 0, -1, 2**70, 1.5, "", "\ud800", "x" * 300, [], {}, [[[[]]]], {"a": {"b": {}}}]


def _text(shape: Any) -> st.SearchStrategy[str]:
    if shape.enum:
        return st.sampled_from(list(shape.enum))
    low = shape.metadata.get("min", 0)
    high = min(shape.metadata.get("max", 40), 40)
    if "pattern" in shape.metadata:
        return st.from_regex(shape.metadata["pattern"], fullmatch=True).filter(lambda s: low <= len(s) <= high)
    return st.text(st.characters(codec="utf-8", min_codepoint=32), min_size=low, max_size=max(low, high))


def values(shape: Any, member: str = "", depth: int = 0) -> st.SearchStrategy[Any]:
    """Values of `shape` with the model's types, usually within its constraints."""
    kind = shape.type_name
    if kind == "string":
        if member == "prefix":
            return st.one_of(st.just("/"), _text(shape).map(lambda text: "/" + text))
        named = NAMES.get(member)
        if named:  # mostly the fixture's names, so calls reach existing resources; sometimes any text
            return st.integers(0, 9).flatmap(lambda draw: st.sampled_from(named) if draw < 8 else _text(shape))
        if member == "resourceArn":
            return st.sampled_from([f"arn:aws:appmesh:{DEFAULT_REGION}:{DEFAULT_ACCOUNT}:mesh/{MESH}", "arn:aws:x"])
        return _text(shape)
    if kind in ("integer", "long"):
        low, high = bounds(shape)
        return st.integers(min_value=low, max_value=high)
    if kind == "boolean":
        return st.booleans()
    if kind == "list":
        low, high = shape.metadata.get("min", 0), min(shape.metadata.get("max", 3), 3)
        return st.lists(values(shape.member, member, depth + 1), min_size=low, max_size=max(low, high))
    if kind == "map":
        return st.dictionaries(_text(shape.key), values(shape.value, member, depth + 1), max_size=2)
    if kind == "structure":
        members = {name: ref for name, ref in shape.members.items() if name != "clientToken" and depth < 12}
        if shape.name in ONE_OF:
            others = {
                name: values(ref, name, depth + 1) for name, ref in members.items() if name not in ONE_OF[shape.name]
            }
            return st.sampled_from(ONE_OF[shape.name]).flatmap(
                lambda name: st.fixed_dictionaries({name: values(members[name], name, depth + 1)}, optional=others)
            )
        if shape.metadata.get("union"):
            return st.sampled_from(sorted(members)).flatmap(
                lambda name: values(members[name], name, depth + 1).map(lambda value: {name: value})
            )
        required = {name: values(members[name], name, depth + 1) for name in shape.required_members if name in members}
        optional = {name: values(ref, name, depth + 1) for name, ref in members.items() if name not in required}
        return st.fixed_dictionaries(required, optional=optional)
    return st.none()


def _paths(document: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    if isinstance(document, dict):
        for key, value in document.items():
            found += _paths(value, prefix + (key,))
    elif isinstance(document, list):
        for index, value in enumerate(document):
            found += _paths(value, prefix + (index,))
    return found


def _replace(document: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    copy = dict(document) if isinstance(document, dict) else list(document)
    copy[path[0]] = _replace(document[path[0]], path[1:], value)
    return copy


@st.composite
def http_requests(draw: st.DrawFn, operation: str) -> tuple[str, str, bytes]:
    """(method, target, body) for `operation`: valid params, then maybe one mutation of the body."""
    model = MODEL.operation_model(operation)
    params = draw(values(model.input_shape))
    serialized = create_serializer("rest-json", include_validation=False).serialize_to_request(params, model)
    target = serialized["url_path"]
    if serialized["query_string"]:
        from urllib.parse import urlencode

        target += "?" + urlencode(serialized["query_string"], doseq=True)
    body = serialized["body"] or b""
    if body and draw(st.integers(0, 2)) == 0:
        document = json.loads(body)
        paths = _paths(document)
        mutation = draw(st.sampled_from(["replace", "drop", "deep"]))
        if paths and mutation == "replace":
            body = json.dumps(_replace(document, draw(st.sampled_from(paths)), draw(st.sampled_from(WEIRD)))).encode()
        elif paths and mutation == "drop":
            path = draw(st.sampled_from(paths))
            parent = _replace(document, (), document)
            holder = parent
            for step in path[:-1]:
                holder = holder[step]
            if isinstance(holder, dict):
                holder = dict(holder)
                holder.pop(path[-1])
                body = json.dumps(_replace(document, path[:-1], holder)).encode()
        else:
            body = b'{"x": ' + b"[" * 3000 + b"]" * 3000 + b"}"
    return serialized["method"], target, body


def send(port: int, method: str, target: str, body: bytes) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request(
            method, target, body=body, headers={"Authorization": AUTH, "Content-Type": "application/json"}
        )
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def ensure_fixture(port: int) -> None:
    serializer = create_serializer("rest-json", include_validation=False)
    for operation, params in FIXTURE:
        request = serializer.serialize_to_request(params, MODEL.operation_model(operation))
        status, answer = send(port, request["method"], request["url_path"], request["body"])
        assert status in (200, 409), (operation, status, answer)


@pytest.fixture(scope="module")
def server():
    with running() as made:
        ensure_fixture(made.api_port)
        yield made


@pytest.mark.parametrize("operation", OPERATIONS)
def test_generated_requests_never_fail_the_server(server, operation):
    seen: dict[int, int] = {}

    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(http_requests(operation))
    def check(request: tuple[str, str, bytes]) -> None:
        method, target, body = request
        revision = server.store.revision
        status, answer = send(server.api_port, method, target, body)
        seen[status // 100] = seen.get(status // 100, 0) + 1
        assert status < 500, f"{operation} {method} {target} {body[:300]!r} -> {status} {answer[:300]!r}"
        if 400 <= status < 500:
            assert server.store.revision == revision, f"{operation} answered {status} but wrote: {answer[:200]!r}"
            assert json.loads(answer)["message"]
            return
        if server.store.revision != revision:
            snapshot = server.store.mesh_snapshot(DEFAULT_ACCOUNT, DEFAULT_REGION, MESH)
            if snapshot is not None:
                build_mesh_config(snapshot)  # raises on a value the bridge cannot turn into Envoy config
            if operation.startswith("Delete"):
                ensure_fixture(server.api_port)

    check()
    assert sum(seen.values()) >= EXAMPLES_PER_OPERATION // 2
