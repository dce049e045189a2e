"""Envoy v3 bootstraps equivalent to the App Mesh image's, pointed at our ADS server.

App Mesh's agent (docs/reference.md#envoy-bootstrap) wrote: node.id = APPMESH_RESOURCE_ARN,
node.cluster = the same unless set, ADS SotW over gRPC v3 with lds/cds from ADS and
`initial_fetch_timeout` 0 (wait forever), admin on 9901 with an access log, a static runtime layer
plus an admin layer, the outlier-detection event log on stdout, stats tags, and whatever tracing
and stats sinks its environment asked for (`image_env.py` reads those variables). We speak plaintext
`envoy_grpc` to a static `xds_cluster` instead of TLS `google_grpc` (loopback or a unix socket); the
agent's SigV4 signing is there on request, and so is a per-proxy token. The admin interface binds
loopback unless told otherwise. Used by `appmesh-local bootstrap|envoy|task|run`, the pytest plugin,
the tests and `docker/`.
"""

from __future__ import annotations

import ipaddress
from typing import Any

import yaml
from envoy.extensions.bootstrap.internal_listener.v3 import internal_listener_pb2

from appmesh_local.ir.placement import METADATA_KEY as METADATA_HOST
from appmesh_local.ir.placement import HostPlacement
from appmesh_local.proxy.image_env import ADMIN_PORT, ImageEnv, admin, apply_image_env
from appmesh_local.xds.auth import ENVOY_AUTHORITY, SIGNING_SERVICES, TOKEN_HEADER, TokenKey
from appmesh_local.xds.node_id import (
    DEFAULT_REGION,
    METADATA_ACCOUNT,
    METADATA_ADMIN,
    METADATA_REGION,
    ProxyRef,
    format_node_id,
    parse_node_id,
)

XDS_CLUSTER = ENVOY_AUTHORITY  # Envoy sends a cluster's name as the :authority a signature covers
INTERNAL_LISTENER_EXTENSION = "envoy.bootstrap.internal_listener"
SDS_CLUSTER = "static_cluster_sds_unix_socket"  # the name App Mesh's `sds` TLS sources point at
API_TYPES = ("GRPC", "DELTA_GRPC")
# The App Mesh agent's static runtime layer (getRuntimeConfigLayer0) minus flags Envoy 1.40 dropped.
STATIC_RUNTIME = {
    "envoy.features.enable_all_deprecated_features": True,
    "re2.max_program_size.error_level": 1000,
}


def render_bootstrap(
    mesh: str,
    kind: str,
    name: str,
    xds_host: str,
    xds_port: int,
    admin_port: int | None = None,
    admin_address: str = "127.0.0.1",
    account: str | None = None,
    region: str | None = None,
    node_cluster: str | None = None,
    *,
    mesh_owner: str | None = None,
    node_id: str | None = None,
    api_type: str = "GRPC",
    initial_fetch_timeout_s: float | None = None,
    outlier_event_log_path: str | None = None,
    reconnect_base_ms: int | None = None,
    sds_socket_path: str | None = None,
    xds_socket_path: str | None = None,
    xds_token: str | None = None,
    xds_sigv4: bool = False,
    host: HostPlacement | None = None,
    image: ImageEnv | None = None,
    admin_access_log: str | None = None,
) -> dict[str, Any]:
    """A bootstrap dict (JSON/YAML-able) for the Envoy of virtual node/gateway `name` in `mesh`.

    `kind` is "virtualNode" or "virtualGateway". `account`/`region` go to node metadata
    so the short node id resolves to the right mesh (`mesh_owner` goes into the id as `mesh@owner`).
    `api_type` "DELTA_GRPC" selects incremental xDS (App Mesh itself only spoke SotW).
    `sds_socket_path` (APPMESH_SDS_SOCKET_PATH) adds the SDS unix-socket cluster that
    `sds` certificates and trust in the mesh are fetched through. `xds_socket_path` points
    the `xds_cluster` at the server's unix socket (`serve --xds-socket`) instead of host:port.
    `xds_token` (for `serve --xds-auth`) travels as `initial_metadata` of every ADS stream;
    `xds_sigv4` makes Envoy sign its xDS requests with SigV4 (service `appmesh`, the region of
    the mesh), with the credentials of its environment, as App Mesh's Envoy image did.
    `host` places the proxy in host mode (its own loopback addresses, docs/host-mode.md).

    `image` carries the App Mesh image's environment variables (ImageEnv.from_environ); an
    argument given here wins over its variable. `admin_access_log` is the admin access log when
    ENVOY_ADMIN_ACCESS_LOG_FILE is unset: bootstraps for users' own containers pass the image's
    ADMIN_ACCESS_LOG; None leaves it to EnvoyProcess, which keeps one in its private directory
    (a shared file under /tmp would clash between Envoys of different uids).
    """
    if api_type not in API_TYPES:
        raise ValueError(f"api_type must be one of {API_TYPES}")
    image = image or ImageEnv()
    node_id = node_id or format_node_id(mesh, kind, name, mesh_owner)
    region = region or image.region
    metadata: dict[str, Any] = {}
    if account:
        metadata[METADATA_ACCOUNT] = account
    if region:
        metadata[METADATA_REGION] = region
    port = admin_port if admin_port is not None else image.admin_port if image.admin_port is not None else ADMIN_PORT
    admin_config = admin(image, admin_address, port, admin_access_log)
    bound = admin_config["address"].get("socket_address")
    if bound and port:  # a fixed admin port: the console can read this proxy's stats there
        admin_host = bound["address"]
        metadata[METADATA_ADMIN] = f"[{admin_host}]:{port}" if ":" in admin_host else f"{admin_host}:{port}"
    if host is not None:
        metadata[METADATA_HOST] = host.metadata()
    node: dict[str, Any] = {"id": node_id, "cluster": node_cluster or image.resource_cluster or node_id}
    if metadata:
        node["metadata"] = metadata
    envoy_grpc: dict[str, Any] = {"cluster_name": XDS_CLUSTER}
    if reconnect_base_ms:
        envoy_grpc["retry_policy"] = {
            "retry_back_off": {
                "base_interval": _duration(reconnect_base_ms / 1000),
                "max_interval": _duration(reconnect_base_ms * 10 / 1000),
            }
        }

    fetch_timeout = image.initial_fetch_timeout_s if initial_fetch_timeout_s is None else initial_fetch_timeout_s

    def ads_source() -> dict[str, Any]:
        return {"ads": {}, "resource_api_version": "V3", "initial_fetch_timeout": _duration(fetch_timeout)}

    sds_socket_path = sds_socket_path or image.sds_socket_path
    bootstrap: dict[str, Any] = {
        "node": node,
        "admin": admin_config,
        "dynamic_resources": {
            "ads_config": {
                "api_type": api_type,
                "transport_api_version": "V3",
                "set_node_on_first_message_only": True,
                "grpc_services": [_grpc_service(envoy_grpc, xds_token)],
            },
            "lds_config": ads_source(),
            "cds_config": ads_source(),
        },
        "bootstrap_extensions": [internal_listener_extension()],
        "static_resources": {
            "clusters": [
                xds_cluster(
                    xds_host, xds_port, xds_socket_path, sigv4_region=(region or DEFAULT_REGION) if xds_sigv4 else None
                )
            ]
            + ([sds_cluster(sds_socket_path)] if sds_socket_path else [])
        },
        "layered_runtime": {
            "layers": [
                {"name": "static_layer_0", "static_layer": dict(STATIC_RUNTIME)},
                {"name": "admin_layer", "admin_layer": {}},
            ]
        },
    }
    bootstrap = apply_image_env(bootstrap, image)
    if outlier_event_log_path:
        bootstrap["cluster_manager"] = {"outlier_detection": {"event_log_path": outlier_event_log_path}}
    return bootstrap


def internal_listener_extension() -> dict[str, Any]:
    """The bootstrap extension Envoy requires before it accepts internal listeners.

    A gateway's path back into its own egress listener is one (docs/translation.md): no port
    on the machine is involved, so another proxy can neither block it nor receive its traffic.
    """
    return {
        "name": INTERNAL_LISTENER_EXTENSION,
        "typed_config": {"@type": "type.googleapis.com/" + internal_listener_pb2.InternalListener.DESCRIPTOR.full_name},
    }


def _grpc_service(envoy_grpc: dict[str, Any], token: str | None) -> dict[str, Any]:
    service: dict[str, Any] = {"envoy_grpc": envoy_grpc}
    if token:
        service["initial_metadata"] = [{"key": TOKEN_HEADER, "value": token}]
    return service


def signing_filters(region: str) -> list[dict[str, Any]]:
    """Upstream HTTP filters that SigV4-sign every request to the cluster (then the codec, always last).

    App Mesh's agent gave Envoy `aws_iam` gRPC call credentials (service `appmesh`, the region);
    Envoy removed that extension in 1.35 and its `aws_request_signing` filter, placed on the
    xDS cluster, signs the same requests: headers only (gRPC bodies stream), with credentials
    from Envoy's environment, credentials file or instance role.
    """
    return [
        {
            "name": "envoy.filters.http.aws_request_signing",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.filters.http.aws_request_signing.v3.AwsRequestSigning",
                "service_name": SIGNING_SERVICES[0],
                "region": region,
                "use_unsigned_payload": True,
            },
        },
        {
            "name": "envoy.filters.http.upstream_codec",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.filters.http.upstream_codec.v3.UpstreamCodec"
            },
        },
    ]


def xds_cluster(
    host: str, port: int, socket_path: str | None = None, *, sigv4_region: str | None = None
) -> dict[str, Any]:
    """The static HTTP/2 cluster to the ADS server: STATIC for an IP or a unix socket, LOGICAL_DNS for a name.

    `sigv4_region`: sign every xDS request for that region (`signing_filters`)."""
    address: dict[str, Any] = {"socket_address": {"address": host, "port_value": port}}
    discovery = "STATIC"
    if socket_path:
        address = {"pipe": {"path": str(socket_path)}}
    else:
        try:
            ipaddress.ip_address(host)
        except ValueError:
            discovery = "LOGICAL_DNS"
    cluster: dict[str, Any] = {
        "name": XDS_CLUSTER,
        "type": discovery,
        "connect_timeout": "1s",
        "typed_extension_protocol_options": {
            "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
                "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
                "explicit_http_config": {
                    "http2_protocol_options": {
                        # The agent's keepalive: 10 s between pings, 20 s to answer.
                        "connection_keepalive": {"interval": "10s", "timeout": "20s"}
                    }
                },
            },
        },
        "load_assignment": {
            "cluster_name": XDS_CLUSTER,
            "endpoints": [{"lb_endpoints": [{"endpoint": {"address": address}}]}],
        },
    }
    if discovery == "LOGICAL_DNS":
        cluster["dns_lookup_family"] = "V4_PREFERRED"
    if sigv4_region:
        options = cluster["typed_extension_protocol_options"]["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"]
        options["http_filters"] = signing_filters(sigv4_region)
    return cluster


def sds_cluster(socket_path: str) -> dict[str, Any]:
    """The agent's `static_cluster_sds_unix_socket`: STATIC, HTTP/2, 1 s connect timeout, a pipe."""
    return {
        "name": SDS_CLUSTER,
        "type": "STATIC",
        "connect_timeout": "1s",
        "typed_extension_protocol_options": {
            "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
                "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
                "explicit_http_config": {"http2_protocol_options": {}},
            },
        },
        "load_assignment": {
            "cluster_name": SDS_CLUSTER,
            "endpoints": [{"lb_endpoints": [{"endpoint": {"address": {"pipe": {"path": str(socket_path)}}}}]}],
        },
    }


def proxy_of(bootstrap: dict[str, Any]) -> ProxyRef:
    """The proxy the server will take this bootstrap's node for (the one a token must open)."""
    node = bootstrap["node"]
    return parse_node_id(node["id"], node.get("metadata"))


def with_xds_token(bootstrap: dict[str, Any], key: TokenKey) -> dict[str, Any]:
    """`bootstrap` carrying the token that opens its own proxy's xDS stream."""
    token = key.token(proxy_of(bootstrap))
    for service in bootstrap["dynamic_resources"]["ads_config"]["grpc_services"]:
        service["initial_metadata"] = [{"key": TOKEN_HEADER, "value": token}]
    return bootstrap


class _PlainDumper(yaml.SafeDumper):
    """No &anchors/*aliases: bootstraps are read by people."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def bootstrap_yaml(bootstrap: dict[str, Any]) -> str:
    """Stable YAML text (key order kept) for files users read and commit."""
    return yaml.dump(bootstrap, Dumper=_PlainDumper, sort_keys=False, default_flow_style=False)


def _duration(seconds: float) -> str:
    text = f"{seconds:.3f}".rstrip("0").rstrip(".")
    return f"{text}s"
