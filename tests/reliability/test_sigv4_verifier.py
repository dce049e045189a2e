"""service.sigv4 checks what botocore signs, byte for byte, and refuses everything else with AWS's codes."""

from __future__ import annotations

import datetime
import hashlib

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from appmesh_local.service.credentials import Credential, CredentialsError, CredentialStore
from appmesh_local.service.sigv4 import SignatureError, SigV4Verifier

STORE = CredentialStore([Credential("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "111122223333")])
VERIFIER = SigV4Verifier(STORE, ["appmesh"])


def signed(url: str, headers: dict[str, str] | None = None, body: bytes = b"", secret: str | None = None, **at):
    """(path, query, lower-case headers) of a request botocore signed."""
    request = AWSRequest(method="PUT", url=url, data=body, headers=headers or {})
    SigV4Auth(Credentials("AKIDEXAMPLE", secret or STORE.secret_for("AKIDEXAMPLE")), "appmesh", "eu-west-1").add_auth(
        request
    )
    netloc, _, rest = url.split("//", 1)[1].partition("/")
    path, _, query = rest.partition("?")
    # botocore signs the URL's host without putting a Host header in the request; a server sees one
    return "/" + path, query, {"host": netloc, **{k.lower(): v for k, v in request.headers.items()}}


def test_botocore_signatures_verify_with_query_spaces_and_encoded_names():
    path, query, headers = signed(
        "https://appmesh.eu-west-1.amazonaws.com/v20190125/meshes/my%20mesh?limit=5&nextToken=a%2Fb",
        {"Content-Type": "application/json", "X-Custom": "  two   spaces  "},
        b'{"spec": {}}',
    )
    principal = VERIFIER.verify(
        "PUT", path, headers, query=query, payload_hash=hashlib.sha256(b'{"spec": {}}').hexdigest()
    )
    assert (principal.access_key, principal.account, principal.region, principal.service) == (
        "AKIDEXAMPLE",
        "111122223333",
        "eu-west-1",
        "appmesh",
    )


@pytest.mark.parametrize(
    "tamper, code",
    [
        (lambda h: h.update({"x-custom": "changed"}), "InvalidSignatureException"),
        (lambda h: h.pop("authorization"), "MissingAuthenticationTokenException"),
        (lambda h: h.update({"authorization": "AWS4-HMAC-SHA256 Credential=x"}), "IncompleteSignatureException"),
        (
            lambda h: h.update({"authorization": h["authorization"].replace("AKIDEXAMPLE", "AKIDOTHER")}),
            "UnrecognizedClientException",
        ),
        (
            lambda h: h.update({"authorization": h["authorization"].replace("/appmesh/", "/s3/")}),
            "InvalidSignatureException",
        ),
    ],
)
def test_a_changed_request_is_refused_with_awss_code(tamper, code):
    path, query, headers = signed("https://h/v20190125/meshes", {"X-Custom": "v"})
    tamper(headers)
    with pytest.raises(SignatureError) as refused:
        VERIFIER.verify("PUT", path, headers, query=query)
    assert refused.value.code == code


def test_the_wrong_secret_does_not_verify():
    path, query, headers = signed("https://h/v20190125/meshes", secret="not-the-secret")
    with pytest.raises(SignatureError, match="does not match the signature you provided"):
        VERIFIER.verify("PUT", path, headers, query=query)


def test_signatures_older_or_newer_than_five_minutes_are_refused():
    path, query, headers = signed("https://h/v20190125/meshes")
    signed_at = datetime.datetime.strptime(headers["x-amz-date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=datetime.UTC)
    late, early = signed_at.timestamp() + 301, signed_at.timestamp() - 301
    with pytest.raises(SignatureError, match=r"Signature expired: \d{8}T\d{6}Z is now earlier than .* - 5 min\.\)$"):
        VERIFIER.verify("PUT", path, headers, query=query, now=late)
    with pytest.raises(SignatureError, match=r"Signature not yet current: .* \+ 5 min\.\)$"):
        VERIFIER.verify("PUT", path, headers, query=query, now=early)
    assert VERIFIER.verify("PUT", path, headers, query=query, now=signed_at.timestamp() + 299)


def test_the_host_a_grpc_server_cannot_see_is_tried_among_candidates():
    path, query, headers = signed("https://xds_cluster/envoy.service.discovery.v3.AggregatedDiscoveryService/X")
    del headers["host"]
    with pytest.raises(SignatureError, match="does not match"):
        VERIFIER.verify("PUT", path, headers, hosts=["127.0.0.1:1"])
    assert VERIFIER.verify("PUT", path, headers, hosts=["127.0.0.1:1", "xds_cluster"])


def test_credentials_from_a_shared_credentials_file_and_the_environment(tmp_path):
    file = tmp_path / "credentials"
    file.write_text(
        "[default]\naws_access_key_id = AKIDA\naws_secret_access_key = a\n"
        "[team]\naws_access_key_id = 210987654321\naws_secret_access_key = b\n"
        "[named]\naws_access_key_id = AKIDC\naws_secret_access_key = c\naws_account_id = 333344445555\n"
    )
    store = CredentialStore.load(file, {"AWS_ACCESS_KEY_ID": "AKIDENV", "AWS_SECRET_ACCESS_KEY": "e"})
    assert len(store) == 4
    assert [store.account_for(k) for k in ("AKIDA", "210987654321", "AKIDC", "AKIDENV")] == [
        "123456789012",  # the default account, as for unsigned API calls
        "210987654321",  # a 12-digit key id is its own account
        "333344445555",  # a profile may name it
        "123456789012",
    ]
    assert store.secret_for("AKIDC") == "c" and store.secret_for("nobody") is None
    assert len(CredentialStore.load(None, {})) == 0


@pytest.mark.parametrize(
    "content, fragment",
    [
        ("not an ini file", "is not an INI file"),
        ("[p]\naws_access_key_id = A\n", "needs aws_access_key_id and aws_secret_access_key"),
        ("", "has no profile"),
    ],
)
def test_a_bad_credentials_file_is_one_line(tmp_path, content, fragment):
    file = tmp_path / "credentials"
    file.write_text(content)
    with pytest.raises(CredentialsError, match=fragment) as error:
        CredentialStore.load(file, {})
    assert "\n" not in str(error.value)
    with pytest.raises(CredentialsError, match="cannot read credentials file"):
        CredentialStore.load(tmp_path / "missing", {})


def test_a_header_that_must_be_signed_and_a_false_body_hash_are_refused():
    path, query, headers = signed("https://h/v20190125/meshes", body=b"{}")
    body_hash = hashlib.sha256(b"{}").hexdigest()
    assert VERIFIER.verify("PUT", path, headers, query=query, payload_hash=body_hash, must_sign=("host",))
    with pytest.raises(SignatureError, match="'X-Custom' must be a signed header"):
        VERIFIER.verify("PUT", path, headers, query=query, payload_hash=body_hash, must_sign=("x-custom",))
    lying = {**headers, "x-amz-content-sha256": hashlib.sha256(b"other").hexdigest()}
    with pytest.raises(SignatureError, match="'x-amz-content-sha256' header does not match"):
        VERIFIER.verify("PUT", path, lying, query=query, payload_hash=body_hash)


def test_a_malformed_header_is_named_before_any_other_check():
    path, query, headers = signed("https://h/v20190125/meshes")
    headers["authorization"] = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20260101/eu-west-1/appmesh/aws4_request"
    with pytest.raises(SignatureError) as refused:
        VERIFIER.verify("PUT", path, headers, query=query, must_sign=("host",))
    assert refused.value.code == "IncompleteSignatureException" and refused.value.status == 400
    assert "requires 'SignedHeaders' parameter. Authorization header requires 'Signature' parameter." in str(
        refused.value
    )
