"""IR TLS → envoy.transport_sockets.tls Downstream/UpstreamTlsContext transport sockets.

Two kinds of SDS, as in App Mesh (docs/reference.md#sds-socket, #tls):
- `sds` certificates and trust come from the local SDS socket cluster the bootstrap
  declares when APPMESH_SDS_SOCKET_PATH is set (`static_cluster_sds_unix_socket`);
- ACM certificates and ACM PCA trust come from the control plane itself, as SDS
  `Secret` resources over the ADS stream (`sds_config: {ads: {}}`), named by ARN
  (`secret_name_*` below; `certificate_secret`/`trust_secret` build them).

An ACM secret the control plane cannot deliver yet (certificate not issued, CA not active)
is named `pending`: its reference gets a 1 ms initial fetch timeout, so Envoy stops waiting
for it at once instead of holding the listener or cluster (and, at start, the whole proxy)
for 15 s. The subscription stays open: TLS on it fails closed until the secret arrives.
"""

from __future__ import annotations

from envoy.config.core.v3 import base_pb2, config_source_pb2, grpc_service_pb2
from envoy.extensions.transport_sockets.tls.v3 import common_pb2, secret_pb2, tls_pb2
from envoy.type.matcher.v3 import string_pb2

from appmesh_local.envoy.values import pack
from appmesh_local.ir import DownstreamTls, TlsCertificate, TlsValidation, UpstreamTls

SDS_CLUSTER = "static_cluster_sds_unix_socket"
TLS_SOCKET = "envoy.transport_sockets.tls"
TRUST_PREFIX = "trust:"
PENDING_SECRET_FETCH_TIMEOUT_MS = 1  # Envoy's smallest; 0 would mean "wait forever"


def secret_name_certificate(arn: str) -> str:
    """ADS secret holding an ACM certificate's chain and key: the certificate ARN."""
    return arn


def secret_name_trust(validation: TlsValidation) -> str:
    """ADS secret holding a validation context's CA bundle: `trust:` + the ARN(s) it comes from
    (ACM PCA authorities, or the ACM certificate whose issuing chain is trusted)."""
    arns = validation.acm_authorities or ((validation.acm_issuer_of,) if validation.acm_issuer_of else ())
    return TRUST_PREFIX + ",".join(arns)


def certificate_secret(name: str, chain_pem: str, key_pem: str) -> secret_pb2.Secret:
    return secret_pb2.Secret(
        name=name,
        tls_certificate=common_pb2.TlsCertificate(
            certificate_chain=base_pb2.DataSource(inline_string=chain_pem),
            private_key=base_pb2.DataSource(inline_string=key_pem),
        ),
    )


def trust_secret(name: str, ca_pem: str) -> secret_pb2.Secret:
    return secret_pb2.Secret(
        name=name,
        validation_context=common_pb2.CertificateValidationContext(
            trusted_ca=base_pb2.DataSource(inline_string=ca_pem)
        ),
    )


def _ads_sds(name: str, pending: frozenset[str]) -> secret_pb2.SdsSecretConfig:
    source = config_source_pb2.ConfigSource(
        resource_api_version=config_source_pb2.V3, ads=config_source_pb2.AggregatedConfigSource()
    )
    if name in pending:
        source.initial_fetch_timeout.FromMilliseconds(PENDING_SECRET_FETCH_TIMEOUT_MS)
    return secret_pb2.SdsSecretConfig(name=name, sds_config=source)


def _sds(name: str) -> secret_pb2.SdsSecretConfig:
    source = config_source_pb2.ConfigSource(
        resource_api_version=config_source_pb2.V3,
        api_config_source=config_source_pb2.ApiConfigSource(
            api_type=config_source_pb2.ApiConfigSource.GRPC,
            transport_api_version=config_source_pb2.V3,
            grpc_services=[
                grpc_service_pb2.GrpcService(
                    envoy_grpc=grpc_service_pb2.GrpcService.EnvoyGrpc(cluster_name=SDS_CLUSTER)
                )
            ],
        ),
    )
    return secret_pb2.SdsSecretConfig(name=name, sds_config=source)


def _san(value: str) -> common_pb2.SubjectAltNameMatcher:
    """SPIFFE-style names (`scheme://...`) are URI SANs; everything else DNS."""
    san_type = common_pb2.SubjectAltNameMatcher.URI if "://" in value else common_pb2.SubjectAltNameMatcher.DNS
    return common_pb2.SubjectAltNameMatcher(san_type=san_type, matcher=string_pb2.StringMatcher(exact=value))


def _common(
    certificate: TlsCertificate | None, validation: TlsValidation | None, pending: frozenset[str]
) -> tls_pb2.CommonTlsContext:
    context = tls_pb2.CommonTlsContext()
    if certificate is not None and certificate.sds_secret:
        context.tls_certificate_sds_secret_configs.append(_sds(certificate.sds_secret))
    elif certificate is not None and certificate.acm_certificate:
        context.tls_certificate_sds_secret_configs.append(
            _ads_sds(secret_name_certificate(certificate.acm_certificate), pending)
        )
    elif certificate is not None:
        context.tls_certificates.append(
            common_pb2.TlsCertificate(
                certificate_chain=base_pb2.DataSource(filename=certificate.certificate_chain or ""),
                private_key=base_pb2.DataSource(filename=certificate.private_key or ""),
            )
        )
    if validation is not None:
        sans = [_san(v) for v in validation.subject_alt_names]
        dynamic = (
            _sds(validation.sds_secret)
            if validation.sds_secret
            else _ads_sds(secret_name_trust(validation), pending)
            if validation.acm_authorities or validation.acm_issuer_of
            else None
        )
        if dynamic is not None:
            context.combined_validation_context.CopyFrom(
                tls_pb2.CommonTlsContext.CombinedCertificateValidationContext(
                    default_validation_context=common_pb2.CertificateValidationContext(
                        match_typed_subject_alt_names=sans
                    ),
                    validation_context_sds_secret_config=dynamic,
                )
            )
        else:
            context.validation_context.CopyFrom(
                common_pb2.CertificateValidationContext(
                    trusted_ca=base_pb2.DataSource(filename=validation.trusted_ca or ""),
                    match_typed_subject_alt_names=sans,
                )
            )
    return context


def downstream_socket(spec: DownstreamTls, pending: frozenset[str] = frozenset()) -> base_pb2.TransportSocket:
    """`pending`: ACM secret names the control plane cannot deliver yet (see the module doc)."""
    context = tls_pb2.DownstreamTlsContext(common_tls_context=_common(spec.certificate, spec.validation, pending))
    if spec.validation is not None:
        context.require_client_certificate.value = True
    return base_pb2.TransportSocket(name=TLS_SOCKET, typed_config=pack(context))


def upstream_socket(spec: UpstreamTls, pending: frozenset[str] = frozenset()) -> base_pb2.TransportSocket:
    """`pending`: ACM secret names the control plane cannot deliver yet (see the module doc)."""
    context = tls_pb2.UpstreamTlsContext(
        sni=spec.sni, common_tls_context=_common(spec.certificate, spec.validation, pending)
    )
    return base_pb2.TransportSocket(name=TLS_SOCKET, typed_config=pack(context))
