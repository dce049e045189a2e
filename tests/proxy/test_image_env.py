"""The App Mesh Envoy image's variables → bootstrap, as the image's agent mapped them.

Each mapping is checked on the rendered bootstrap, and bootstraps with every feature on are
checked by `envoy --mode validate`. Traffic-level proofs (admin port, stats tags, StatsD,
traces at collectors) are in tests/dataplane/.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml

from appmesh_local.cli import main
from appmesh_local.proxy.bootstrap import render_bootstrap
from appmesh_local.proxy.commands import build_bootstrap, image_env
from appmesh_local.proxy.image_env import (
    LISTENER_PORT_REGEX,
    LISTENER_PROTOCOL_REGEX,
    RDS_ROUTE_CONFIG_REGEX,
    ImageEnv,
    ImageEnvError,
    proxy_identity,
)
from appmesh_local.proxy.process import envoy_binary

NODE = "mesh/shop/virtualNode/front"


def bootstrap(variables: dict[str, str], **options) -> dict:
    return render_bootstrap(
        "shop", "virtualNode", "front", "127.0.0.1", 4601, image=ImageEnv.from_environ(variables), **options
    )


def validate(config: dict, tmp_path: Path) -> None:
    path = tmp_path / "bootstrap.json"
    path.write_text(json.dumps(config))
    result = subprocess.run(
        [str(envoy_binary()), "--mode", "validate", "-c", str(path), "--use-dynamic-base-id", "--log-level", "error"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr[-3000:]


# ---- defaults -------------------------------------------------------------------------------------
def test_defaults_are_the_images(tmp_path):
    config = bootstrap({})
    assert config["admin"]["address"] == {"socket_address": {"address": "127.0.0.1", "port_value": 9901}}
    assert "access_log" not in config["admin"]  # EnvoyProcess keeps one in its own directory
    assert config["cluster_manager"] == {"outlier_detection": {"event_log_path": "/dev/stdout"}}
    # The listener tags are always there (the agent added them unless ENVOY_STATS_CONFIG_FILE).
    assert config["stats_config"] == {
        "stats_tags": [
            {"tag_name": "appmesh.listener_protocol", "regex": LISTENER_PROTOCOL_REGEX},
            {"tag_name": "appmesh.listener_port", "regex": LISTENER_PORT_REGEX},
            {"tag_name": "envoy_rds_route_config", "regex": RDS_ROUTE_CONFIG_REGEX},
        ]
    }
    assert "tracing" not in config and "stats_sinks" not in config and "stats_flush_interval" not in config
    assert config["dynamic_resources"]["lds_config"]["initial_fetch_timeout"] == "0s"
    validate(config, tmp_path)


def test_bootstrap_command_writes_the_images_admin_access_log():
    config = build_bootstrap("shop", virtual_node="front")
    [log] = config["admin"]["access_log"]
    assert log["typed_config"]["path"] == "/tmp/envoy_admin_access.log"


# ---- one variable at a time -----------------------------------------------------------------------
def test_admin_variables():
    config = bootstrap({"ENVOY_ADMIN_ACCESS_PORT": "9911", "ENVOY_ADMIN_ACCESS_LOG_FILE": "/var/log/admin.log"})
    assert config["admin"]["address"]["socket_address"] == {"address": "127.0.0.1", "port_value": 9911}
    assert config["admin"]["access_log"][0]["typed_config"]["path"] == "/var/log/admin.log"
    assert (
        bootstrap({"ENVOY_ADMIN_ACCESS_ENABLE_IPV6": "true"})["admin"]["address"]["socket_address"]["address"] == "::1"
    )
    wide = bootstrap({"ENVOY_ADMIN_ACCESS_ENABLE_IPV6": "1"}, admin_address="0.0.0.0")["admin"]["address"]
    assert wide["socket_address"] == {"address": "::", "port_value": 9901, "ipv4_compat": True}  # the image's
    uds = bootstrap({"ENVOY_ADMIN_MODE": "uds"})["admin"]["address"]
    assert uds == {"pipe": {"path": "/tmp/envoy_admin.sock", "mode": 0o600}}
    assert (
        bootstrap({"ENVOY_ADMIN_ACCESS_PORT": "9911"}, admin_port=0)["admin"]["address"]["socket_address"]["port_value"]
        == 0
    )  # an explicit argument wins


def test_identity_variables():
    config = bootstrap({"APPMESH_RESOURCE_CLUSTER": "front-canary", "AWS_REGION": "eu-west-1"})
    assert config["node"]["cluster"] == "front-canary"
    assert config["node"]["metadata"]["appmesh_local.region"] == "eu-west-1"
    arn = "arn:aws:appmesh:eu-west-1:111122223333:mesh/shop/virtualGateway/edge"
    identity = proxy_identity(ImageEnv.from_environ({"APPMESH_RESOURCE_ARN": arn}))
    assert (identity.mesh, identity.kind, identity.name, identity.node_id, identity.account) == (
        "shop",
        "virtualGateway",
        "edge",
        arn,
        "111122223333",
    )
    legacy = proxy_identity(ImageEnv.from_environ({"APPMESH_VIRTUAL_NODE_NAME": NODE}))
    assert (legacy.mesh, legacy.kind, legacy.name, legacy.account) == ("shop", "virtualNode", "front", None)
    with pytest.raises(ImageEnvError, match="APPMESH_RESOURCE_ARN environment variable must be set"):
        proxy_identity(ImageEnv())
    with pytest.raises(
        ImageEnvError, match="names virtualNode front in mesh shop, but this command was given name back"
    ):
        proxy_identity(ImageEnv.from_environ({"APPMESH_RESOURCE_ARN": NODE}), "shop", "virtualNode", "back")
    # What is given must agree; what is not comes from the ARN (a task knows only that it runs a node).
    ours = ImageEnv.from_environ({"APPMESH_RESOURCE_ARN": NODE})
    assert proxy_identity(ours, kind="virtualNode").name == "front"
    assert proxy_identity(ours, mesh="shop").name == "front"
    with pytest.raises(ImageEnvError, match="given kind virtualNode"):
        proxy_identity(ImageEnv.from_environ({"APPMESH_RESOURCE_ARN": arn}), kind="virtualNode")


def test_xds_endpoint_and_sds_socket():
    config = build_bootstrap(
        "shop",
        virtual_node="front",
        image=ImageEnv.from_environ(
            {"APPMESH_XDS_ENDPOINT": "appmesh:4601", "APPMESH_SDS_SOCKET_PATH": "/run/sds.sock"}
        ),
    )
    clusters = {c["name"]: c for c in config["static_resources"]["clusters"]}
    xds = clusters["xds_cluster"]["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]["address"]
    assert xds["socket_address"] == {"address": "appmesh", "port_value": 4601}
    assert clusters["xds_cluster"]["type"] == "LOGICAL_DNS"
    sds = clusters["static_cluster_sds_unix_socket"]["load_assignment"]["endpoints"][0]["lb_endpoints"][0]
    assert sds["endpoint"]["address"] == {"pipe": {"path": "/run/sds.sock"}}
    explicit = build_bootstrap(
        "shop", virtual_node="front", xds_host="10.0.0.9", image=ImageEnv.from_environ({"APPMESH_XDS_ENDPOINT": "a:1"})
    )
    address = explicit["static_resources"]["clusters"][0]["load_assignment"]["endpoints"][0]["lb_endpoints"][0]
    assert address["endpoint"]["address"]["socket_address"] == {"address": "10.0.0.9", "port_value": 1}


def test_start_up_variables():
    image = ImageEnv.from_environ(
        {"ENVOY_LOG_LEVEL": "DEBUG", "ENVOY_CONCURRENCY": "3", "ENVOY_INITIAL_FETCH_TIMEOUT": "5"}
    )
    assert (image.log_level, image.concurrency) == ("debug", 3)
    config = render_bootstrap("m", "virtualNode", "a", "127.0.0.1", 1, image=image)
    assert config["dynamic_resources"]["cds_config"]["initial_fetch_timeout"] == "5s"
    odd = ImageEnv.from_environ({"ENVOY_LOG_LEVEL": "loud"})
    assert odd.log_level == "info" and odd.notes() == [
        "Envoy log level [loud] is not supported, setting it to default [info]."
    ]
    assert ImageEnv.from_environ({"ENVOY_CONCURRENCY": "-1"}).concurrency is None  # the agent's "not set"


def test_stats_tags_name_the_mesh_and_resource():
    tags = bootstrap({"ENABLE_ENVOY_STATS_TAGS": "1"})["stats_config"]["stats_tags"]
    assert tags[:2] == [
        {"tag_name": "appmesh.mesh", "fixed_value": "shop"},
        {"tag_name": "appmesh.virtual_node", "fixed_value": "front"},
    ]
    gateway = render_bootstrap(
        "shop", "virtualGateway", "edge", "h", 1, image=ImageEnv.from_environ({"ENABLE_ENVOY_STATS_TAGS": "true"})
    )
    assert gateway["stats_config"]["stats_tags"][1] == {"tag_name": "appmesh.virtual_gateway", "fixed_value": "edge"}


def test_dog_statsd_and_flush_interval():
    config = bootstrap(
        {
            "ENABLE_ENVOY_DOG_STATSD": "1",
            "STATSD_ADDRESS": "10.1.2.3",
            "STATSD_PORT": "9125",
            "ENVOY_STATS_FLUSH_INTERVAL": "1m30s",
        }
    )
    [sink] = config["stats_sinks"]
    assert sink["name"] == "envoy.stat_sinks.dog_statsd"
    assert sink["typed_config"]["address"]["socket_address"] == {
        "protocol": "UDP",
        "address": "10.1.2.3",
        "port_value": 9125,
    }
    assert config["stats_flush_interval"] == "90s"
    unix = bootstrap({"ENABLE_ENVOY_DOG_STATSD": "1", "STATSD_SOCKET_PATH": "/run/dsd.sock"})["stats_sinks"][0]
    assert unix["typed_config"]["address"] == {"pipe": {"path": "/run/dsd.sock"}}
    assert bootstrap({"ENVOY_STATS_FLUSH_INTERVAL": "250ms"})["stats_flush_interval"] == "0.25s"


def test_xray_tracing():
    tracing = bootstrap({"ENABLE_ENVOY_XRAY_TRACING": "1"})["tracing"]["http"]
    assert tracing["name"] == "envoy.tracers.xray"
    config = tracing["typed_config"]
    assert config["segment_name"] == "shop/front"
    assert config["daemon_endpoint"] == {"protocol": "UDP", "address": "127.0.0.1", "port_value": 2000}
    assert config["segment_fields"] == {
        "origin": "AWS::AppMesh::Proxy",
        "aws": {"app_mesh": {"mesh_name": "shop", "virtual_node_name": "front"}},
    }
    assert "sampling_rule_manifest" not in config  # X-Ray's own 5 %
    custom = bootstrap(
        {
            "ENABLE_ENVOY_XRAY_TRACING": "1",
            "XRAY_DAEMON_PORT": "2100",
            "AWS_XRAY_DAEMON_ADDRESS": "10.0.0.7:2200",
            "XRAY_SEGMENT_NAME": "front-segment",
            "XRAY_SAMPLING_RATE": "0.254",
        }
    )["tracing"]["http"]["typed_config"]
    assert custom["daemon_endpoint"] == {"protocol": "UDP", "address": "10.0.0.7", "port_value": 2200}
    assert custom["segment_name"] == "front-segment"
    manifest = json.loads(custom["sampling_rule_manifest"]["inline_string"])
    assert manifest == {"version": 2, "default": {"fixed_target": 1, "rate": 0.25}, "rules": []}
    assert (
        bootstrap({"ENABLE_ENVOY_XRAY_TRACING": "1", "XRAY_SAMPLING_RATE": "0.05"})["tracing"]["http"][
            "typed_config"
        ].get("sampling_rule_manifest")
        is None
    )


def test_jaeger_and_datadog_tracing():
    jaeger = bootstrap({"ENABLE_ENVOY_JAEGER_TRACING": "1", "JAEGER_TRACER_PORT": "9412"})
    config = jaeger["tracing"]["http"]["typed_config"]
    assert jaeger["tracing"]["http"]["name"] == "envoy.tracers.zipkin"
    assert (config["collector_cluster"], config["collector_endpoint"], config["collector_endpoint_version"]) == (
        "jaeger",
        "/api/v2/spans",
        "HTTP_PROTO",
    )
    cluster = jaeger["static_resources"]["clusters"][-1]
    assert cluster["name"] == "jaeger" and cluster["type"] == "STRICT_DNS"
    assert cluster["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]["address"]["socket_address"] == {
        "address": "127.0.0.1",
        "port_value": 9412,
    }
    json_spans = bootstrap({"ENABLE_ENVOY_JAEGER_TRACING": "1", "JAEGER_TRACER_VERSION": "JSON"})
    assert json_spans["tracing"]["http"]["typed_config"]["collector_endpoint_version"] == "HTTP_JSON"
    datadog = bootstrap({"ENABLE_ENVOY_DATADOG_TRACING": "1"})
    assert datadog["tracing"]["http"]["typed_config"]["service_name"] == "envoy-shop/front"
    assert datadog["static_resources"]["clusters"][-1]["name"] == "datadog_agent"
    named = bootstrap(
        {"ENABLE_ENVOY_DATADOG_TRACING": "1", "DD_SERVICE": "front", "DATADOG_TRACER_ADDRESS": "10.0.0.8"}
    )
    assert named["tracing"]["http"]["typed_config"]["service_name"] == "front"


def test_runtime_and_outlier_log_variables():
    config = bootstrap({"MAX_REQUESTS_PER_IO_CYCLE": "1", "ENVOY_OUTLIER_DETECTION_EVENT_LOG_PATH": "/var/log/o.log"})
    assert config["layered_runtime"]["layers"][0]["static_layer"]["http.max_requests_per_io_cycle"] == 1
    assert config["cluster_manager"]["outlier_detection"]["event_log_path"] == "/var/log/o.log"


# ---- the users' own files -------------------------------------------------------------------------
def test_custom_files_are_merged_as_the_agent_merged_them(tmp_path):
    tracing_file = tmp_path / "tracing.yaml"
    tracing_file.write_text(
        yaml.safe_dump(
            {
                "tracing": {
                    "http": {
                        "name": "envoy.tracers.zipkin",
                        "typedConfig": {
                            "@type": "type.googleapis.com/envoy.config.trace.v3.ZipkinConfig",
                            "collector_cluster": "otel",
                            "collector_endpoint": "/api/v2/spans",
                            "collector_endpoint_version": "HTTP_JSON",
                        },
                    }
                },
                "staticResources": {"clusters": [collector("otel", 4411)]},
            }
        )
    )
    stats_file = tmp_path / "stats.yaml"
    stats_file.write_text(yaml.safe_dump({"stats_config": {"use_all_default_tags": False}}))
    sinks_file = tmp_path / "sinks.yaml"
    sinks_file.write_text(
        yaml.safe_dump(
            {
                "statsSinks": [
                    {
                        "name": "envoy.stat_sinks.statsd",
                        "typed_config": {
                            "@type": "type.googleapis.com/envoy.config.metrics.v3.StatsdSink",
                            "address": {
                                "socket_address": {"protocol": "UDP", "address": "127.0.0.1", "port_value": 8125}
                            },
                        },
                    }
                ]
            }
        )
    )
    resources_file = tmp_path / "resources.yaml"
    resources_file.write_text(yaml.safe_dump({"static_resources": {"clusters": [collector("extra", 7000)]}}))
    config = bootstrap(
        {
            "ENVOY_TRACING_CFG_FILE": str(tracing_file),
            "ENABLE_ENVOY_XRAY_TRACING": "1",  # a tracing file replaces the built-in tracers
            "ENVOY_STATS_CONFIG_FILE": str(stats_file),
            "ENABLE_ENVOY_STATS_TAGS": "1",  # a stats file replaces the built-in tags
            "ENVOY_STATS_SINKS_CFG_FILE": str(sinks_file),
            "ENABLE_ENVOY_DOG_STATSD": "1",  # a sinks file replaces DogStatsD
            "ENVOY_RESOURCES_CONFIG_FILE": str(resources_file),
        }
    )
    assert config["tracing"]["http"]["typedConfig"]["collector_cluster"] == "otel"  # nested keys as written
    assert config["stats_config"] == {"use_all_default_tags": False}
    assert [s["name"] for s in config["stats_sinks"]] == ["envoy.stat_sinks.statsd"]
    assert [c["name"] for c in config["static_resources"]["clusters"]] == ["xds_cluster", "otel", "extra"]
    validate(config, tmp_path)


def collector(name: str, port: int) -> dict:
    return {
        "name": name,
        "type": "STATIC",
        "connect_timeout": "1s",
        "load_assignment": {
            "cluster_name": name,
            "endpoints": [
                {
                    "lb_endpoints": [
                        {"endpoint": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": port}}}}
                    ]
                }
            ],
        },
    }


def test_custom_file_errors(tmp_path):
    duplicate = tmp_path / "resources.yaml"
    duplicate.write_text(yaml.safe_dump({"tracing": {"http": {"name": "envoy.tracers.zipkin"}}}))
    with pytest.raises(ImageEnvError, match="multiple tracing configurations were specified"):
        bootstrap({"ENABLE_ENVOY_JAEGER_TRACING": "1", "ENVOY_RESOURCES_CONFIG_FILE": str(duplicate)})
    empty_sinks = tmp_path / "sinks.yaml"
    empty_sinks.write_text(yaml.safe_dump({"admin": {}}))
    with pytest.raises(ImageEnvError, match="contained no valid stats_sinks configuration"):
        bootstrap({"ENVOY_STATS_SINKS_CFG_FILE": str(empty_sinks)})
    both = tmp_path / "both.yaml"
    both.write_text(yaml.safe_dump({"statsSinks": [], "stats_sinks": []}))
    with pytest.raises(ImageEnvError, match="specify only one of them"):
        bootstrap({"ENVOY_STATS_SINKS_CFG_FILE": str(both)})
    with pytest.raises(ImageEnvError, match="ENVOY_TRACING_CFG_FILE"):
        bootstrap({"ENVOY_TRACING_CFG_FILE": str(tmp_path / "missing.yaml")})
    blank = tmp_path / "blank.yaml"
    blank.write_text("")
    assert bootstrap({"ENVOY_RESOURCES_CONFIG_FILE": str(blank)})  # the agent ignored an empty resources file


# ---- the agent's refusals -------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("variables", "message"),
    [
        (
            {"ENVOY_ADMIN_ACCESS_PORT": "nine"},
            'ENVOY_ADMIN_ACCESS_PORT environment variable ("nine") must be an integer value.',
        ),
        (
            {"ENABLE_ENVOY_STATS_TAGS": "yes"},
            'ENABLE_ENVOY_STATS_TAGS environment variable ("yes") must be a boolean value.',
        ),
        (
            {"ENABLE_ENVOY_XRAY_TRACING": "1", "ENABLE_ENVOY_JAEGER_TRACING": "1"},
            "Only a single envoy trace driver can be configured; please enable only one of "
            "ENABLE_ENVOY_XRAY_TRACING, ENABLE_ENVOY_DATADOG_TRACING or ENABLE_ENVOY_JAEGER_TRACING.",
        ),
        (
            {"ENABLE_ENVOY_XRAY_TRACING": "1", "XRAY_SAMPLING_RATE": "1.5"},
            'XRAY_SAMPLING_RATE environment variable ("1.5") must be a decimal between 0 and 1.00 (100%)',
        ),
        (
            {"ENABLE_ENVOY_XRAY_TRACING": "1", "AWS_XRAY_DAEMON_ADDRESS": "xray.local:2000"},
            'AWS_XRAY_DAEMON_ADDRESS must be a static IPv4 or IPv6 address such as "127.0.0.1".',
        ),
        ({"ENVOY_STATS_FLUSH_INTERVAL": "10 seconds"}, 'time: invalid duration "10 seconds"'),
        ({"ENVOY_STATS_FLUSH_INTERVAL": "10m"}, "must be at least 1ms and less than 5m"),
        (
            {"APPMESH_XDS_ENDPOINT": "appmesh"},
            'APPMESH_XDS_ENDPOINT environment variable ("appmesh") must be host:port.',
        ),
    ],
)
def test_values_the_agent_refused(variables, message):
    with pytest.raises(ImageEnvError) as info:
        ImageEnv.from_environ(variables)
    assert message in str(info.value)


def test_xray_manifest_file(tmp_path):
    manifest = tmp_path / "rules.json"
    manifest.write_text(json.dumps({"version": 2, "default": {"fixed_target": 1, "rate": 0.1}, "rules": []}))
    config = bootstrap({"ENABLE_ENVOY_XRAY_TRACING": "1", "XRAY_SAMPLING_RULE_MANIFEST": str(manifest)})
    assert config["tracing"]["http"]["typed_config"]["sampling_rule_manifest"] == {"filename": str(manifest)}
    validate(config, tmp_path)
    manifest.write_text(json.dumps({"version": 1, "default": {"fixed_target": 1, "rate": 0.1}, "rules": []}))
    with pytest.raises(ImageEnvError, match="version 1 is not supported"):
        ImageEnv.from_environ({"ENABLE_ENVOY_XRAY_TRACING": "1", "XRAY_SAMPLING_RULE_MANIFEST": str(manifest)})


@pytest.mark.parametrize(
    "variables",
    [
        {"ENABLE_ENVOY_XRAY_TRACING": "1", "XRAY_SAMPLING_RATE": "1.00", "ENABLE_ENVOY_STATS_TAGS": "1"},
        {"ENABLE_ENVOY_JAEGER_TRACING": "1", "ENABLE_ENVOY_DOG_STATSD": "1", "ENVOY_STATS_FLUSH_INTERVAL": "1s"},
        {"ENABLE_ENVOY_DATADOG_TRACING": "1", "ENABLE_ENVOY_DOG_STATSD": "1", "STATSD_SOCKET_PATH": "/tmp/dsd.sock"},
        {
            "ENVOY_ADMIN_ACCESS_ENABLE_IPV6": "1",
            "ENVOY_ADMIN_ACCESS_LOG_FILE": "/dev/null",
            "MAX_REQUESTS_PER_IO_CYCLE": "1",
        },
    ],
    ids=["xray", "jaeger", "datadog", "admin"],
)
def test_envoy_accepts_what_the_variables_make(variables, tmp_path):
    validate(bootstrap(variables), tmp_path)


# ---- the command line -----------------------------------------------------------------------------
def test_cli_takes_the_proxy_from_the_environment(monkeypatch, capsys):
    monkeypatch.setenv("APPMESH_RESOURCE_ARN", "arn:aws:appmesh:us-west-2:111122223333:mesh/apps/virtualGateway/gw")
    monkeypatch.setenv("APPMESH_PREVIEW", "1")
    assert main(["bootstrap", "--format", "json", "-e", "ENVOY_ADMIN_ACCESS_PORT=9990"]) == 0
    captured = capsys.readouterr()
    config = json.loads(captured.out)
    assert config["node"]["id"] == "arn:aws:appmesh:us-west-2:111122223333:mesh/apps/virtualGateway/gw"
    assert config["admin"]["address"]["socket_address"]["port_value"] == 9990
    assert "APPMESH_PREVIEW is set but has no effect here" in captured.err
    assert main(["bootstrap", "--mesh", "other", "--virtual-node", "x"]) == 2
    assert "names virtualGateway gw in mesh apps" in capsys.readouterr().err


def test_cli_env_option_needs_name_and_value():
    with pytest.raises(ImageEnvError, match="NAME=VALUE"):
        image_env({}, ["ENABLE_ENVOY_STATS_TAGS"])
