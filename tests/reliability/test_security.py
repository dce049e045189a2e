"""serve --require-sigv4, the Host check (DNS rebinding) and the status endpoint's account scope."""

from __future__ import annotations

import http.client
import json
import time
from datetime import UTC, datetime
from pathlib import Path
from unittest import mock

import boto3
import botocore.session
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from appmesh_local.service.credentials import CredentialsError, CredentialStore
from appmesh_local.web.host_check import AllowedHosts
from appmesh_local.web.sigv4 import failure_status, signature_error_code

from .conftest import running

pytestmark = pytest.mark.timeout(120)

KEYS = """\
[alice]
aws_access_key_id = AKIDALICE
aws_secret_access_key = alice-secret
aws_account_id = 111122223333

[bob]
aws_access_key_id = 444455556666
aws_secret_access_key = bob-secret
"""


@pytest.fixture
def keys(tmp_path: Path) -> Path:
    path = tmp_path / "credentials"
    path.write_text(KEYS)
    return path


@pytest.fixture
def secured(keys: Path, monkeypatch):
    monkeypatch.delenv("AWS_ACCESS_KEY_ID", raising=False)
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY", raising=False)
    with running(require_sigv4=True, credentials_file=keys) as server:
        yield server


def client(server, service: str, key: str, secret: str, region: str = "eu-west-1"):
    return boto3.client(
        service,
        endpoint_url=f"http://127.0.0.1:{server.api_port}",
        region_name=region,
        aws_access_key_id=key,
        aws_secret_access_key=secret,
        config=Config(retries={"max_attempts": 1}, inject_host_prefix=False),
    )


def error_of(call) -> tuple[str, int, str]:
    with pytest.raises(ClientError) as caught:
        call()
    response = caught.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Message"]


def test_signed_calls_work_and_act_in_the_keys_account(secured):
    alice = client(secured, "appmesh", "AKIDALICE", "alice-secret")
    arn = alice.create_mesh(meshName="a mesh with odd:chars")["mesh"]["metadata"]["arn"]
    assert arn.startswith("arn:aws:appmesh:eu-west-1:111122223333:mesh/")
    assert [m["meshName"] for m in alice.list_meshes(limit=10)["meshes"]] == ["a mesh with odd:chars"]
    bob = client(secured, "appmesh", "444455556666", "bob-secret")
    assert bob.list_meshes()["meshes"] == []  # accounts stay apart
    cloud_map = client(secured, "servicediscovery", "444455556666", "bob-secret")
    cloud_map.create_http_namespace(Name="signed.local")
    assert [n["Name"] for n in cloud_map.list_namespaces()["Namespaces"]] == ["signed.local"]


def test_a_wrong_secret_is_invalid_signature_exception_per_protocol(secured):
    code, status, message = error_of(client(secured, "appmesh", "AKIDALICE", "wrong").list_meshes)
    assert (code, status) == ("InvalidSignatureException", 403)
    assert message.startswith("The request signature we calculated does not match the signature you provided.")
    code, status, _ = error_of(client(secured, "servicediscovery", "AKIDALICE", "wrong").list_namespaces)
    assert (code, status) == ("InvalidSignatureException", 400)
    code, status, _ = error_of(client(secured, "acm-pca", "AKIDALICE", "wrong").list_certificate_authorities)
    assert (code, status) == ("InvalidSignatureException", 400)


def test_an_unknown_key_is_unrecognized_client(secured):
    code, status, message = error_of(client(secured, "appmesh", "AKIDMALLORY", "x").list_meshes)
    assert (code, status) == ("UnrecognizedClientException", 403)
    assert message == "The security token included in the request is invalid."


def _raw(server, method: str, path: str, headers: dict[str, str], body: bytes = b"") -> tuple[int, dict, dict]:
    connection = http.client.HTTPConnection("127.0.0.1", server.api_port, timeout=10)
    try:
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        data = response.read()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, json.loads(data) if data else {}
    finally:
        connection.close()


def _signed(server, path: str, when: float | None = None, service: str = "appmesh") -> dict:
    """Headers of a GET signed by botocore as alice, at `when` (epoch seconds; default now)."""
    request = AWSRequest(method="GET", url=f"http://127.0.0.1:{server.api_port}{path}")
    signer = SigV4Auth(Credentials("AKIDALICE", "alice-secret"), service, "us-east-1")
    moment = datetime.fromtimestamp(time.time() if when is None else when, UTC).replace(tzinfo=None)
    with mock.patch("botocore.auth.get_current_datetime", return_value=moment):
        signer.add_auth(request)
    return dict(request.headers.items())


def test_an_expired_or_future_signature_is_refused_with_aws_wording(secured):
    status, headers, body = _raw(
        secured, "GET", "/v20190125/meshes", _signed(secured, "/v20190125/meshes", time.time() - 3600)
    )
    assert (status, headers["x-amzn-errortype"]) == (403, "InvalidSignatureException")
    assert body["message"].startswith("Signature expired: ") and body["message"].endswith(" - 5 min.)")
    status, headers, body = _raw(
        secured, "GET", "/v20190125/meshes", _signed(secured, "/v20190125/meshes", time.time() + 3600)
    )
    assert body["message"].startswith("Signature not yet current: ")


def test_a_signature_for_another_service_or_a_tampered_request_is_refused(secured):
    headers = _signed(secured, "/v20190125/meshes", service="ecs")
    status, answer, body = _raw(secured, "GET", "/v20190125/meshes", headers)
    assert (status, answer["x-amzn-errortype"]) == (403, "InvalidSignatureException")
    assert "scoped to correct service: 'appmesh'" in body["message"]
    headers = _signed(secured, "/v20190125/meshes?limit=1")
    status, answer, _ = _raw(secured, "GET", "/v20190125/meshes?limit=2", headers)  # query changed after signing
    assert (status, answer["x-amzn-errortype"]) == (403, "InvalidSignatureException")


def test_no_signature_is_missing_authentication_token_but_health_stays_open(secured):
    status, headers, _ = _raw(secured, "GET", "/v20190125/meshes", {})
    assert (status, headers["x-amzn-errortype"]) == (403, "MissingAuthenticationTokenException")
    status, _, body = _raw(secured, "GET", "/_appmesh-local/health", {})
    assert (status, body["status"]) == (200, "ok")
    status, headers, _ = _raw(secured, "POST", "/", {"X-Amz-Target": "ACMPrivateCA.ListCertificateAuthorities"}, b"{}")
    assert (status, headers["x-amzn-errortype"]) == (400, "MissingAuthenticationTokenException")


def test_the_status_endpoint_shows_only_the_callers_account(keys, monkeypatch):
    monkeypatch.delenv("AWS_ACCESS_KEY_ID", raising=False)
    with running(xds=True, require_sigv4=True, credentials_file=keys) as server:
        client(server, "appmesh", "AKIDALICE", "alice-secret", "us-east-1").create_mesh(meshName="alices")
        client(server, "appmesh", "444455556666", "bob-secret", "us-east-1").create_mesh(meshName="bobs")
        from appmesh_local.testing import InProcessServer

        view = InProcessServer(server)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            alice = view.status("AKIDALICE", "alice-secret")
            if alice["meshes"]:
                break
            time.sleep(0.1)
        assert {m["account"] for m in alice["meshes"]} == {"111122223333"}
        bob = view.status("444455556666", "bob-secret")
        assert {m["account"] for m in bob["meshes"]} <= {"444455556666"}
        assert all(m["mesh"] != "alices" for m in bob["meshes"])


def test_the_console_views_answer_only_for_the_callers_account(keys, monkeypatch):
    monkeypatch.delenv("AWS_ACCESS_KEY_ID", raising=False)
    with running(xds=True, require_sigv4=True, credentials_file=keys) as server:
        _console_views_are_scoped(server)


def _console_views_are_scoped(secured) -> None:
    client(secured, "appmesh", "AKIDALICE", "alice-secret", "us-east-1").create_mesh(meshName="alices")
    own = "/_appmesh-local/api/meshes/111122223333/us-east-1/alices/topology"
    assert _raw(secured, "GET", own, _signed(secured, own))[0] == 200
    listing = "/_appmesh-local/api/meshes?account=111122223333"
    status, _, body = _raw(secured, "GET", listing, _signed(secured, listing))
    assert status == 200 and [m["mesh"] for m in body] == ["alices"]
    for other in (
        "/_appmesh-local/api/meshes/444455556666/us-east-1/bobs/topology",
        "/_appmesh-local/api/meshes",
        "/_appmesh-local/applied/444455556666/us-east-1",
    ):
        status, headers, _ = _raw(secured, "GET", other, _signed(secured, other))
        assert (status, headers["x-amzn-errortype"]) == (403, "ForbiddenException")
    status, headers, _ = _raw(secured, "GET", own, {})
    assert (status, headers["x-amzn-errortype"]) == (403, "MissingAuthenticationTokenException")


def test_one_credentials_file_serves_the_api_and_xds(keys):
    found = CredentialStore.load(keys, environ={})
    assert found.account_for("AKIDALICE") == "111122223333"
    assert found.account_for("444455556666") == "444455556666"  # a 12-digit key id is its own account
    assert found.secret_for("AKIDALICE") == "alice-secret"


def test_serve_refuses_to_start_with_auth_but_no_keys(monkeypatch, tmp_path):
    monkeypatch.delenv("AWS_ACCESS_KEY_ID", raising=False)
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY", raising=False)
    with pytest.raises(CredentialsError):
        with running(require_sigv4=True):
            pass


def test_error_codes_follow_the_protocol_as_botocore_models_name_it():
    protocols = {
        name: botocore.session.get_session().get_service_model(name).metadata["protocol"]
        for name in ("appmesh", "sts", "s3")
    }
    assert signature_error_code(protocols["appmesh"]) == "InvalidSignatureException"
    assert signature_error_code("json") == "InvalidSignatureException"
    assert signature_error_code(protocols["sts"]) == "SignatureDoesNotMatch"
    assert signature_error_code(protocols["s3"]) == "SignatureDoesNotMatch"
    assert (failure_status("json"), failure_status("rest-json")) == (400, 403)


# ---- Host header ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "host", ["evil.example:4600", "evil.example", "127.0.0.1.nip.io", "localhost.evil.example", "[::2]"]
)
def test_a_forged_host_is_refused(host):
    with running() as server:
        status, headers, body = _raw(server, "GET", "/v20190125/meshes", {"Host": host})
        assert (status, headers["x-amzn-errortype"]) == (403, "ForbiddenException")
        status, _, body = _raw(
            server, "POST", "/", {"Host": host, "X-Amz-Target": "CertificateManager.ListCertificates"}, b"{}"
        )
        assert (status, body["__type"]) == (403, "ForbiddenException")


@pytest.mark.parametrize(
    "host", ["127.0.0.1:4600", "localhost:4600", "LOCALHOST", "api.localhost", "127.0.0.2", "[::1]:4600"]
)
def test_loopback_and_localhost_names_are_accepted(host):
    with running() as server:
        status, _, _ = _raw(server, "GET", "/v20190125/meshes", {"Host": host})
        assert status == 200


def test_allowed_host_names_and_wildcard_bindings():
    with running(allowed_hosts=("appmesh",)) as server:
        assert _raw(server, "GET", "/v20190125/meshes", {"Host": "appmesh:4600"})[0] == 200
        assert _raw(server, "GET", "/v20190125/meshes", {"Host": "other:4600"})[0] == 403
    assert AllowedHosts(["0.0.0.0"]).allows("192.0.2.7:4600")  # an IP literal cannot be a rebinding name
    assert not AllowedHosts(["0.0.0.0"]).allows("evil.example")
    assert not AllowedHosts(["127.0.0.1"]).allows("192.0.2.7")
    assert AllowedHosts(["127.0.0.1"], ["*"]).allows("anything.example")
