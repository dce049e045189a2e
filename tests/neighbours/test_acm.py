"""ACM PCA → ACM private certificates → the material and trust bundle App Mesh hands to Envoy."""

from __future__ import annotations

import datetime
import socket
import ssl
import threading

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from appmesh_local.neighbours import ca_bundle, certificate
from tests.support.pca import active_root_ca

pytestmark = pytest.mark.timeout(60)


def pem_certs(pem: str) -> list[x509.Certificate]:
    return x509.load_pem_x509_certificates(pem.encode())


def test_private_certificate_is_signed_by_its_ca_and_trusted_by_the_bundle(harness, account):
    pca = harness.client("acm-pca", account)
    acm = harness.client("acm", account)
    ca_arn = active_root_ca(pca)
    cert_arn = acm.request_certificate(
        DomainName="backend.apps.local",
        CertificateAuthorityArn=ca_arn,
        SubjectAlternativeNames=["backend.apps.local", "*.apps.local"],
    )["CertificateArn"]

    chain_pem, key_pem = certificate(account, "us-east-1", cert_arn)
    leaf, *rest = pem_certs(chain_pem)
    bundle = pem_certs(ca_bundle(account, "us-east-1", [ca_arn]))
    assert len(bundle) == 1 and bundle[0].subject.rfc4514_string() == "CN=Mesh Root"
    leaf.verify_directly_issued_by(bundle[0])  # raises if the CA did not sign it
    assert [c.subject for c in rest] == [bundle[0].subject]  # chain = the CA, not moto's canned Amazon root
    names = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sorted(names.get_values_for_type(x509.DNSName)) == ["*.apps.local", "backend.apps.local"]
    assert not leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    key = serialization.load_pem_private_key(key_pem.encode(), password=None)
    assert key.public_key().public_numbers() == leaf.public_key().public_numbers()

    described = acm.describe_certificate(CertificateArn=cert_arn)["Certificate"]
    assert (described["Type"], described["Status"], described["Issuer"]) == ("PRIVATE", "ISSUED", "Mesh Root")
    wire = acm.get_certificate(CertificateArn=cert_arn)
    assert pem_certs(wire["Certificate"])[0] == leaf


def test_request_against_an_inactive_ca_fails(harness, account):
    pca = harness.client("acm-pca", account)
    acm = harness.client("acm", account)
    pending = pca.create_certificate_authority(
        CertificateAuthorityConfiguration={
            "KeyAlgorithm": "RSA_2048",
            "SigningAlgorithm": "SHA256WITHRSA",
            "Subject": {"CommonName": "Not yet"},
        },
        CertificateAuthorityType="ROOT",
    )["CertificateAuthorityArn"]
    cert_arn = acm.request_certificate(DomainName="x.apps.local", CertificateAuthorityArn=pending)["CertificateArn"]

    assert acm.describe_certificate(CertificateArn=cert_arn)["Certificate"]["Status"] == "FAILED"
    assert certificate(account, "us-east-1", cert_arn) is None
    assert ca_bundle(account, "us-east-1", [pending]) is None


def test_ca_bundle_joins_active_cas_and_skips_unknown_ones(harness, account):
    pca = harness.client("acm-pca", account)
    first, second = active_root_ca(pca, "Root One"), active_root_ca(pca, "Root Two")
    missing = first.rsplit("/", 1)[0] + "/00000000-0000-0000-0000-000000000000"

    subjects = [
        c.subject.rfc4514_string() for c in pem_certs(ca_bundle(account, "us-east-1", [first, missing, second]))
    ]
    assert subjects == ["CN=Root One", "CN=Root Two"]
    assert ca_bundle(account, "us-east-1", [missing, "not-an-arn"]) is None
    assert ca_bundle(account, "us-east-1", []) is None


def self_signed(common_name: str) -> tuple[bytes, bytes]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


def test_imported_certificate_material_comes_back_without_moto_root(harness, account):
    acm = harness.client("acm", account)
    leaf_pem, key_pem = self_signed("imported.apps.local")
    issuer_pem, _ = self_signed("My Intermediate")
    arn = acm.import_certificate(Certificate=leaf_pem, PrivateKey=key_pem, CertificateChain=issuer_pem)[
        "CertificateArn"
    ]

    chain_pem, returned_key = certificate(account, "us-east-1", arn)
    assert [c.subject.rfc4514_string() for c in pem_certs(chain_pem)] == [
        "CN=imported.apps.local",
        "CN=My Intermediate",
    ]
    assert returned_key == key_pem.decode()


def test_public_and_unknown_certificates_have_no_material(harness, account):
    acm = harness.client("acm", account)
    public = acm.request_certificate(DomainName="www.example.com", ValidationMethod="DNS")["CertificateArn"]

    assert certificate(account, "us-east-1", public) is None
    assert certificate(account, "us-east-1", public.replace(account, "000000000000")) is None
    assert certificate(account, "us-east-1", f"arn:aws:acm:us-east-1:{account}:certificate/nope") is None


def test_a_tls_handshake_with_the_material_verifies_against_the_bundle(harness, account, tmp_path):
    """OpenSSL (Python's ssl), not just signature checks: chain, key usage and SAN all accepted."""
    pca, acm = harness.client("acm-pca", account), harness.client("acm", account)
    ca_arn = active_root_ca(pca)
    cert_arn = acm.request_certificate(DomainName="backend.apps.local", CertificateAuthorityArn=ca_arn)[
        "CertificateArn"
    ]
    chain_pem, key_pem = certificate(account, "us-east-1", cert_arn)
    (tmp_path / "chain.pem").write_text(chain_pem)
    (tmp_path / "key.pem").write_text(key_pem)
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(tmp_path / "chain.pem", tmp_path / "key.pem")
    client_context = ssl.create_default_context(cadata=ca_bundle(account, "us-east-1", [ca_arn]))

    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.settimeout(10)

        def accept_one() -> None:
            connection, _ = listener.accept()
            with server_context.wrap_socket(connection, server_side=True) as tls:
                tls.sendall(b"hello")

        thread = threading.Thread(target=accept_one, daemon=True)
        thread.start()
        with socket.create_connection(listener.getsockname(), timeout=10) as raw:
            with client_context.wrap_socket(raw, server_hostname="backend.apps.local") as tls:
                assert tls.recv(5) == b"hello"
        thread.join(10)


def test_permissions_page_by_max_results_and_refuse_foreign_tokens(harness, account):
    pca = harness.client("acm-pca", account)
    ca_arn, other_ca = active_root_ca(pca), active_root_ca(pca, "Other Root")
    sources = ["111111111111", "222222222222", "333333333333"]
    for source in sources:
        pca.create_permission(
            CertificateAuthorityArn=ca_arn,
            Principal="acm.amazonaws.com",
            SourceAccount=source,
            Actions=["GetCertificate"],
        )
    first = pca.list_permissions(CertificateAuthorityArn=ca_arn, MaxResults=2)
    assert [p["SourceAccount"] for p in first["Permissions"]] == sources[:2]
    rest = pca.list_permissions(CertificateAuthorityArn=ca_arn, MaxResults=2, NextToken=first["NextToken"])
    assert [p["SourceAccount"] for p in rest["Permissions"]] == sources[2:] and "NextToken" not in rest
    paged = pca.get_paginator("list_permissions").paginate(
        CertificateAuthorityArn=ca_arn, PaginationConfig={"PageSize": 1}
    )
    assert [p["SourceAccount"] for page in paged for p in page["Permissions"]] == sources
    for token in (first["NextToken"], "garbage"):
        with pytest.raises(pca.exceptions.InvalidNextTokenException):
            pca.list_permissions(CertificateAuthorityArn=other_ca, NextToken=token)
    with pytest.raises(pca.exceptions.ResourceNotFoundException):
        pca.delete_permission(
            CertificateAuthorityArn=ca_arn, Principal="acm.amazonaws.com"
        )  # the caller's account has none
    pca.delete_permission(CertificateAuthorityArn=ca_arn, Principal="acm.amazonaws.com", SourceAccount=sources[1])
    assert [p["SourceAccount"] for p in pca.list_permissions(CertificateAuthorityArn=ca_arn)["Permissions"]] == [
        sources[0],
        sources[2],
    ]
