"""Cloud Map / ACM / ACM PCA state survives a restart through the state file."""

from __future__ import annotations

import pytest
from cryptography import x509
from moto.backends import get_backend

from appmesh_local.neighbours import NeighbourApis, ca_bundle, certificate, discover
from appmesh_local.neighbours.persistence import SERVICES, DamagedState
from tests.support.pca import active_root_ca

from .conftest import serve
from .inner import inner_app

pytestmark = pytest.mark.timeout(90)


def forget(account: str) -> None:
    """What a process exit does to moto's memory, for one account."""
    for service in SERVICES:
        get_backend(service).pop(account, None)


def test_state_is_reloaded_after_a_restart(account, tmp_path):
    state_file = tmp_path / "neighbours.pickle"
    with serve(NeighbourApis(inner_app(), state_file=state_file), []) as first:
        sd = first.client("servicediscovery", account)
        sd.create_http_namespace(Name="apps.local")
        namespace_id = sd.list_namespaces()["Namespaces"][0]["Id"]
        service_id = sd.create_service(Name="backend", NamespaceId=namespace_id)["Service"]["Id"]
        sd.register_instance(
            ServiceId=service_id,
            InstanceId="i-1",
            Attributes={"AWS_INSTANCE_IPV4": "10.0.0.1", "AWS_INSTANCE_PORT": "80"},
        )
        ca_arn = active_root_ca(first.client("acm-pca", account))
        cert_arn = first.client("acm", account).request_certificate(
            DomainName="backend.apps.local", CertificateAuthorityArn=ca_arn
        )["CertificateArn"]
    before = (
        discover(account, "us-east-1", "apps.local", "backend"),
        certificate(account, "us-east-1", cert_arn),
        ca_bundle(account, "us-east-1", [ca_arn]),
    )

    forget(account)
    assert discover(account, "us-east-1", "apps.local", "backend") == []
    assert certificate(account, "us-east-1", cert_arn) is None

    with serve(NeighbourApis(inner_app(), state_file=state_file), []) as second:
        after = (
            discover(account, "us-east-1", "apps.local", "backend"),
            certificate(account, "us-east-1", cert_arn),
            ca_bundle(account, "us-east-1", [ca_arn]),
        )
        assert after == before
        sd = second.client("servicediscovery", account)
        sd.register_instance(ServiceId=service_id, InstanceId="i-2", Attributes={"AWS_INSTANCE_IPV4": "10.0.0.2"})
        # the CA kept its key: what it issues now still chains to the root clients already trust
        new_arn = second.client("acm", account).request_certificate(
            DomainName="other.apps.local", CertificateAuthorityArn=ca_arn
        )["CertificateArn"]
        leaf = x509.load_pem_x509_certificates(certificate(account, "us-east-1", new_arn)[0].encode())[0]
        leaf.verify_directly_issued_by(x509.load_pem_x509_certificates(before[2].encode())[0])

    forget(account)
    with serve(NeighbourApis(inner_app(), state_file=state_file), []):
        assert [i.instance_id for i in discover(account, "us-east-1", "apps.local", "backend")] == ["i-1", "i-2"]


def test_an_unreadable_state_file_is_reported_and_left_alone(tmp_path):
    """Never reset silently: the user decides what happens to a file that may still hold their state."""
    state_file = tmp_path / "neighbours.pickle"
    state_file.write_bytes(b"not a pickle")

    with pytest.raises(DamagedState, match="neighbours.pickle cannot be loaded"):
        NeighbourApis(inner_app(), state_file=state_file)

    assert [p.name for p in tmp_path.iterdir()] == ["neighbours.pickle"]
    assert state_file.read_bytes() == b"not a pickle"


def test_reads_do_not_write_the_state_file(account, tmp_path):
    state_file = tmp_path / "neighbours.pickle"
    with serve(NeighbourApis(inner_app(), state_file=state_file), []) as harness:
        sd = harness.client("servicediscovery", account)
        sd.list_namespaces()
        assert not state_file.exists()
        sd.create_http_namespace(Name="apps.local")
        assert state_file.exists()


def test_ca_permissions_survive_a_restart(account, tmp_path):
    state_file = tmp_path / "neighbours.pickle"
    with serve(NeighbourApis(inner_app(), state_file=state_file), []) as first:
        pca = first.client("acm-pca", account)
        ca_arn = active_root_ca(pca)
        pca.create_permission(
            CertificateAuthorityArn=ca_arn,
            Principal="acm.amazonaws.com",
            Actions=["IssueCertificate", "GetCertificate"],
        )
        before = pca.list_permissions(CertificateAuthorityArn=ca_arn)["Permissions"]
    forget(account)
    with serve(NeighbourApis(inner_app(), state_file=state_file), []) as second:
        after = second.client("acm-pca", account).list_permissions(CertificateAuthorityArn=ca_arn)["Permissions"]
    assert after == before and [p["Actions"] for p in after] == [["IssueCertificate", "GetCertificate"]]
