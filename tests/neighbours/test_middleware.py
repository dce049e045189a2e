"""The middleware in-process (werkzeug test client): what it answers, what it passes through."""

from __future__ import annotations

import json
import uuid

import pytest
from werkzeug.test import Client

from appmesh_local.bridge.neighbour_events import mark_region_dirty
from appmesh_local.neighbours import NeighbourApis, discover
from appmesh_local.translate.changes import MeshChanges

from .inner import INNER_BODY, inner_app

pytestmark = pytest.mark.timeout(60)
CLOUD_MAP = "Route53AutoNaming_v20170314"


@pytest.fixture
def client() -> Client:
    return Client(NeighbourApis(inner_app()))


def signed(access_key: str, region: str, service: str = "servicediscovery") -> dict[str, str]:
    return {
        "Authorization": f"AWS4-HMAC-SHA256 Credential={access_key}/20261123/{region}/{service}/aws4_request, "
        "SignedHeaders=host;x-amz-date, Signature=0"
    }


class Answer:
    def __init__(self, response) -> None:
        self.status_code, self.headers, self.body = response.status_code, response.headers, response.get_data()
        self.json = json.loads(self.body or b"{}")  # x-amz-json-1.1 is JSON; werkzeug does not know it


def call(client: Client, target: str, body: dict, headers: dict[str, str]) -> Answer:
    return Answer(
        client.post(
            "/",
            data=json.dumps(body),
            headers={"X-Amz-Target": target, "Content-Type": "application/x-amz-json-1.1", **headers},
        )
    )


@pytest.mark.parametrize(
    "method,path,headers",
    [
        ("GET", "/v20190125/meshes", {}),
        ("PUT", "/v20190125/meshes", {}),
        ("POST", "/", {}),
        ("POST", "/", {"X-Amz-Target": "AmazonSQS.ListQueues"}),
        ("GET", "/", {"X-Amz-Target": f"{CLOUD_MAP}.ListNamespaces"}),  # awsJson is always POST
    ],
)
def test_everything_else_reaches_the_wrapped_app(client, method, path, headers):
    response = client.open(path, method=method, headers=headers)
    assert response.status_code == 200 and response.get_data(as_text=True) == INNER_BODY


def test_account_from_twelve_digit_key_and_region_from_scope(client):
    name = f"ns-{uuid.uuid4().hex[:8]}.local"
    response = call(
        client,
        f"{CLOUD_MAP}.CreateHttpNamespace",
        {"Name": name},
        {**signed("210987654321", "ap-southeast-2"), "x-moto-account-id": "555555555555"},
    )
    assert response.status_code == 200 and "OperationId" in response.json

    listed = call(client, f"{CLOUD_MAP}.ListNamespaces", {}, signed("210987654321", "ap-southeast-2")).json
    arns = [ns["Arn"] for ns in listed["Namespaces"] if ns["Name"] == name]
    assert len(arns) == 1 and arns[0].startswith("arn:aws:servicediscovery:ap-southeast-2:210987654321:")
    other = call(client, f"{CLOUD_MAP}.ListNamespaces", {}, signed("555555555555", "ap-southeast-2")).json
    assert name not in [ns["Name"] for ns in other["Namespaces"]]


def test_other_access_keys_and_unsigned_requests_use_the_default_account(client):
    name = f"ns-{uuid.uuid4().hex[:8]}.local"
    call(client, f"{CLOUD_MAP}.CreateHttpNamespace", {"Name": name}, signed("AKIAIOSFODNN7EXAMPLE", "us-east-1"))
    namespace_id = next(
        ns["Id"] for ns in call(client, f"{CLOUD_MAP}.ListNamespaces", {}, {}).json["Namespaces"] if ns["Name"] == name
    )
    service = call(client, f"{CLOUD_MAP}.CreateService", {"Name": "svc", "NamespaceId": namespace_id}, {}).json
    call(
        client,
        f"{CLOUD_MAP}.RegisterInstance",
        {"ServiceId": service["Service"]["Id"], "InstanceId": "i", "Attributes": {"AWS_INSTANCE_IPV4": "10.1.1.1"}},
        {},
    )

    assert [i.ipv4 for i in discover("123456789012", "us-east-1", name, "svc")] == ["10.1.1.1"]


def test_moto_errors_keep_their_json_shape(client):
    response = call(client, f"{CLOUD_MAP}.GetNamespace", {"Id": "ns-missing"}, signed("111111111111", "us-east-1"))
    assert response.status_code == 400
    assert response.json["__type"] == "NamespaceNotFound"
    assert response.headers["Content-Length"] == str(len(response.body))


def test_a_region_moto_does_not_know_is_a_client_error(client):
    response = call(client, f"{CLOUD_MAP}.ListNamespaces", {}, signed("111111111111", "mars-north-1"))
    assert response.status_code == 400
    assert response.json["__type"] == "UnrecognizedClientException"


def test_an_operation_outside_the_model_is_unknown_and_one_moto_lacks_is_not_implemented(client):
    unknown = call(client, "ACMPrivateCA.MakeMeACoffee", {}, signed("111111111111", "us-east-1", "acm-pca"))
    assert (unknown.status_code, unknown.json["__type"]) == (400, "UnknownOperationException")
    report = {  # valid for the model, so it reaches moto (invalid input is a ValidationException first)
        "CertificateAuthorityArn": "arn:aws:acm-pca:us-east-1:111111111111:certificate-authority/"
        "00000000-0000-0000-0000-000000000000",
        "S3BucketName": "audit-reports",
        "AuditReportResponseFormat": "JSON",
    }
    absent = call(
        client,
        "ACMPrivateCA.CreateCertificateAuthorityAuditReport",
        report,
        signed("111111111111", "us-east-1", "acm-pca"),
    )
    assert (absent.status_code, absent.json["__type"]) == (501, "NotImplemented")
    assert "does not emulate acm-pca CreateCertificateAuthorityAuditReport" in absent.json["message"]


def test_on_change_errors_do_not_fail_the_call():
    def broken(*change: str) -> None:
        raise RuntimeError("listener bug")

    client = Client(NeighbourApis(inner_app(), on_change=broken))
    headers = signed("313131313131", "us-east-1")
    call(client, f"{CLOUD_MAP}.CreateHttpNamespace", {"Name": "a.local"}, headers)
    namespace_id = call(client, f"{CLOUD_MAP}.ListNamespaces", {}, headers).json["Namespaces"][0]["Id"]
    service_id = call(client, f"{CLOUD_MAP}.CreateService", {"Name": "s", "NamespaceId": namespace_id}, headers).json[
        "Service"
    ]["Id"]
    response = call(
        client,
        f"{CLOUD_MAP}.RegisterInstance",
        {"ServiceId": service_id, "InstanceId": "i", "Attributes": {"AWS_INSTANCE_IPV4": "127.0.0.1"}},
        headers,
    )
    assert response.status_code == 200


def test_on_tls_change_follows_mutating_acm_and_pca_calls_only():
    changes: list[tuple[str, ...]] = []
    client = Client(NeighbourApis(inner_app(), on_tls_change=lambda *args: changes.append(args)))
    headers = signed("414141414141", "eu-west-1", "acm")

    call(client, "CertificateManager.ListCertificates", {}, headers)
    call(client, "ACMPrivateCA.ListCertificateAuthorities", {}, headers)
    assert changes == []
    arn = call(client, "CertificateManager.RequestCertificate", {"DomainName": "a.example.com"}, headers).json
    call(client, "CertificateManager.DeleteCertificate", arn, headers)
    assert changes == [("414141414141", "eu-west-1")] * 2
    response = call(client, "CertificateManager.DeleteCertificate", arn, headers)
    assert response.status_code == 400 and changes == [("414141414141", "eu-west-1")] * 2


def test_region_listener_marks_every_mesh_of_the_region():
    class Store:
        def mesh_keys(self):
            return [
                ("111111111111", "us-east-1", "a"),
                ("222222222222", "us-east-1", "shared"),
                ("111111111111", "eu-west-1", "b"),
            ]

    marked: list[tuple[str, str, str]] = []
    changes: list[MeshChanges] = []

    class Reconciler:
        def mark_dirty(self, key, what):
            marked.append(key)
            changes.append(what)

    listener = mark_region_dirty(Store(), Reconciler())
    listener("111111111111", "us-east-1", "apps.local", "backend")
    assert marked == [("111111111111", "us-east-1", "a"), ("222222222222", "us-east-1", "shared")]
    # a Cloud Map change names the service whose instances changed: only its nodes are re-translated
    assert changes == [MeshChanges(cloud_map=frozenset({("apps.local", "backend")}))] * 2
    listener("333333333333", "eu-west-1")
    assert marked[2:] == [("111111111111", "eu-west-1", "b")]
    assert changes[2:] == [MeshChanges(secrets=True)]  # ACM / ACM PCA: the proxies that name ACM material
