"""ACM and ACM PCA as App Mesh's control plane used them: certificate material for SDS.

App Mesh delivered an ACM listener certificate (`tls.certificate.acm.certificateArn`) to
Envoy as an SDS secret, and trusted ACM PCA roots for `validation.trust.acm`
(docs/reference.md#tls). These two functions are those reads, made in-process against moto.
Lookups go to the account and region written in the ARN (a PCA shared through RAM lives in
another account); `account`/`region`, the mesh owner's, are the fallback for a malformed ARN.
"""

from __future__ import annotations

from typing import Iterable

from . import backends
from .private_ca import active_ca, parse_arn

# Types whose private key ACM holds and App Mesh could deliver: AWS Private CA certificates,
# and imported ones (lenient: App Mesh documented only the former). Public AMAZON_ISSUED
# certificates cannot be exported, so App Mesh never used them.
USABLE_TYPES = frozenset({"PRIVATE", "IMPORTED"})


def certificate(account: str, region: str, arn: str) -> tuple[str, str] | None:
    """(certificate chain PEM, leaf first; private key PEM) of an ISSUED certificate, else None."""
    owner, where = parse_arn(arn) or (account, region)
    with backends.LOCK:
        acm = backends.backend(backends.ACM, owner, where)
        bundle = acm._certificates.get(arn) if acm is not None else None
        if bundle is None:
            return None
        bundle.check()  # moto's expiry / validation bookkeeping
        if bundle.status != "ISSUED" or bundle.type not in USABLE_TYPES:
            return None
        chain = without_moto_root(bundle.chain)
        leaf = bundle.cert.decode().strip() + "\n"
        return leaf + chain, bundle.key.decode()


def ca_bundle(account: str, region: str, arns: Iterable[str]) -> str | None:
    """PEM of the ACTIVE private CAs among `arns` (each with its own chain); None if none is."""
    pems: list[str] = []
    with backends.LOCK:
        for arn in arns:
            if parse_arn(arn) is None:
                continue
            authority = active_ca(arn)
            if authority is None:
                continue
            pems.append(authority.certificate_bytes.decode().strip() + "\n")
            if authority.certificate_chain:
                pems.append(authority.certificate_chain.decode().strip() + "\n")
    return "".join(pems) or None


def without_moto_root(chain: bytes) -> str:
    """moto appends a canned "Amazon Root CA" to every chain; Envoy must not serve it."""
    from moto.acm.models import AWS_ROOT_CA

    text = chain.replace(AWS_ROOT_CA, b"").decode()
    return "".join(line + "\n" for line in text.splitlines() if line.strip())
