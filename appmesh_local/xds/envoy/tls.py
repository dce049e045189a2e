"""IR TLS → envoy.transport_sockets.tls Downstream/UpstreamTlsContext transport sockets.

SDS secrets come from the local SDS socket cluster the App Mesh bootstrap declares when
APPMESH_SDS_SOCKET_PATH is set (`static_cluster_sds_unix_socket`, reference §1.4).
"""
from __future__ import annotations

from envoy.config.core.v3 import base_pb2, config_source_pb2, grpc_service_pb2
from envoy.extensions.transport_sockets.tls.v3 import common_pb2, secret_pb2, tls_pb2
from envoy.type.matcher.v3 import string_pb2

from appmesh_local.ir import DownstreamTls, TlsCertificate, TlsValidation, UpstreamTls
from appmesh_local.xds.envoy.values import pack

SDS_CLUSTER = "static_cluster_sds_unix_socket"
TLS_SOCKET = "envoy.transport_sockets.tls"


def _sds(name: str) -> secret_pb2.SdsSecretConfig:
    source = config_source_pb2.ConfigSource(
        resource_api_version=config_source_pb2.V3,
        api_config_source=config_source_pb2.ApiConfigSource(
            api_type=config_source_pb2.ApiConfigSource.GRPC, transport_api_version=config_source_pb2.V3,
            grpc_services=[grpc_service_pb2.GrpcService(
                envoy_grpc=grpc_service_pb2.GrpcService.EnvoyGrpc(cluster_name=SDS_CLUSTER))]))
    return secret_pb2.SdsSecretConfig(name=name, sds_config=source)


def _san(value: str) -> common_pb2.SubjectAltNameMatcher:
    """SPIFFE-style names (`scheme://...`) are URI SANs; everything else DNS."""
    san_type = common_pb2.SubjectAltNameMatcher.URI if "://" in value else common_pb2.SubjectAltNameMatcher.DNS
    return common_pb2.SubjectAltNameMatcher(san_type=san_type, matcher=string_pb2.StringMatcher(exact=value))


def _common(certificate: TlsCertificate | None, validation: TlsValidation | None) -> tls_pb2.CommonTlsContext:
    context = tls_pb2.CommonTlsContext()
    if certificate is not None and certificate.sds_secret:
        context.tls_certificate_sds_secret_configs.append(_sds(certificate.sds_secret))
    elif certificate is not None:
        context.tls_certificates.append(common_pb2.TlsCertificate(
            certificate_chain=base_pb2.DataSource(filename=certificate.certificate_chain or ""),
            private_key=base_pb2.DataSource(filename=certificate.private_key or "")))
    if validation is not None:
        sans = [_san(v) for v in validation.subject_alt_names]
        if validation.sds_secret:
            context.combined_validation_context.CopyFrom(tls_pb2.CommonTlsContext.CombinedCertificateValidationContext(
                default_validation_context=common_pb2.CertificateValidationContext(match_typed_subject_alt_names=sans),
                validation_context_sds_secret_config=_sds(validation.sds_secret)))
        else:
            context.validation_context.CopyFrom(common_pb2.CertificateValidationContext(
                trusted_ca=base_pb2.DataSource(filename=validation.trusted_ca or ""),
                match_typed_subject_alt_names=sans))
    return context


def downstream_socket(spec: DownstreamTls) -> base_pb2.TransportSocket:
    context = tls_pb2.DownstreamTlsContext(common_tls_context=_common(spec.certificate, spec.validation))
    if spec.validation is not None:
        context.require_client_certificate.value = True
    return base_pb2.TransportSocket(name=TLS_SOCKET, typed_config=pack(context))


def upstream_socket(spec: UpstreamTls) -> base_pb2.TransportSocket:
    context = tls_pb2.UpstreamTlsContext(sni=spec.sni, common_tls_context=_common(spec.certificate, spec.validation))
    return base_pb2.TransportSocket(name=TLS_SOCKET, typed_config=pack(context))
