"""howto-mutual-tls-file-provided-by-acm (aws/aws-app-mesh-examples), step 2, replayed.

The walkthrough's `infrastructure/acmpca.yaml` makes two private CAs (colour teller, colour
gateway) with their root certificates, activations and one ACM endpoint certificate each; a
custom resource's Lambda then grants ACM the permission on both CAs and exports both endpoint
certificates with a passphrase for the Envoys. Here an equivalent template (same resource
types, properties and intrinsics) goes through `appmesh-local apply`, and the Lambda's boto3
calls run as written there (create_permission with SourceAccount; export_certificate with the
base64-encoded passphrase). Secrets Manager, Lambda and the ECS services are not emulated.
"""

from __future__ import annotations

import base64
from pathlib import Path

import boto3
import pytest
from botocore.config import Config
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from appmesh_local.cli import main as cli_main
from appmesh_local.testing import serve_in_thread

pytestmark = pytest.mark.timeout(120)
DOMAIN = "mtls.svc.cluster.local"


def ca_resources(app: str) -> str:
    """The four resources the walkthrough declares per app, as CloudFormation YAML."""
    return f"""
  {app}RootCA:
    Type: AWS::ACMPCA::CertificateAuthority
    Properties:
      Type: ROOT
      KeyAlgorithm: RSA_2048
      SigningAlgorithm: SHA256WITHRSA
      Subject:
        CommonName: AcmPca{app}
  {app}RootCACert:
    Type: AWS::ACMPCA::Certificate
    Properties:
      CertificateAuthorityArn: !Ref {app}RootCA
      CertificateSigningRequest: !GetAtt [{app}RootCA, CertificateSigningRequest]
      SigningAlgorithm: SHA256WITHRSA
      TemplateArn: !Sub 'arn:${{AWS::Partition}}:acm-pca:::template/RootCACertificate/V1'
      Validity:
        Type: YEARS
        Value: 10
  {app}RootCAActivation:
    Type: AWS::ACMPCA::CertificateAuthorityActivation
    Properties:
      CertificateAuthorityArn: !Ref {app}RootCA
      Certificate: !GetAtt [{app}RootCACert, Certificate]
      Status: ACTIVE
  {app}EndpointCert:
    Type: AWS::CertificateManager::Certificate
    DependsOn: {app}RootCAActivation
    Properties:
      CertificateAuthorityArn: !Ref {app}RootCA
      DomainName: !Sub '{app.lower()}.${{DomainName}}'
"""


def template() -> str:
    return (
        f"Parameters:\n  DomainName:\n    Type: String\n    Default: {DOMAIN}\nResources:"
        + ca_resources("ColorTeller")
        + ca_resources("ColorGateway")
    )


def test_private_cas_from_a_template_then_the_init_lambdas_calls(tmp_path: Path, account: str) -> None:
    path = tmp_path / "acmpca.yaml"
    path.write_text(template())
    with serve_in_thread(xds=False) as server:
        assert cli_main(["apply", "-f", str(path), "--endpoint", server.endpoint, "--account", account]) == 0
        options = dict(
            endpoint_url=server.endpoint,
            region_name="us-east-1",
            aws_access_key_id=account,
            aws_secret_access_key="testing",
            config=Config(retries={"max_attempts": 1}),
        )
        pca, acm = boto3.client("acm-pca", **options), boto3.client("acm", **options)
        authorities = {
            ca["CertificateAuthorityConfiguration"]["Subject"]["CommonName"]: ca
            for ca in pca.list_certificate_authorities()["CertificateAuthorities"]
        }
        assert {name: ca["Status"] for name, ca in authorities.items()} == {
            "AcmPcaColorTeller": "ACTIVE",
            "AcmPcaColorGateway": "ACTIVE",
        }
        certificates = {c["DomainName"]: c["CertificateArn"] for c in acm.list_certificates()["CertificateSummaryList"]}
        assert set(certificates) == {f"colorteller.{DOMAIN}", f"colorgateway.{DOMAIN}"}

        # The Lambda, as written in the walkthrough.
        for ca in authorities.values():
            pca.create_permission(
                CertificateAuthorityArn=ca["Arn"],
                Principal="acm.amazonaws.com",
                SourceAccount=account,
                Actions=["IssueCertificate", "GetCertificate", "ListPermissions"],
            )
        passphrase = "GeneratedRandomPassword"
        passphrase_enc = base64.b64encode(passphrase.encode("utf-8"))
        exported = {
            app: acm.export_certificate(CertificateArn=certificates[f"{app}.{DOMAIN}"], Passphrase=passphrase_enc)
            for app in ("colorteller", "colorgateway")
        }
        for app, common_name in (("colorteller", "AcmPcaColorTeller"), ("colorgateway", "AcmPcaColorGateway")):
            [permission] = pca.list_permissions(CertificateAuthorityArn=authorities[common_name]["Arn"])["Permissions"]
            assert (permission["SourceAccount"], permission["Principal"]) == (account, "acm.amazonaws.com")
            leaf = x509.load_pem_x509_certificate(exported[app]["Certificate"].encode())
            chain = x509.load_pem_x509_certificates(exported[app]["CertificateChain"].encode())
            assert leaf.issuer == chain[0].subject
            assert leaf.issuer.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value == common_name
            # The key is encrypted with the passphrase bytes the call carried (the Lambda's base64 text).
            key = serialization.load_pem_private_key(exported[app]["PrivateKey"].encode(), password=passphrase_enc)
            assert key.public_key().public_numbers() == leaf.public_key().public_numbers()


def test_a_templates_acm_permission_is_granted_and_revoked(tmp_path: Path, account: str) -> None:
    """`AWS::ACMPCA::Permission`, the template form of the walkthroughs' create-permission."""
    path = tmp_path / "pca.yaml"
    path.write_text(
        f"Parameters:\n  DomainName:\n    Type: String\n    Default: {DOMAIN}\nResources:"
        + ca_resources("ColorTeller")
        + """
  AcmPermission:
    Type: AWS::ACMPCA::Permission
    Properties:
      CertificateAuthorityArn: !Ref ColorTellerRootCA
      Principal: acm.amazonaws.com
      Actions: [IssueCertificate, GetCertificate, ListPermissions]
"""
    )
    with serve_in_thread(xds=False) as server:
        apply = ["-f", str(path), "--endpoint", server.endpoint, "--account", account]
        assert cli_main(["apply", *apply]) == 0
        pca = boto3.client(
            "acm-pca",
            endpoint_url=server.endpoint,
            region_name="us-east-1",
            aws_access_key_id=account,
            aws_secret_access_key="testing",
            config=Config(retries={"max_attempts": 1}),
        )
        [ca] = pca.list_certificate_authorities()["CertificateAuthorities"]
        [permission] = pca.list_permissions(CertificateAuthorityArn=ca["Arn"])["Permissions"]
        assert permission["Actions"] == ["IssueCertificate", "GetCertificate", "ListPermissions"]
        assert cli_main(["apply", *apply]) == 0  # unchanged: kept
        assert len(pca.list_permissions(CertificateAuthorityArn=ca["Arn"])["Permissions"]) == 1
        assert cli_main(["delete", *apply]) == 0
        assert (
            pca.describe_certificate_authority(CertificateAuthorityArn=ca["Arn"])["CertificateAuthority"]["Status"]
            == "DELETED"
        )
