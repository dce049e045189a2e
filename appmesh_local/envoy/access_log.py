"""IR AccessLog → envoy.access_loggers.file (docs/reference.md#access-logs)."""

from __future__ import annotations

from envoy.config.accesslog.v3 import accesslog_pb2
from envoy.config.core.v3 import base_pb2
from envoy.config.core.v3 import substitution_format_string_pb2 as fmt_pb2
from envoy.extensions.access_loggers.file.v3 import file_pb2
from google.protobuf import struct_pb2

from appmesh_local.envoy.values import pack
from appmesh_local.ir import AccessLog


def build_access_log(log: AccessLog) -> accesslog_pb2.AccessLog:
    config = file_pb2.FileAccessLog(path=log.path)
    if log.text is not None:
        config.log_format.CopyFrom(
            fmt_pb2.SubstitutionFormatString(text_format_source=base_pb2.DataSource(inline_string=log.text))
        )
    elif log.json is not None:
        struct = struct_pb2.Struct()
        struct.update(dict(log.json))
        config.log_format.CopyFrom(fmt_pb2.SubstitutionFormatString(json_format=struct))
    return accesslog_pb2.AccessLog(name="envoy.access_loggers.file", typed_config=pack(config))


def build_access_logs(logs: tuple[AccessLog, ...]) -> list[accesslog_pb2.AccessLog]:
    return [build_access_log(log) for log in logs]
