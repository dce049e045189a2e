"""ACM material → SDS `Secret` resources in a proxy's snapshot, delivered over ADS.

App Mesh's control plane exported ACM certificates (`tls.certificate.acm`) and read ACM
PCA roots (`validation.trust.acm`) and pushed them to Envoy as SDS secrets on the ADS
stream (docs/reference.md#tls). The translator keeps ARNs in the IR; here each ARN a proxy uses
is looked up through a `SecretSource` (in the server, the ACM / ACM PCA it serves:
`appmesh_local.neighbours.sources.InProcessAcm`, wired by `server.py`) and becomes a Secret named as `envoy.tls` names it.
A lookup that finds nothing (unknown, not ISSUED, public, CA not ACTIVE) leaves the secret
out, says so, and marks it pending: its references tell Envoy not to wait for it
(`envoy.tls`), so the rest of the proxy starts at once while TLS on it fails closed; when
the material appears the secret is delivered and the references go back to normal.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Iterable, Protocol, Sequence

from envoy.extensions.transport_sockets.tls.v3 import secret_pb2

from appmesh_local.envoy.tls import certificate_secret, secret_name_certificate, secret_name_trust, trust_secret
from appmesh_local.ir import Cluster, Listener, ProxyIR, TlsCertificate, TlsValidation

_PEM = re.compile(r"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", re.S)


class SecretSource(Protocol):
    """Where ACM material comes from (in the server `neighbours.sources.InProcessAcm`).

    `account`/`region` are the mesh owner's; an implementation looks an ARN up in the account
    and region the ARN itself names, and uses these only for an ARN it cannot parse. Both are
    called on the reconciler's thread at every build of a mesh that uses ACM, so they must be
    cheap and must not block on the API.
    """

    def certificate(self, account: str, region: str, arn: str, /) -> tuple[str, str] | None:
        """(certificate chain PEM, leaf first; private key PEM) of an ISSUED private or imported
        ACM certificate; None when there is no such usable certificate."""
        ...

    def ca_bundle(self, account: str, region: str, arns: Iterable[str], /) -> str | None:
        """Concatenated PEM of the ACTIVE ACM PCA authorities among `arns` (each with its own
        chain); None when none of them is ACTIVE."""
        ...


class NoSecrets:
    """A SecretSource that knows no ACM material (bridge without neighbour services, offline tools)."""

    def certificate(self, account: str, region: str, arn: str) -> tuple[str, str] | None:
        return None

    def ca_bundle(self, account: str, region: str, arns: Iterable[str]) -> str | None:
        return None


# What a proxy needs: (secret name, kind, ARNs); kind is certificate | authorities | issuer.
Reference = tuple[str, str, tuple[str, ...]]


def _validation_refs(validation: TlsValidation | None) -> list[Reference]:
    if validation is None:
        return []
    if validation.acm_authorities:
        return [(secret_name_trust(validation), "authorities", validation.acm_authorities)]
    if validation.acm_issuer_of:
        return [(secret_name_trust(validation), "issuer", (validation.acm_issuer_of,))]
    return []


def _certificate_refs(certificate: TlsCertificate | None) -> list[Reference]:
    if certificate is None or not certificate.acm_certificate:
        return []
    return [(secret_name_certificate(certificate.acm_certificate), "certificate", (certificate.acm_certificate,))]


def listener_references(listener: Listener) -> list[Reference]:
    """The ACM secrets one listener's TLS chains name."""
    refs: list[Reference] = []
    for chain in listener.filter_chains:
        if chain.tls is not None:
            refs += _certificate_refs(chain.tls.certificate) + _validation_refs(chain.tls.validation)
    return refs


def cluster_references(cluster: Cluster) -> list[Reference]:
    """The ACM secrets one cluster's TLS origination names."""
    if cluster.tls is None:
        return []
    return _certificate_refs(cluster.tls.certificate) + _validation_refs(cluster.tls.validation)


def acm_references(proxy: ProxyIR) -> tuple[Reference, ...]:
    """Every ACM secret the proxy's listeners and clusters name, sorted, once each."""
    refs: dict[str, Reference] = {}
    for listener in proxy.listeners:
        refs.update((ref[0], ref) for ref in listener_references(listener))
    for cluster in proxy.clusters:
        refs.update((ref[0], ref) for ref in cluster_references(cluster))
    return tuple(refs[name] for name in sorted(refs))


def issuing_root(chain_pem: str) -> str | None:
    """The last certificate of a chain (the root it chains to; a self-signed leaf is its own)."""
    certs = _PEM.findall(chain_pem)
    return certs[-1] + "\n" if certs else None


@dataclass
class Resolved:
    """One proxy's ACM secrets at one build: those that exist, and the names still pending
    (Envoy is told not to wait for them: `envoy.tls`), with a problem line for each."""

    secrets: dict[str, secret_pb2.Secret] = field(default_factory=dict)
    pending: frozenset[str] = frozenset()
    problems: list[str] = field(default_factory=list)


class SecretResolver:
    """Resolves a proxy's ACM references at each build; unchanged material keeps its message
    object, so the snapshot cache sees nothing new and pushes nothing."""

    def __init__(self, source: SecretSource) -> None:
        self.source = source
        self._built: dict[tuple[str, str, str], tuple[tuple[str, ...], secret_pb2.Secret]] = {}

    def resolve(self, refs: Sequence[Reference], account: str, region: str, proxy: ProxyIR) -> Resolved:
        """The ACM material `refs` (`proxy`'s references) name: Secrets for what exists, names and
        problems for what does not."""
        resolved = Resolved()
        pending: list[str] = []
        for name, kind, arns in refs:
            material = self._material(kind, arns, account, region)
            if material is None:
                resolved.problems.append(_missing(proxy, kind, arns))
                pending.append(name)
                continue
            key = (account, region, name)
            cached = self._built.get(key)
            if cached is None or cached[0] != material:
                message = (
                    certificate_secret(name, *material) if kind == "certificate" else trust_secret(name, material[0])
                )
                cached = (material, message)
                self._built[key] = cached
            resolved.secrets[name] = cached[1]
        resolved.pending = frozenset(pending)
        return resolved

    def _material(self, kind: str, arns: Sequence[str], account: str, region: str) -> tuple[str, ...] | None:
        if kind == "certificate":
            found = self.source.certificate(account, region, arns[0])
            return tuple(found) if found else None
        if kind == "authorities":
            bundle = self.source.ca_bundle(account, region, arns)
            return (bundle,) if bundle else None
        found = self.source.certificate(account, region, arns[0])
        root = issuing_root(found[0]) if found else None
        return (root,) if root else None


def _missing(proxy: ProxyIR, kind: str, arns: Sequence[str]) -> str:
    who = f"{proxy.kind} {proxy.name}"
    if kind == "certificate":
        return (
            f"{who}: ACM certificate {arns[0]} is not an issued private certificate; "
            f"listeners using it get no certificate until it is"
        )
    if kind == "authorities":
        return (
            f"{who}: none of the ACM PCA authorities {', '.join(arns)} is ACTIVE; "
            f"TLS validated against them fails until one is"
        )
    return (
        f"{who}: ACM certificate {arns[0]} is not an issued private certificate; "
        f"clients cannot validate the server until it is"
    )
