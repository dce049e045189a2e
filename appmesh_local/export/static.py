"""One proxy's xDS resources → a static Envoy bootstrap that needs no control plane.

What the bridge would send over ADS is folded into `static_resources`: each HCM's
`rds` becomes the inline `route_config` it names, each EDS cluster carries its
ClusterLoadAssignment inline (STATIC, or STRICT_DNS when an endpoint is a hostname),
and secrets delivered over ADS become static secrets referenced by name. Anything
still pointing at ADS afterwards is an error, never a silently broken file.
"""

from __future__ import annotations

import ipaddress
import json
from typing import Any, Callable, Iterable, Mapping

from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.listener.v3 import listener_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import http_connection_manager_pb2 as hcm_pb2
from google.protobuf import any_pb2, descriptor_pool, json_format, message_factory
from google.protobuf.message import Message

from appmesh_local.envoy.tls import SDS_CLUSTER
from appmesh_local.proxy.bootstrap import XDS_CLUSTER, render_bootstrap
from appmesh_local.proxy.image_env import ADMIN_ACCESS_LOG, ImageEnv
from appmesh_local.xds.proxy_config import (
    CLUSTER,
    CLUSTER_LOAD_ASSIGNMENT,
    LISTENER,
    ROUTE_CONFIGURATION,
    SECRET,
    ProxyConfig,
)

_HCM_TYPE = "type.googleapis.com/" + hcm_pb2.HttpConnectionManager.DESCRIPTOR.full_name
_SDS_SECRET_CONFIG = "envoy.extensions.transport_sockets.tls.v3.SdsSecretConfig"
EnvoyMessage = Any  # a generated Envoy protobuf message: xds-protos ships no type information
_CONFIG_SOURCE = "envoy.config.core.v3.ConfigSource"


class StaticExportError(Exception):
    """The proxy's resources cannot be made static (a reference to something the mesh lacks)."""


def static_bootstrap(
    proxy: ProxyConfig,
    mesh: str,
    account: str,
    region: str,
    *,
    admin_port: int | None = None,
    admin_address: str = "127.0.0.1",
    sds_socket_path: str | None = None,
    image: ImageEnv | None = None,
) -> dict[str, Any]:
    """The whole bootstrap dict for `envoy -c`: the same node, admin, runtime, stats tags and
    tracing as the xDS bootstrap (render_bootstrap with the App Mesh image's variables in `image`),
    with static resources instead of ADS.

    `sds_socket_path` adds the SDS agent cluster App Mesh's agent declared when
    APPMESH_SDS_SOCKET_PATH was set; `sds` certificates are fetched through it.
    """
    bootstrap = render_bootstrap(
        mesh,
        proxy.kind,
        proxy.name,
        "127.0.0.1",
        1,
        admin_port=admin_port,
        admin_address=admin_address,
        account=account,
        region=region,
        sds_socket_path=sds_socket_path,
        image=image,
        admin_access_log=ADMIN_ACCESS_LOG,
    )
    del bootstrap["dynamic_resources"]
    # The bootstrap's own clusters (tracing collectors, the SDS agent) stay; only xDS goes.
    own = [c for c in bootstrap["static_resources"].get("clusters", []) if c["name"] != XDS_CLUSTER]
    static = {kind: [_to_dict(m) for m in messages] for kind, messages in static_resources(proxy).items() if messages}
    if own:
        static.setdefault("clusters", []).extend(own)
    bootstrap["static_resources"] = static
    return bootstrap


def uses_sds_socket(bootstrap: Mapping[str, Any]) -> bool:
    """Does the configuration fetch secrets from the SDS agent cluster (App Mesh `sds` certificates)?"""
    static = bootstrap.get("static_resources", {})
    declared = any(c.get("name") == SDS_CLUSTER for c in static.get("clusters", []))
    return not declared and f'"{SDS_CLUSTER}"' in json.dumps(static)


def static_resources(proxy: ProxyConfig) -> dict[str, list[Message]]:
    """Listeners, clusters and secrets with every ADS reference resolved inline."""
    routes = proxy.resources.get(ROUTE_CONFIGURATION, {})
    assignments = proxy.resources.get(CLUSTER_LOAD_ASSIGNMENT, {})
    secrets = proxy.resources.get(SECRET, {})
    listeners = [inline_routes(m, routes) for _, m in sorted(proxy.resources.get(LISTENER, {}).items())]
    clusters = [inline_endpoints(m, assignments) for _, m in sorted(proxy.resources.get(CLUSTER, {}).items())]
    for message in (*listeners, *clusters):
        _rewrite(message, lambda m: _detach_ads_secret(m, secrets))
        missing = _missing_secrets(message)
        if missing:
            raise StaticExportError(
                f"{_label(proxy)}: {getattr(message, 'name', '')} needs secret(s) "
                f"{', '.join(sorted(set(missing)))} that the mesh does not provide "
                f"(ACM material comes from a server or a state directory, never a file)"
            )
        left = _ads_references(message)
        if left:
            raise StaticExportError(
                f"{_label(proxy)}: {getattr(message, 'name', '')} still needs "
                f"the control plane for {', '.join(sorted(set(left)))}"
            )
    return {"listeners": listeners, "clusters": clusters, "secrets": [m for _, m in sorted(secrets.items())]}


def inline_routes(listener: Message, routes: Mapping[str, Message]) -> Message:
    """A copy of `listener` whose HCMs carry their route configuration inline."""
    out = listener_pb2.Listener()
    out.CopyFrom(listener)
    chains = list(out.filter_chains) + ([out.default_filter_chain] if out.HasField("default_filter_chain") else [])
    for chain in chains:
        for network_filter in chain.filters:
            if network_filter.typed_config.type_url != _HCM_TYPE:
                continue
            hcm = hcm_pb2.HttpConnectionManager()
            network_filter.typed_config.Unpack(hcm)
            if not hcm.HasField("rds"):
                continue
            name = hcm.rds.route_config_name
            if name not in routes:
                raise StaticExportError(
                    f"listener {out.name} uses route configuration {name}, which the mesh does not produce"
                )
            hcm.route_config.CopyFrom(routes[name])  # sets the oneof: rds is cleared
            network_filter.typed_config.Pack(hcm)
    return out


def inline_endpoints(cluster: Message, assignments: Mapping[str, Message]) -> Message:
    """A copy of `cluster`; an EDS cluster becomes STATIC/STRICT_DNS with its endpoints inline."""
    out = cluster_pb2.Cluster()
    out.CopyFrom(cluster)
    if out.WhichOneof("cluster_discovery_type") != "type" or out.type != cluster_pb2.Cluster.EDS:
        return out
    service = out.eds_cluster_config.service_name or out.name
    if service not in assignments:
        raise StaticExportError(f"cluster {out.name} takes endpoints from {service}, which the mesh does not produce")
    out.ClearField("eds_cluster_config")
    out.load_assignment.CopyFrom(assignments[service])
    out.load_assignment.cluster_name = out.name
    hostnames = [a for a in _endpoint_addresses(out.load_assignment) if not _is_ip(a)]
    out.type = cluster_pb2.Cluster.STRICT_DNS if hostnames else cluster_pb2.Cluster.STATIC
    return out


def _endpoint_addresses(assignment: EnvoyMessage) -> Iterable[str]:
    for locality in assignment.endpoints:
        for lb_endpoint in locality.lb_endpoints:
            yield lb_endpoint.endpoint.address.socket_address.address


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _detach_ads_secret(message: EnvoyMessage, secrets: Mapping[str, Message]) -> bool:
    """An SdsSecretConfig fetched over ADS, for a secret we have, becomes a static reference."""
    if message.DESCRIPTOR.full_name != _SDS_SECRET_CONFIG or not message.HasField("sds_config"):
        return False
    if message.sds_config.HasField("ads") and message.name in secrets:
        message.ClearField("sds_config")
        return True
    return False


def _label(proxy: ProxyConfig) -> str:
    return f"{'virtual node' if proxy.kind == 'virtualNode' else 'virtual gateway'} {proxy.name}"


def _missing_secrets(message: Message) -> list[str]:
    """Names of secrets still referenced over ADS (the mesh had no material for them)."""
    found: list[str] = []

    def visit(m: EnvoyMessage) -> bool:
        if m.DESCRIPTOR.full_name == _SDS_SECRET_CONFIG and m.HasField("sds_config") and m.sds_config.HasField("ads"):
            found.append(m.name)
        return False

    _rewrite(message, visit)
    return found


def _ads_references(message: Message) -> list[str]:
    """Type names of every ConfigSource left that still says `ads`."""
    found: list[str] = []

    def visit(m: Message) -> bool:
        if m.DESCRIPTOR.full_name == _CONFIG_SOURCE and m.HasField("ads"):
            found.append("an ADS config source")
        return False

    _rewrite(message, visit)
    return found


def _rewrite(message: Message, visit: Callable[[Message], bool]) -> bool:
    """Depth-first over `message` and every message inside it (Anys unpacked and repacked
    when changed). `visit` may mutate a message and returns whether it did."""
    changed = visit(message)
    for field, value in message.ListFields():
        if field.message_type is None:
            continue
        if field.message_type.GetOptions().map_entry:
            value_field = field.message_type.fields_by_name["value"]
            items = list(value.values()) if value_field.message_type is not None else []
        elif _is_repeated(field):
            items = list(value)
        else:
            items = [value]
        for item in items:
            if item.DESCRIPTOR.full_name == "google.protobuf.Any":
                changed |= _rewrite_any(item, visit)
            else:
                changed |= _rewrite(item, visit)
    return changed


def _rewrite_any(packed: any_pb2.Any, visit: Callable[[Message], bool]) -> bool:
    try:
        descriptor = descriptor_pool.Default().FindMessageTypeByName(packed.TypeName())
    except KeyError:
        return False  # a type this process does not know cannot hold ADS references we produced
    inner = message_factory.GetMessageClass(descriptor)()
    packed.Unpack(inner)
    if not _rewrite(inner, visit):
        return False
    prefix = packed.type_url[: -len(packed.TypeName())]
    packed.Pack(inner, type_url_prefix=prefix)
    return True


def _is_repeated(field: Any) -> bool:
    repeated = getattr(field, "is_repeated", None)
    if repeated is not None:
        return bool(repeated)
    return field.label == field.LABEL_REPEATED


def _to_dict(message: Message) -> dict[str, Any]:
    """Plain dicts (MessageToDict leaves OrderedDicts inside Anys, which YAML cannot write)."""
    return json.loads(json_format.MessageToJson(message, preserving_proto_field_name=True))
