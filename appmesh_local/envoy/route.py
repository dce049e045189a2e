"""IR RouteConfig → envoy.config.route.v3.RouteConfiguration."""

from __future__ import annotations

import functools
from typing import Callable, Sequence

from envoy.config.core.v3 import base_pb2
from envoy.config.route.v3 import route_components_pb2 as rc_pb2
from envoy.config.route.v3 import route_pb2
from envoy.extensions.retry.host.previous_hosts.v3 import previous_hosts_pb2
from envoy.type.matcher.v3 import regex_pb2, string_pb2
from envoy.type.v3 import range_pb2

from appmesh_local.envoy.values import duration, pack, stats_metadata, uint32
from appmesh_local.ir import HeaderMatch, HttpRoute, RetryPolicy, RouteConfig, RouteMatch, VirtualHost


def _regex(pattern: str) -> regex_pb2.RegexMatcher:
    return regex_pb2.RegexMatcher(regex=pattern)


def build_header_matcher(spec: HeaderMatch) -> rc_pb2.HeaderMatcher:
    matcher = rc_pb2.HeaderMatcher(name=spec.name, invert_match=spec.invert)
    if spec.kind == "present":
        matcher.present_match = True
    elif spec.kind == "range":
        matcher.range_match.CopyFrom(range_pb2.Int64Range(start=spec.range_start, end=spec.range_end))
    elif spec.kind == "regex":
        matcher.string_match.CopyFrom(string_pb2.StringMatcher(safe_regex=_regex(spec.value)))
    else:
        matcher.string_match.CopyFrom(string_pb2.StringMatcher(**{spec.kind: spec.value}))
    return matcher


def build_match(spec: RouteMatch) -> rc_pb2.RouteMatch:
    match = rc_pb2.RouteMatch(headers=[build_header_matcher(h) for h in spec.headers])
    if spec.path_kind == "connect":
        match.connect_matcher.SetInParent()
    elif spec.path_kind == "exact":
        match.path = spec.path
    elif spec.path_kind == "regex":
        match.safe_regex.CopyFrom(_regex(spec.path))
    else:
        match.prefix = spec.path
    for q in spec.query:
        param = match.query_parameters.add(name=q.name)
        if q.exact is None:
            param.present_match = True
        else:
            param.string_match.CopyFrom(string_pb2.StringMatcher(exact=q.exact))
    return match


def build_retry_policy(spec: RetryPolicy) -> rc_pb2.RetryPolicy:
    policy = rc_pb2.RetryPolicy(
        retry_on=",".join(spec.retry_on),
        num_retries=uint32(spec.num_retries),
        retriable_status_codes=list(spec.retriable_status_codes),
        retry_host_predicate=[
            rc_pb2.RetryPolicy.RetryHostPredicate(
                name="envoy.retry_host_predicates.previous_hosts",
                typed_config=pack(previous_hosts_pb2.PreviousHostsPredicate()),
            )
        ],
        host_selection_retry_max_attempts=spec.host_selection_retry_max_attempts,
    )
    if spec.per_try_timeout_ms is not None:
        policy.per_try_timeout.CopyFrom(duration(spec.per_try_timeout_ms))
    return policy


def build_route(spec: HttpRoute) -> rc_pb2.Route:
    route = rc_pb2.Route(name=spec.name, match=build_match(spec.match))
    if spec.stats_tags:
        route.metadata.CopyFrom(stats_metadata(spec.stats_tags))
    for name, value in spec.request_headers_to_add:
        route.request_headers_to_add.add(
            header=base_pb2.HeaderValue(key=name, value=value),
            append_action=base_pb2.HeaderValueOption.OVERWRITE_IF_EXISTS_OR_ADD,
        )
    if spec.direct_status is not None:
        route.direct_response.status = spec.direct_status
        return route
    action = route.route
    if spec.weighted:
        action.weighted_clusters.clusters.extend(
            rc_pb2.WeightedCluster.ClusterWeight(name=c.cluster, weight=uint32(c.weight)) for c in spec.clusters
        )
    else:
        action.cluster = spec.clusters[0].cluster
    if spec.timeout_ms is not None:
        action.timeout.CopyFrom(duration(spec.timeout_ms))
    if spec.idle_timeout_ms is not None:
        action.idle_timeout.CopyFrom(duration(spec.idle_timeout_ms))
    if spec.retry is not None:
        action.retry_policy.CopyFrom(build_retry_policy(spec.retry))
    if spec.prefix_rewrite is not None:
        action.prefix_rewrite = spec.prefix_rewrite
    if spec.path_rewrite is not None:
        action.regex_rewrite.CopyFrom(_whole_path_rewrite(spec.path_rewrite))
    if spec.host_rewrite is not None:
        action.host_rewrite_literal = spec.host_rewrite
    if spec.match.path_kind == "connect":
        # Terminate the CONNECT here and carry the tunnelled bytes to the cluster as TCP.
        action.upgrade_configs.add(upgrade_type="CONNECT").connect_config.SetInParent()
    return route


def _whole_path_rewrite(path: str) -> regex_pb2.RegexMatchAndSubstitute:
    """Replace the whole path (gateway route `rewrite.path.exact`)."""
    return regex_pb2.RegexMatchAndSubstitute(pattern=_regex("^.*$"), substitution=path)


RouteBuilder = Callable[[HttpRoute], rc_pb2.Route]


def build_virtual_host(spec: VirtualHost, route_builder: RouteBuilder = build_route) -> rc_pb2.VirtualHost:
    return rc_pb2.VirtualHost(
        name=spec.name,
        domains=list(spec.domains),
        routes=[route_builder(r) for r in spec.routes],
        response_headers_to_remove=list(spec.response_headers_to_remove),
    )


def build_route_configuration(
    spec: RouteConfig, route_builder: RouteBuilder = build_route
) -> route_pb2.RouteConfiguration:
    """`route_builder` lets a caller reuse already-built routes (routes are shared by many proxies)."""
    return route_pb2.RouteConfiguration(
        name=spec.name, virtual_hosts=[build_virtual_host(v, route_builder) for v in spec.virtual_hosts]
    )


def _varint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _length_delimited(tag: int, data: bytes) -> bytes:
    return bytes((tag,)) + _varint(len(data)) + data


_NAME_TAG = 0x0A  # RouteConfiguration.name: field 1, wire type 2
_VIRTUAL_HOSTS_TAG = 0x12  # RouteConfiguration.virtual_hosts: field 2, wire type 2


def encode_virtual_host(spec: VirtualHost, route_builder: RouteBuilder = build_route) -> bytes:
    """The deterministic encoding of `spec`'s VirtualHost message."""
    return build_virtual_host(spec, route_builder).SerializeToString(deterministic=True)


def encode_route_configuration(spec: RouteConfig, vhost_encoder: Callable[[VirtualHost], bytes]) -> bytes:
    """The bytes `build_route_configuration(spec).SerializeToString(deterministic=True)` gives,
    assembled from each virtual host's encoding (a message's encoding is the concatenation
    of its fields' encodings, in field-number order; an empty string field is omitted).

    Lets a caller encode a virtual host shared by many route configurations once.
    """
    return assemble_route_configuration(spec.name, [vhost_encoder(v) for v in spec.virtual_hosts])


def frame_virtual_host(encoded: bytes) -> bytes:
    """A virtual host's encoding as a RouteConfiguration's `virtual_hosts` field (tag and length)."""
    return _length_delimited(_VIRTUAL_HOSTS_TAG, encoded)


@functools.lru_cache(maxsize=1024)
def _name_field(name: str) -> bytes:
    """A RouteConfiguration's encoded name (a few names, assembled for every proxy)."""
    return _length_delimited(_NAME_TAG, name.encode())


def assemble_route_configuration(name: str, virtual_hosts: list[bytes]) -> bytes:
    """A RouteConfiguration's deterministic encoding from its name and its virtual hosts' encodings."""
    return b"".join(route_configuration_parts(name, [frame_virtual_host(v) for v in virtual_hosts]))


def route_configuration_parts(name: str, framed_virtual_hosts: Sequence[bytes]) -> tuple[bytes, ...]:
    """The pieces whose concatenation is a RouteConfiguration's deterministic encoding, from its name
    and its virtual hosts' encodings already passed through `frame_virtual_host` (as a caller that
    shares them keeps them): joined by whoever reads the bytes."""
    return (_name_field(name), *framed_virtual_hosts) if name else tuple(framed_virtual_hosts)
