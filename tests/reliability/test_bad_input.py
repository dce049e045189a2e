"""Every bad input of the probe is answered 4xx in AWS's shape, and nothing is stored.

App Mesh (rest-json): bodies and nextTokens nested past the parser's bound, lone surrogates
in names, numbers the model allows but Envoy cannot hold, methods that name no operation.
Cloud Map, ACM, ACM PCA (awsJson): input moto used to fail on with a 500.
"""

from __future__ import annotations

import base64
import http.client
import json

import pytest

from appmesh_local.api_models.representable import MAX_DURATION_MS, UINT32_MAX

from .conftest import running

pytestmark = pytest.mark.timeout(120)

SIGNED = "AWS4-HMAC-SHA256 Credential=111122223333/20240101/us-east-1/{service}/aws4_request, SignedHeaders=host, Signature=0"


def request(port: int, method: str, path: str, body: bytes = b"", target: str | None = None) -> tuple[int, dict, dict]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Authorization": SIGNED.format(service="appmesh" if target is None else "x")}
    if target is not None:
        headers |= {"X-Amz-Target": target, "Content-Type": "application/x-amz-json-1.1"}
    try:
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        data = response.read()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, json.loads(data) if data else {}
    finally:
        connection.close()


def node(listener: dict) -> bytes:
    listener = {"portMapping": {"port": 8080, "protocol": "http"}, **listener}
    return json.dumps(
        {
            "virtualNodeName": "n",
            "spec": {"listeners": [listener], "serviceDiscovery": {"dns": {"hostname": "n.local"}}},
        }
    ).encode()


def route(http_route: dict) -> bytes:
    base = {"match": {"prefix": "/"}, "action": {"weightedTargets": [{"virtualNode": "n", "weight": 1}]}}
    return json.dumps({"routeName": "r", "spec": {"httpRoute": {**base, **http_route}}}).encode()


def token(document: bytes) -> str:
    return base64.urlsafe_b64encode(document).decode()


NODES = "/v20190125/meshes/m/virtualNodes"
ROUTES = "/v20190125/meshes/m/virtualRouter/vr/routes"
APPMESH_CASES = [
    ("PUT", "/v20190125/meshes", b'{"meshName": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", "BadRequestException"),
    ("PUT", "/v20190125/meshes", b'{"spec": ' + b'{"a": ' * 5000 + b"1" + b"}" * 5001, "BadRequestException"),
    ("PUT", "/v20190125/meshes", b'{"meshName": "\\ud800"}', "BadRequestException"),
    ("PUT", "/v20190125/meshes", b'{"meshName": "ok\\udfffok"}', "BadRequestException"),
    ("PUT", NODES, b'{"virtualNodeName": "\\ud83d", "spec": {}}', "BadRequestException"),
    ("PUT", "/v20190125/tag?resourceArn=x", b'{"tags": [{"key": "\\udc00", "value": "v"}]}', "BadRequestException"),
    (
        "GET",
        "/v20190125/meshes?nextToken=" + token(b'{"after": ' + b"[" * 5000 + b"]" * 5000 + b"}"),
        b"",
        "BadRequestException",
    ),
    ("GET", "/v20190125/meshes?nextToken=" + token(b'{"after": {"a": 1}}'), b"", "BadRequestException"),
    ("GET", "/v20190125/meshes?nextToken=%ZZ", b"", "BadRequestException"),
    ("PUT", NODES, node({"connectionPool": {"http": {"maxConnections": 2**40}}}), "BadRequestException"),
    ("PUT", NODES, node({"timeout": {"http": {"perRequest": {"unit": "s", "value": 2**70}}}}), "BadRequestException"),
    (
        "PUT",
        NODES,
        node({"timeout": {"http": {"idle": {"unit": "ms", "value": MAX_DURATION_MS + 1}}}}),
        "BadRequestException",
    ),
    (
        "PUT",
        NODES,
        node(
            {
                "outlierDetection": {
                    "maxServerErrors": UINT32_MAX + 1,
                    "interval": {"unit": "s", "value": 1},
                    "baseEjectionDuration": {"unit": "s", "value": 1},
                    "maxEjectionPercent": 10,
                }
            }
        ),
        "BadRequestException",
    ),
    (
        "PUT",
        ROUTES,
        route({"retryPolicy": {"maxRetries": UINT32_MAX + 1, "perRetryTimeout": {"unit": "s", "value": 1}}}),
        "BadRequestException",
    ),
    ("TRACE", "/v20190125/meshes", b"", "UnknownOperationException"),
    ("PROPFIND", "/v20190125/meshes", b"", "UnknownOperationException"),
    ("GET", "/_appmesh-local/no-such-page", b"", "UnknownOperationException"),
]


@pytest.mark.parametrize(
    ("method", "path", "body", "code"), APPMESH_CASES, ids=[f"appmesh-{i}" for i in range(len(APPMESH_CASES))]
)
def test_appmesh_bad_input_is_a_4xx_and_stores_nothing(method, path, body, code):
    with running() as server:
        request(server.api_port, "PUT", "/v20190125/meshes", b'{"meshName": "m"}')
        revision = server.store.revision
        status, headers, document = request(server.api_port, method, path, body)
        assert 400 <= status < 500, (status, document)
        assert headers["x-amzn-errortype"] == code
        assert headers["content-type"] == "application/json"
        assert server.store.revision == revision


def test_a_bad_number_is_named_by_its_field():
    with running() as server:
        request(server.api_port, "PUT", "/v20190125/meshes", b'{"meshName": "m"}')
        _, _, document = request(
            server.api_port, "PUT", NODES, node({"connectionPool": {"tcp": {"maxConnections": 2**40}}})
        )
    assert "at 'spec.listeners.1.member.connectionPool.tcp.maxConnections'" in document["message"]
    assert "less than or equal to 2147483647" in document["message"]


CLOUD_MAP, ACM, PCA = "Route53AutoNaming_v20170314", "CertificateManager", "ACMPrivateCA"
NEIGHBOUR_CASES = [
    (f"{PCA}.RestoreCertificateAuthority", b"{}", "ValidationException"),
    (f"{PCA}.UntagCertificateAuthority", b'{"CertificateAuthorityArn": "x", "Tags": 1}', "ValidationException"),
    (f"{PCA}.TagCertificateAuthority", b'{"CertificateAuthorityArn": "\\ud800", "Tags": []}', "ValidationException"),
    (f"{PCA}.ListPermissions", b'{"CertificateAuthorityArn": ' + str(2**70).encode() + b"}", "ValidationException"),
    (f"{PCA}.IssueCertificate", b"[" * 5000 + b"]" * 5000, "SerializationException"),
    (f"{PCA}.NoSuchOperation", b"{}", "UnknownOperationException"),
    (f"{CLOUD_MAP}.CreateHttpNamespace", b'{"Name": {"a": [1]}}', "ValidationException"),
    (f"{CLOUD_MAP}.RegisterInstance", b'{"ServiceId": "srv-1", "InstanceId": "i"}', "ValidationException"),
    (f"{CLOUD_MAP}.ListNamespaces", b"{", "SerializationException"),
    (f"{CLOUD_MAP}.ListNamespaces", b'"text"', "SerializationException"),
    (f"{ACM}.ImportCertificate", b'{"Certificate": "!!", "PrivateKey": "!!"}', "ValidationException"),
    (f"{ACM}.DescribeCertificate", b'{"CertificateArn": []}', "ValidationException"),
]


@pytest.mark.parametrize(
    ("target", "body", "code"),
    NEIGHBOUR_CASES,
    ids=[c[0].split(".")[1] + f"-{i}" for i, c in enumerate(NEIGHBOUR_CASES)],
)
def test_neighbour_bad_input_is_a_4xx_in_aws_json_shape(target, body, code):
    with running() as server:
        status, _, document = request(server.api_port, "POST", "/", body, target=target)
    assert status == 400, document
    assert document["__type"] == code
    assert document["message"]
