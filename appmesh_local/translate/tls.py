"""Listener TLS and client policies → IR TLS (docs/reference.md#tls).

Server side: a listener's `tls` terminates on its ingress chain (PERMISSIVE splits the
chain on the detected transport protocol). Client side: an enforced client policy whose
ports cover the target port decides validation; otherwise the server decides: a
STRICT/PERMISSIVE server makes clients originate TLS, verified against the CA chain of
the server's certificate when it is an ACM one, unverified otherwise. ACM material stays
an ARN here: the build step resolves it (appmesh_local.neighbours.acm) into SDS secrets
delivered over ADS, as App Mesh's control plane did.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Mapping

from appmesh_local.ir import Cluster, DownstreamTls, FilterChain, TlsCertificate, TlsValidation, UpstreamTls
from appmesh_local.translate.values import opt


def _certificate(spec: Mapping[str, Any] | None) -> TlsCertificate | None:
    spec = spec or {}
    if spec.get("file"):
        return TlsCertificate(
            certificate_chain=spec["file"].get("certificateChain"), private_key=spec["file"].get("privateKey")
        )
    if spec.get("sds"):
        return TlsCertificate(sds_secret=spec["sds"].get("secretName"))
    if spec.get("acm"):
        return TlsCertificate(acm_certificate=spec["acm"].get("certificateArn"))
    return None


def _validation(
    spec: Mapping[str, Any] | None, where: str, problems: list[str], default_sans: tuple[str, ...] = ()
) -> TlsValidation | None:
    if not spec:
        return None
    trust = spec.get("trust") or {}
    sans = tuple((((spec.get("subjectAlternativeNames") or {}).get("match") or {}).get("exact")) or ()) or default_sans
    if trust.get("file"):
        return TlsValidation(trusted_ca=trust["file"].get("certificateChain"), subject_alt_names=sans)
    if trust.get("sds"):
        return TlsValidation(sds_secret=trust["sds"].get("secretName"), subject_alt_names=sans)
    if trust.get("acm"):
        authorities = tuple(trust["acm"].get("certificateAuthorityArns") or ())
        return TlsValidation(acm_authorities=authorities, subject_alt_names=sans)
    problems.append(f"{where}: TLS validation names no trust; peer certificates are not verified")
    return None


def server_name(discovery: Mapping[str, Any]) -> str:
    """The name a server's certificate must carry by default: its service-discovery name."""
    if discovery.get("dns"):
        return str(opt(discovery["dns"], "hostname", ""))
    cloud_map = discovery.get("awsCloudMap") or {}
    if cloud_map:
        return f"{cloud_map.get('serviceName', '')}.{cloud_map.get('namespaceName', '')}"
    return ""


def listener_tls(spec: Mapping[str, Any] | None, where: str, problems: list[str]) -> tuple[str, DownstreamTls | None]:
    """(mode, TLS to terminate) for a listener's `tls`; mode DISABLED when there is nothing to do."""
    spec = spec or {}
    mode = opt(spec, "mode", "DISABLED")
    if mode not in ("STRICT", "PERMISSIVE"):
        return "DISABLED", None
    certificate = _certificate(spec.get("certificate"))
    if certificate is None:
        problems.append(f"{where}: TLS {mode} names no certificate; listener TLS not terminated")
        return "DISABLED", None
    return mode, DownstreamTls(certificate=certificate, validation=_validation(spec.get("validation"), where, problems))


def secure_chains(chain: FilterChain, mode: str, tls: DownstreamTls | None) -> list[FilterChain]:
    """The chain(s) for a listener: STRICT → TLS only; PERMISSIVE → a TLS and a plaintext chain."""
    if tls is None:
        return [chain]
    if mode == "STRICT":
        return [replace(chain, tls=tls)]
    return [
        replace(chain, name=f"{chain.name}_tls", transport_protocol="tls", tls=tls),
        replace(chain, transport_protocol="raw_buffer"),
    ]


def server_default(listener_spec: Mapping[str, Any], name: str) -> UpstreamTls | None:
    """What clients without an applicable policy do towards this listener when it terminates
    TLS: originate TLS; with an ACM certificate, verify it against the CA chain it was issued
    from and the service-discovery name; with a file or SDS certificate, do not verify."""
    tls = listener_spec.get("tls") or {}
    certificate = _certificate(tls.get("certificate"))
    if tls.get("mode") not in ("STRICT", "PERMISSIVE") or certificate is None:
        return None
    if certificate.acm_certificate:
        return UpstreamTls(
            sni=name,
            validation=TlsValidation(
                acm_issuer_of=certificate.acm_certificate, subject_alt_names=(name,) if name else ()
            ),
        )
    return UpstreamTls(sni=name)


def client_policy(spec: Mapping[str, Any], service: str) -> Mapping[str, Any] | None:
    """The TLS client policy a node/gateway applies to `service`: per backend, else defaults."""
    for backend in spec.get("backends") or ():
        vs = backend.get("virtualService") or {}
        if vs.get("virtualServiceName") == service and (vs.get("clientPolicy") or {}).get("tls"):
            policy: Mapping[str, Any] = vs["clientPolicy"]["tls"]
            return policy
    defaults: Mapping[str, Any] | None = ((spec.get("backendDefaults") or {}).get("clientPolicy") or {}).get("tls")
    return defaults


def with_client_policy(
    cluster: Cluster, port: int, name: str, policy: Mapping[str, Any] | None, where: str, problems: list[str]
) -> Cluster:
    """`cluster` as this client uses it: the policy's TLS when enforced for `port`."""
    if not policy or not opt(policy, "enforce", True):
        return cluster
    ports = policy.get("ports") or ()
    if ports and port not in ports:
        return cluster
    validation = _validation(policy.get("validation"), where, problems, default_sans=(name,) if name else ())
    tls = UpstreamTls(sni=name, certificate=_certificate(policy.get("certificate")), validation=validation)
    return cluster if cluster.tls == tls else replace(cluster, tls=tls)
