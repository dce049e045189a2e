"""The App Mesh Envoy image's environment variables, read the way its agent read them.

App Mesh users configured their Envoy with environment variables on the sidecar container
(the user guide's "Envoy configuration variables"); the image's agent turned them into the
Envoy bootstrap and command line (aws/amazon-ecs-service-connect-agent,
`agent/envoy_bootstrap/envoy_bootstrap.go`). This module is the one place that does the same
here, for `appmesh-local bootstrap | envoy | task`, the Docker sidecars and the pytest plugin:
`ImageEnv.from_environ(env)` parses a task definition's environment block (errors worded as the
agent's), and `apply_image_env` adds what it asks for to a bootstrap. The table of variables, and
what each becomes here, is `docs/envoy-image-variables.md`.
"""

from __future__ import annotations

import copy
import ipaddress
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import yaml

from appmesh_local.xds.node_id import NodeIdError, parse_node_id

ADMIN_PORT = 9901
ADMIN_ACCESS_LOG = "/tmp/envoy_admin_access.log"  # the image's default, inside its container
ADMIN_UDS_PATH = "/tmp/envoy_admin.sock"
ADMIN_UDS_MODE = 0o600
OUTLIER_EVENT_LOG = "/dev/stdout"
LOG_LEVELS = ("trace", "debug", "info", "warn", "warning", "error", "critical", "off")
TRACERS = ("ENABLE_ENVOY_XRAY_TRACING", "ENABLE_ENVOY_DATADOG_TRACING", "ENABLE_ENVOY_JAEGER_TRACING")
XRAY_DEFAULT_RATE = 0.05  # X-Ray's own default: no manifest is written for it
# The agent's stats tag regexes (appendPortProtocolStatPrefixTagRegex): with several listeners a
# node's ingress stat prefix is `ingress.<protocol>.<port>`; these move protocol and port into tags.
# The agent's patterns began with `.*?`; Envoy searches for a tag regex anywhere in a stat name, so
# that prefix changes no tag, but Envoy's std::regex backtracks through it on every stat name that
# does not match (all cluster stats): it delayed every new cluster's warm-up by 50-100 ms, measured
# by tests/policies/test_cloud_map_changes.py (ACK → traffic 105-160 ms with it, 50 ms without).
# The tags extracted are the same (tests/dataplane/test_observability.py, real Envoy).
LISTENER_PROTOCOL_REGEX = r"\.ingress\.((\w+?)\.)[0-9]+?\.(.+?)$"
LISTENER_PORT_REGEX = r"\.ingress\.\w+?\.(([0-9]+?)\.)(.+?)$"
RDS_ROUTE_CONFIG_REGEX = r"\.ingress\.\w+?\.[0-9]+?\.rds\.((.*?)\.)(.+?)$"
# Variables of the image that change nothing here, and why (printed when set; docs table too).
IGNORED = {
    "APPMESH_PREVIEW": "there is one local control plane, no preview channel",
    "APPMESH_DUALSTACK_ENDPOINT": "there is no regional endpoint to choose",
    "APPMESH_SIGNING_NAME": "xDS here is plaintext and unsigned",
    "APPMESH_METRIC_EXTENSION_VERSION": "the metrics extension was a closed-source filter of App Mesh's Envoy build",
    "APPNET_ENVOY_RESTART_COUNT": "Envoy is not restarted when it exits",
    "PID_POLL_INTERVAL_MS": "there is no agent polling Envoy",
    "LISTENER_DRAIN_WAIT_TIME_S": "Envoy stops at once, without draining",
    "APPNET_AGENT_ADMIN_MODE": "there is no agent management interface",
    "APPNET_AGENT_HTTP_PORT": "there is no agent management interface",
    "APPNET_AGENT_ADMIN_UDS_PATH": "there is no agent management interface",
    "ENVOY_CONFIG_FILE": "the bootstrap is always generated",
}
_GO_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_GO_DURATION = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")


class ImageEnvError(ValueError):
    """A variable the image's agent would also have refused (the message names the variable)."""


@dataclass(frozen=True)
class Tracer:
    """The one tracing driver the variables enable."""

    driver: str  # "xray" | "jaeger" | "datadog"
    address: str
    port: int
    segment_name: str | None = None  # XRAY_SEGMENT_NAME
    sampling_manifest_file: str | None = None  # XRAY_SAMPLING_RULE_MANIFEST
    sampling_rate: float | None = None  # XRAY_SAMPLING_RATE, rounded as the agent did
    json_spans: bool = False  # JAEGER_TRACER_VERSION contains "json"
    service_name: str | None = None  # DD_SERVICE


@dataclass(frozen=True)
class DogStatsd:
    """ENABLE_ENVOY_DOG_STATSD's sink: UDP address:port, or a unix socket."""

    address: str = "127.0.0.1"
    port: int = 8125
    socket_path: str | None = None


@dataclass(frozen=True)
class ImageEnv:
    """What an environment block asks of Envoy; the defaults are the image's."""

    resource_arn: str | None = None
    resource_cluster: str | None = None
    region: str | None = None
    xds_endpoint: tuple[str, int] | None = None
    sds_socket_path: str | None = None
    admin_port: int | None = None  # None: the caller's default (the image's is 9901)
    admin_ipv6: bool = False
    admin_access_log: str | None = None  # None: the caller's default
    admin_uds: bool = False
    log_level: str | None = None
    concurrency: int | None = None
    initial_fetch_timeout_s: int = 0
    outlier_event_log: str = OUTLIER_EVENT_LOG
    stats_tags: bool = False
    stats_flush_interval: str | None = None  # a protobuf JSON duration ("10s")
    dog_statsd: DogStatsd | None = None
    tracer: Tracer | None = None
    tracing_file: str | None = None
    stats_config_file: str | None = None
    stats_sinks_file: str | None = None
    resources_file: str | None = None
    max_requests_per_io_cycle: int | None = None
    ignored: tuple[str, ...] = ()
    warnings: tuple[str, ...] = field(default=(), compare=False)

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> ImageEnv:
        """Parse the image's variables from `environ` (other variables are not looked at)."""
        env = _Reader(environ)
        warnings: list[str] = []
        log_level = env.text("ENVOY_LOG_LEVEL")
        if log_level is not None:
            log_level = log_level.lower()
            if log_level not in LOG_LEVELS:
                warnings.append(f"Envoy log level [{log_level}] is not supported, setting it to default [info].")
                log_level = "info"
        concurrency = env.integer("ENVOY_CONCURRENCY")
        if concurrency is not None and concurrency < 1:
            concurrency = None  # the agent's "not set" (-1)
        admin_mode = (env.text("ENVOY_ADMIN_MODE") or "tcp").lower()
        flush = env.text("ENVOY_STATS_FLUSH_INTERVAL")
        return cls(
            resource_arn=env.text("APPMESH_RESOURCE_ARN")
            or env.text("APPMESH_RESOURCE_NAME")
            or env.text("APPMESH_VIRTUAL_NODE_NAME"),
            resource_cluster=env.text("APPMESH_RESOURCE_CLUSTER") or env.text("APPMESH_VIRTUAL_NODE_CLUSTER"),
            region=env.text("AWS_REGION"),
            xds_endpoint=_host_port(env.text("APPMESH_XDS_ENDPOINT"), "APPMESH_XDS_ENDPOINT"),
            sds_socket_path=env.text("APPMESH_SDS_SOCKET_PATH"),
            admin_port=env.integer("ENVOY_ADMIN_ACCESS_PORT"),
            admin_ipv6=env.truthy("ENVOY_ADMIN_ACCESS_ENABLE_IPV6"),
            admin_access_log=env.text("ENVOY_ADMIN_ACCESS_LOG_FILE"),
            admin_uds=admin_mode == "uds",
            log_level=log_level,
            concurrency=concurrency,
            initial_fetch_timeout_s=env.integer("ENVOY_INITIAL_FETCH_TIMEOUT") or 0,
            outlier_event_log=env.text("ENVOY_OUTLIER_DETECTION_EVENT_LOG_PATH") or OUTLIER_EVENT_LOG,
            stats_tags=env.truthy("ENABLE_ENVOY_STATS_TAGS"),
            stats_flush_interval=_flush_interval(flush) if flush else None,
            dog_statsd=_dog_statsd(env) if env.truthy("ENABLE_ENVOY_DOG_STATSD") else None,
            tracer=_tracer(env),
            tracing_file=env.text("ENVOY_TRACING_CFG_FILE"),
            stats_config_file=env.text("ENVOY_STATS_CONFIG_FILE"),
            stats_sinks_file=env.text("ENVOY_STATS_SINKS_CFG_FILE"),
            resources_file=env.text("ENVOY_RESOURCES_CONFIG_FILE"),
            max_requests_per_io_cycle=env.integer("MAX_REQUESTS_PER_IO_CYCLE"),
            ignored=tuple(sorted(name for name in IGNORED if env.text(name))),
            warnings=tuple(warnings),
        )

    def notes(self) -> list[str]:
        """Lines worth telling the user: ignored variables (with why) and the agent's warnings."""
        return list(self.warnings) + [f"{name} is set but has no effect here: {IGNORED[name]}" for name in self.ignored]


class _Reader:
    """The agent's env helpers (agent/envoy_bootstrap/env): values trimmed, empty = unset."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self.environ = environ

    def text(self, key: str) -> str | None:
        value = (self.environ.get(key) or "").strip()
        return value or None

    def integer(self, key: str) -> int | None:
        value = self.text(key)
        if value is None:
            return None
        try:
            return int(value, 10)
        except ValueError:
            raise ImageEnvError(f'{key} environment variable ("{value}") must be an integer value.') from None

    def truthy(self, key: str) -> bool:
        """Go's strconv.ParseBool: 1 t T TRUE true True / 0 f F FALSE false False."""
        value = self.text(key)
        if value is None:
            return False
        if value in ("1", "t", "T", "TRUE", "true", "True"):
            return True
        if value in ("0", "f", "F", "FALSE", "false", "False"):
            return False
        raise ImageEnvError(f'{key} environment variable ("{value}") must be a boolean value.')


def _host_port(value: str | None, key: str) -> tuple[str, int] | None:
    if value is None:
        return None
    host, sep, port = value.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ImageEnvError(f'{key} environment variable ("{value}") must be host:port.')
    return host, int(port)


def _flush_interval(value: str) -> str:
    """ENVOY_STATS_FLUSH_INTERVAL is a Go duration ("10s", "1m30s", "500ms") → a protobuf duration."""
    seconds, position = 0.0, 0
    for match in _GO_DURATION.finditer(value):
        if match.start() != position:
            break
        seconds += float(match.group(1)) * _GO_UNITS[match.group(2)]
        position = match.end()
    if position != len(value) or not value:
        raise ImageEnvError(f'time: invalid duration "{value}" (ENVOY_STATS_FLUSH_INTERVAL)')
    if not 0.001 <= seconds < 300:  # Envoy's range for stats_flush_interval
        raise ImageEnvError(f"ENVOY_STATS_FLUSH_INTERVAL ({value}) must be at least 1ms and less than 5m")
    return f"{seconds:.9f}".rstrip("0").rstrip(".") + "s"


def _dog_statsd(env: _Reader) -> DogStatsd:
    return DogStatsd(
        address=env.text("STATSD_ADDRESS") or "127.0.0.1",
        port=env.integer("STATSD_PORT") or 8125,
        socket_path=env.text("STATSD_SOCKET_PATH"),
    )


def _tracer(env: _Reader) -> Tracer | None:
    enabled = [name for name in TRACERS if env.truthy(name)]
    if len(enabled) > 1:
        raise ImageEnvError(
            "Only a single envoy trace driver can be configured; please enable only one of "
            "ENABLE_ENVOY_XRAY_TRACING, ENABLE_ENVOY_DATADOG_TRACING or ENABLE_ENVOY_JAEGER_TRACING."
        )
    if not enabled:
        return None
    if enabled[0] == "ENABLE_ENVOY_JAEGER_TRACING":
        return Tracer(
            driver="jaeger",
            address=env.text("JAEGER_TRACER_ADDRESS") or "127.0.0.1",
            port=env.integer("JAEGER_TRACER_PORT") or 9411,
            json_spans="json" in (env.text("JAEGER_TRACER_VERSION") or "").lower(),
        )
    if enabled[0] == "ENABLE_ENVOY_DATADOG_TRACING":
        return Tracer(
            driver="datadog",
            address=env.text("DATADOG_TRACER_ADDRESS") or "127.0.0.1",
            port=env.integer("DATADOG_TRACER_PORT") or 8126,
            service_name=env.text("DD_SERVICE"),
        )
    address, port = _xray_daemon(env)
    manifest = env.text("XRAY_SAMPLING_RULE_MANIFEST")
    if manifest:
        _check_sampling_manifest(manifest)
    return Tracer(
        driver="xray",
        address=address,
        port=port,
        segment_name=env.text("XRAY_SEGMENT_NAME"),
        sampling_manifest_file=manifest,
        sampling_rate=None if manifest else _sampling_rate(env.text("XRAY_SAMPLING_RATE")),
    )


def _xray_daemon(env: _Reader) -> tuple[str, int]:
    """XRAY_DAEMON_PORT (2000), overridden by AWS_XRAY_DAEMON_ADDRESS "ip" or "ip:port"."""
    address, port = "127.0.0.1", env.integer("XRAY_DAEMON_PORT") or 2000
    value = env.text("AWS_XRAY_DAEMON_ADDRESS")
    if value:
        host, sep, maybe_port = value.rpartition(":")
        if sep and maybe_port.isdigit() and host and (host.startswith("[") or ":" not in host):
            address, port = host.strip("[]"), int(maybe_port)
        else:
            address = value.strip("[]")
        try:
            ipaddress.ip_address(address)
        except ValueError:
            raise ImageEnvError(
                'AWS_XRAY_DAEMON_ADDRESS must be a static IPv4 or IPv6 address such as "127.0.0.1".'
            ) from None
    return address, port


def _sampling_rate(value: str | None) -> float | None:
    """The agent's rounding to 2 decimals; X-Ray's own 5 % needs no manifest."""
    if value is None:
        return None
    try:
        rate = float(value)
    except ValueError:
        rate = math.nan
    if not 0 <= rate <= 1:
        raise ImageEnvError(
            f'XRAY_SAMPLING_RATE environment variable ("{value}") must be a decimal between 0 and 1.00 (100%)'
        )
    rate = round(rate * 100) / 100
    return None if rate == XRAY_DEFAULT_RATE else rate


def _check_sampling_manifest(path: str) -> None:
    try:
        manifest = json.loads(Path(path).read_text())
    except (OSError, ValueError) as error:
        raise ImageEnvError(f'could not read file XRAY_SAMPLING_RULE_MANIFEST="{path}": {error}') from None
    if not isinstance(manifest, dict) or manifest.get("version") == 1:
        raise ImageEnvError(
            f'validation failed for file XRAY_SAMPLING_RULE_MANIFEST="{path}": version 1 is not supported'
        )


# ---- the bootstrap ------------------------------------------------------------------------------
@dataclass(frozen=True)
class ProxyName:
    """The mesh and resource a bootstrap is for (X-Ray segment and Datadog service names, stats tags)."""

    mesh: str
    kind: str  # virtualNode | virtualGateway
    name: str


def proxy_name(node_id: str) -> ProxyName | None:
    """The mesh resource a node id names (the agent's getMeshResourceFromNodeId), None if none."""
    try:
        ref = parse_node_id(node_id)
    except NodeIdError:
        return None
    return ProxyName(ref.mesh, ref.kind, ref.name)


def admin(env: ImageEnv, address: str, port: int, access_log: str | None) -> dict[str, Any]:
    """The admin interface: the image's port and access log, on `address` (ours: loopback by default).

    ENVOY_ADMIN_ACCESS_ENABLE_IPV6 made App Mesh's `0.0.0.0` the dual-stack `::`; the same happens
    to a wildcard here, and loopback becomes `::1`. ENVOY_ADMIN_MODE=uds: the image's unix socket.
    """
    if env.admin_uds:
        bind: dict[str, Any] = {"pipe": {"path": ADMIN_UDS_PATH, "mode": ADMIN_UDS_MODE}}
    else:
        host = address
        if env.admin_ipv6:
            host = {"0.0.0.0": "::", "127.0.0.1": "::1"}.get(address, address)
        bind = {"socket_address": {"address": host, "port_value": port}}
        if host == "::":
            bind["socket_address"]["ipv4_compat"] = True
    config: dict[str, Any] = {"address": bind}
    log = env.admin_access_log or access_log
    if log:
        config["access_log"] = [
            {
                "name": "envoy.access_loggers.file",
                "typed_config": {
                    "@type": "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog",
                    "path": log,
                },
            }
        ]
    return config


def stats_config(env: ImageEnv, proxy: ProxyName | None) -> dict[str, Any]:
    """The agent's stats tags: the listener ones always, the mesh and resource ones with
    ENABLE_ENVOY_STATS_TAGS (appmesh.mesh, appmesh.virtual_node | appmesh.virtual_gateway)."""
    tags: list[dict[str, Any]] = []
    if env.stats_tags and proxy is not None:
        snake = re.sub(r"(?<!^)(?=[A-Z])", "_", proxy.kind).lower()
        tags += [
            {"tag_name": "appmesh.mesh", "fixed_value": proxy.mesh},
            {"tag_name": f"appmesh.{snake}", "fixed_value": proxy.name},
        ]
    tags += [
        {"tag_name": "appmesh.listener_protocol", "regex": LISTENER_PROTOCOL_REGEX},
        {"tag_name": "appmesh.listener_port", "regex": LISTENER_PORT_REGEX},
        {"tag_name": "envoy_rds_route_config", "regex": RDS_ROUTE_CONFIG_REGEX},
    ]
    return {"stats_tags": tags}


def dog_statsd_sink(sink: DogStatsd) -> dict[str, Any]:
    if sink.socket_path:
        address: dict[str, Any] = {"pipe": {"path": sink.socket_path}}
    else:
        address = {"socket_address": {"protocol": "UDP", "address": sink.address, "port_value": sink.port}}
    return {
        "name": "envoy.stat_sinks.dog_statsd",
        "typed_config": {"@type": "type.googleapis.com/envoy.config.metrics.v3.DogStatsdSink", "address": address},
    }


def _collector_cluster(name: str, address: str, port: int) -> dict[str, Any]:
    """The agent's tracer clusters: STRICT_DNS, 1 s connect timeout, round robin."""
    return {
        "name": name,
        "type": "STRICT_DNS",
        "connect_timeout": "1s",
        "lb_policy": "ROUND_ROBIN",
        "load_assignment": {
            "cluster_name": name,
            "endpoints": [
                {
                    "lb_endpoints": [
                        {"endpoint": {"address": {"socket_address": {"address": address, "port_value": port}}}}
                    ]
                }
            ],
        },
    }


def tracing(tracer: Tracer, proxy: ProxyName | None, node_cluster: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(bootstrap `tracing`, static clusters it needs) for the enabled driver, as the agent wrote them."""
    if tracer.driver == "jaeger":
        config = {
            "@type": "type.googleapis.com/envoy.config.trace.v3.ZipkinConfig",
            "collector_cluster": "jaeger",
            "collector_endpoint": "/api/v2/spans",
            "collector_endpoint_version": "HTTP_JSON" if tracer.json_spans else "HTTP_PROTO",
            "shared_span_context": False,
        }
        return {"http": {"name": "envoy.tracers.zipkin", "typed_config": config}}, [
            _collector_cluster("jaeger", tracer.address, tracer.port)
        ]
    if tracer.driver == "datadog":
        service = tracer.service_name or (f"envoy-{proxy.mesh}/{proxy.name}" if proxy else "envoy")
        config = {
            "@type": "type.googleapis.com/envoy.config.trace.v3.DatadogConfig",
            "collector_cluster": "datadog_agent",
            "service_name": service,
        }
        return {"http": {"name": "envoy.tracers.datadog", "typed_config": config}}, [
            _collector_cluster("datadog_agent", tracer.address, tracer.port)
        ]
    fields: dict[str, Any] = {"origin": "AWS::AppMesh::Proxy"}
    if proxy is not None:
        # The agent always says virtual_node_name, for gateways too (X-Ray shows it as the proxy's name).
        fields["aws"] = {"app_mesh": {"mesh_name": proxy.mesh, "virtual_node_name": proxy.name}}
    xray: dict[str, Any] = {
        "@type": "type.googleapis.com/envoy.config.trace.v3.XRayConfig",
        "segment_name": tracer.segment_name or (f"{proxy.mesh}/{proxy.name}" if proxy else node_cluster),
        "daemon_endpoint": {"protocol": "UDP", "address": tracer.address, "port_value": tracer.port},
        "segment_fields": fields,
    }
    if tracer.sampling_manifest_file:
        xray["sampling_rule_manifest"] = {"filename": tracer.sampling_manifest_file}
    elif tracer.sampling_rate is not None:
        # The agent wrote this manifest to /tmp/sampling-rules.json; inline it is the same rule.
        manifest = {"version": 2, "default": {"fixed_target": 1, "rate": tracer.sampling_rate}, "rules": []}
        xray["sampling_rule_manifest"] = {"inline_string": json.dumps(manifest, separators=(",", ":"))}
    return {"http": {"name": "envoy.tracers.xray", "typed_config": xray}}, []


def apply_image_env(bootstrap: Mapping[str, Any], env: ImageEnv) -> dict[str, Any]:
    """`bootstrap` with what the variables add: tracing, stats tags and sinks, the flush interval,
    runtime flags, the outlier event log, then the users' own files merged as the agent merged them.

    The admin interface and node identity are the caller's (render_bootstrap), from `admin()` and
    the resource variables. The input is not modified.
    """
    out = copy.deepcopy(dict(bootstrap))
    node = out.get("node") or {}
    proxy = proxy_name(str(node.get("id", "")))
    if env.tracer is not None and env.tracing_file is None:
        config, clusters = tracing(env.tracer, proxy, str(node.get("cluster", "")))
        out["tracing"] = config
        out.setdefault("static_resources", {}).setdefault("clusters", []).extend(clusters)
    if env.stats_config_file is None:
        out["stats_config"] = stats_config(env, proxy)
    if env.stats_flush_interval:
        out["stats_flush_interval"] = env.stats_flush_interval
    if env.dog_statsd is not None and env.stats_sinks_file is None:
        out.setdefault("stats_sinks", []).append(dog_statsd_sink(env.dog_statsd))
    if env.max_requests_per_io_cycle is not None and env.max_requests_per_io_cycle > 0:
        for layer in (out.get("layered_runtime") or {}).get("layers", []):
            if "static_layer" in layer:
                layer["static_layer"]["http.max_requests_per_io_cycle"] = env.max_requests_per_io_cycle
    out["cluster_manager"] = {"outlier_detection": {"event_log_path": env.outlier_event_log}}
    for key, path in (
        ("ENVOY_TRACING_CFG_FILE", env.tracing_file),
        ("ENVOY_STATS_CONFIG_FILE", env.stats_config_file),
        ("ENVOY_STATS_SINKS_CFG_FILE", env.stats_sinks_file),
    ):
        if path:
            custom = _read_config(key, path)
            if not custom:
                raise ImageEnvError(f"Specified {key} {path} is empty.")
            out = merge_config(out, custom, key, path)
            if key == "ENVOY_STATS_SINKS_CFG_FILE" and "stats_sinks" not in out:
                raise ImageEnvError(f"{key} was specified as {path}, but contained no valid stats_sinks configuration.")
    if env.resources_file:
        custom = _read_config("ENVOY_RESOURCES_CONFIG_FILE", env.resources_file)
        if custom:  # the agent ignored an empty one
            out = merge_config(out, custom, "ENVOY_RESOURCES_CONFIG_FILE", env.resources_file)
    return out


# ---- the users' own files (ENVOY_*_FILE), merged as the agent's mergeCustomConfigMaps did ---------
def _read_config(key: str, path: str) -> dict[str, Any]:
    try:
        data = yaml.safe_load(Path(path).read_text())
    except OSError as error:
        raise ImageEnvError(f"{key} {path}: {error.strerror or error}") from None
    except yaml.YAMLError as error:
        raise ImageEnvError(f"failure to parse {key} {path} for the reason: {error}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ImageEnvError(f"failure to parse {key} {path} for the reason: not a mapping")
    return data


def _snake(key: str) -> str:
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", key).lower()


def _normalized(config: Mapping[str, Any], key: str, path: str) -> dict[str, Any]:
    """Top-level keys in snake_case (our bootstrap's form); both spellings of one key is an error."""
    out: dict[str, Any] = {}
    for name, value in config.items():
        snake = _snake(str(name))
        if snake in out:
            raise ImageEnvError(
                f"failure to merge {key} {path} into envoy config for the reason: the config contains both "
                f"{snake} and its lowerCamelCase spelling, specify only one of them"
            )
        out[snake] = value
    return out


def merge_config(bootstrap: dict[str, Any], custom: Mapping[str, Any], key: str, path: str) -> dict[str, Any]:
    """One custom file into the bootstrap: tracing and stats_config only once, stats_sinks and
    static listeners/clusters/secrets appended, any other top-level key replaced."""
    custom = _normalized(custom, key, path)
    why = f"failure to merge {key} {path} into envoy config for the reason: "
    if "tracing" in custom:
        if "tracing" in bootstrap:
            raise ImageEnvError(why + "multiple tracing configurations were specified")
        bootstrap["tracing"] = custom.pop("tracing")
    if "stats_config" in custom:
        if "stats_config" in bootstrap:
            raise ImageEnvError(why + "multiple stats configurations were specified")
        bootstrap["stats_config"] = custom.pop("stats_config")
    if "stats_sinks" in custom:
        bootstrap.setdefault("stats_sinks", []).extend(custom.pop("stats_sinks") or [])
    if "static_resources" in custom:
        static = _normalized(custom.pop("static_resources") or {}, key, path)
        target = bootstrap.setdefault("static_resources", {})
        for kind in ("listeners", "clusters", "secrets"):
            if static.get(kind):
                target.setdefault(kind, []).extend(static[kind])
    bootstrap.update(custom)
    return bootstrap


# ---- who the proxy is, and where its control plane is ---------------------------------------------
@dataclass(frozen=True)
class ProxyIdentity:
    """The proxy a bootstrap is for: its mesh resource, and the node id Envoy presents."""

    mesh: str
    kind: str
    name: str
    node_id: str | None = None  # None: the short `mesh/<mesh>/<kind>/<name>` form
    account: str | None = None  # the account a full ARN names


def proxy_identity(
    env: ImageEnv, mesh: str | None = None, kind: str | None = None, name: str | None = None
) -> ProxyIdentity:
    """APPMESH_RESOURCE_ARN (else the deprecated APPMESH_RESOURCE_NAME / APPMESH_VIRTUAL_NODE_NAME)
    and/or an explicit mesh, kind and name: either alone names the proxy, together they must agree.
    The ARN becomes the node id as given, as App Mesh's agent wrote it."""
    if env.resource_arn is None:
        if not (mesh and kind and name):
            raise ImageEnvError("APPMESH_RESOURCE_ARN environment variable must be set.")
        return ProxyIdentity(mesh, kind, name)
    try:
        ref = parse_node_id(env.resource_arn)
    except NodeIdError as error:
        raise ImageEnvError(f"APPMESH_RESOURCE_ARN: {error}") from None
    differs = [
        f"{what} {value}"
        for what, value, named in (("mesh", mesh, ref.mesh), ("kind", kind, ref.kind), ("name", name, ref.name))
        if value is not None and value != named
    ]
    if differs:  # `kind` alone comes from a command that runs one kind only (task: a virtual node)
        raise ImageEnvError(
            f"APPMESH_RESOURCE_ARN names {ref.kind} {ref.name} in mesh {ref.mesh}, but this command was given "
            f"{', '.join(differs)}: give one of them, or the same proxy twice"
        )
    account = ref.account if env.resource_arn.startswith("arn:") or "@" in env.resource_arn else None
    return ProxyIdentity(ref.mesh, ref.kind, ref.name, node_id=env.resource_arn, account=account)
