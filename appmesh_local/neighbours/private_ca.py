"""Private certificates really issued by the private CA they name.

App Mesh takes ACM certificates only when an AWS Private CA issued them, and clients trust
them through that CA (`clientPolicy.tls.validation.trust.acm.certificateAuthorityArns`).
moto's RequestCertificate with a CertificateAuthorityArn returns a self-signed certificate,
which no client would accept, while moto's ACM PCA does keep each CA's private key. So after
a successful RequestCertificate we re-issue the certificate from that CA: same key, same
names, signed by the CA, chain = the CA's certificate and its own chain. If the CA is missing
or not ACTIVE the certificate becomes FAILED, as ACM reports when it cannot reach the CA.
"""

from __future__ import annotations

import datetime
from typing import Any, Mapping

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from . import backends

VALIDITY = datetime.timedelta(days=395)  # ACM private certificates last 13 months
BACKDATE = datetime.timedelta(minutes=5)  # tolerate small clock differences with Envoy


def parse_arn(arn: str) -> tuple[str, str] | None:
    """(account, region) of an ARN, None if it is not one."""
    parts = arn.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn" or not parts[3] or not parts[4]:
        return None
    return parts[4], parts[3]


def active_ca(arn: str) -> Any | None:
    """moto's CertificateAuthority for `arn` if it is ACTIVE with a certificate. Caller holds LOCK."""
    where = parse_arn(arn)
    backend = backends.backend(backends.ACM_PCA, *where) if where else None
    authority = backend.certificate_authorities.get(arn) if backend is not None else None
    if authority is None or authority.status != "ACTIVE" or not authority.certificate_bytes:
        return None
    return authority


def issue_from_ca(account: str, region: str, params: Mapping[str, Any], response: Mapping[str, Any]) -> None:
    """After RequestCertificate: sign the new private certificate with its CA. Caller holds LOCK."""
    ca_arn = params.get("CertificateAuthorityArn")
    acm = backends.backend(backends.ACM, account, region)
    bundle = acm._certificates.get(response.get("CertificateArn")) if acm is not None else None
    if not ca_arn or bundle is None:
        return
    authority = active_ca(ca_arn)
    if authority is None:
        bundle.status = "FAILED"
        return
    if bundle._cert.issuer == authority.certificate.subject:
        return  # an idempotent repeat of a request already issued
    leaf = _sign(bundle._cert, bundle._key.public_key(), authority)
    bundle.cert = leaf.public_bytes(serialization.Encoding.PEM)
    bundle._cert = leaf
    if hasattr(bundle, "issuer_common_name"):  # moto >= 5.2.4 caches the issuer's CN for Describe
        issuer = leaf.issuer.get_attributes_for_oid(NameOID.COMMON_NAME)
        bundle.issuer_common_name = str(issuer[0].value) if issuer else ""
    bundle.chain = authority.certificate_bytes.rstrip(b"\n") + b"\n" + (authority.certificate_chain or b"")


def _sign(requested: x509.Certificate, public_key: Any, authority: Any) -> x509.Certificate:
    """An end-entity certificate for `requested`'s names, as AWS Private CA's EndEntity template."""
    ca_cert: x509.Certificate = authority.certificate
    now = datetime.datetime.now(datetime.UTC)
    common_name = requested.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name(common_name))
        .issuer_name(ca_cert.subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(min(now + VALIDITY, ca_cert.not_valid_after_utc))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_encipherment=True,
                content_commitment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(authority.key.public_key()), critical=False)
    )
    try:
        names = requested.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        builder = builder.add_extension(names, critical=False)
    except x509.ExtensionNotFound:
        pass
    return builder.sign(authority.key, hashes.SHA256())
