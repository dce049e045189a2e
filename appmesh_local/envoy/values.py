"""Protobuf value helpers shared by the builders (durations, wrappers, metadata, Any)."""

from __future__ import annotations

import json

from envoy.config.core.v3 import base_pb2, config_source_pb2
from google.protobuf import any_pb2, duration_pb2, struct_pb2, wrappers_pb2
from google.protobuf.message import Message

from appmesh_local.ir import StatsTag
from appmesh_local.ir.names import AGGREGATE_STATS_KEY


def duration(ms: int) -> duration_pb2.Duration:
    return duration_pb2.Duration(seconds=ms // 1000, nanos=(ms % 1000) * 1_000_000)


def uint32(value: int) -> wrappers_pb2.UInt32Value:
    return wrappers_pb2.UInt32Value(value=value)


def pack(message: Message) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message)
    return packed


def stats_metadata(tags: tuple[StatsTag, ...]) -> base_pb2.Metadata:
    """`aws.appmesh.aggregate_stats` metadata, as App Mesh attaches to listeners/clusters/routes."""
    config = json.dumps({"tags": [{"key": t.key, "value": t.value} for t in tags]}, separators=(",", ":"))
    struct = struct_pb2.Struct()
    struct.update({"config": config})
    return base_pb2.Metadata(filter_metadata={AGGREGATE_STATS_KEY: struct})


def ads_source() -> config_source_pb2.ConfigSource:
    """Resources delivered over the same ADS stream (App Mesh's only transport, docs/reference.md#xds-transport)."""
    return config_source_pb2.ConfigSource(
        ads=config_source_pb2.AggregatedConfigSource(), resource_api_version=config_source_pb2.V3
    )
