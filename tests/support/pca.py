"""An ACTIVE root CA in ACM PCA, made the documented way (the tests of ACM, export, TLS share it)."""

from __future__ import annotations

from typing import Any

ROOT_TEMPLATE = "arn:aws:acm-pca:::template/RootCACertificate/V1"


def active_root_ca(pca: Any, common_name: str = "Mesh Root", years: int = 5) -> str:
    """The documented activation of a root CA: CSR, self-issue with the root template, import."""
    arn = pca.create_certificate_authority(
        CertificateAuthorityConfiguration={
            "KeyAlgorithm": "RSA_2048",
            "SigningAlgorithm": "SHA256WITHRSA",
            "Subject": {"CommonName": common_name},
        },
        CertificateAuthorityType="ROOT",
    )["CertificateAuthorityArn"]
    csr = pca.get_certificate_authority_csr(CertificateAuthorityArn=arn)["Csr"]
    issued = pca.issue_certificate(
        CertificateAuthorityArn=arn,
        Csr=csr.encode(),
        SigningAlgorithm="SHA256WITHRSA",
        TemplateArn=ROOT_TEMPLATE,
        Validity={"Value": years, "Type": "YEARS"},
    )
    pem = pca.get_certificate(CertificateAuthorityArn=arn, CertificateArn=issued["CertificateArn"])["Certificate"]
    pca.import_certificate_authority_certificate(CertificateAuthorityArn=arn, Certificate=pem.encode())
    return arn
