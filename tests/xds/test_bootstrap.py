"""Bootstraps: valid Envoy v3 (proto parse + `envoy --mode validate`), App Mesh node identity, commands."""

from __future__ import annotations

import json
import subprocess

import pytest
import yaml
from envoy.config.bootstrap.v3 import bootstrap_pb2

# Types referenced by Any fields must be importable for ParseDict.
from envoy.extensions.access_loggers.file.v3 import file_pb2  # noqa: F401
from envoy.extensions.upstreams.http.v3 import http_protocol_options_pb2  # noqa: F401
from google.protobuf import json_format

from appmesh_local.proxy.bootstrap import render_bootstrap
from appmesh_local.proxy.commands import bootstrap_command, proxy_kind
from appmesh_local.proxy.process import envoy_binary
from appmesh_local.xds.node_id import parse_node_id


def parse(bootstrap: dict) -> bootstrap_pb2.Bootstrap:
    return json_format.ParseDict(bootstrap, bootstrap_pb2.Bootstrap())


def test_virtual_node_bootstrap_is_app_mesh_shaped():
    b = render_bootstrap("apps", "virtualNode", "serviceB", "127.0.0.1", 4601)
    msg = parse(b)
    assert msg.node.id == msg.node.cluster == "mesh/apps/virtualNode/serviceB"
    ads = msg.dynamic_resources.ads_config
    assert ads.api_type == ads.GRPC and ads.grpc_services[0].envoy_grpc.cluster_name == "xds_cluster"
    for source in (msg.dynamic_resources.lds_config, msg.dynamic_resources.cds_config):
        assert source.HasField("ads") and source.resource_api_version == 2  # V3
        assert source.initial_fetch_timeout.ToSeconds() == 0
    [cluster] = msg.static_resources.clusters
    assert cluster.type == cluster.STATIC
    assert "envoy.extensions.upstreams.http.v3.HttpProtocolOptions" in cluster.typed_extension_protocol_options
    assert msg.admin.address.socket_address.port_value == 9901
    assert [layer.name for layer in msg.layered_runtime.layers] == ["static_layer_0", "admin_layer"]


def test_gateway_with_account_region_owner_and_dns_host():
    b = render_bootstrap(
        "shared",
        "virtualGateway",
        "gw",
        "appmesh",
        4601,
        admin_port=9902,
        admin_address="0.0.0.0",
        account="111122223333",
        region="eu-west-1",
        node_cluster="gateways",
        mesh_owner="210987654321",
        api_type="DELTA_GRPC",
        outlier_event_log_path="/dev/stdout",
    )
    msg = parse(b)
    assert msg.node.cluster == "gateways"
    assert msg.static_resources.clusters[0].type == msg.static_resources.clusters[0].LOGICAL_DNS
    assert msg.dynamic_resources.ads_config.api_type == msg.dynamic_resources.ads_config.DELTA_GRPC
    assert msg.cluster_manager.outlier_detection.event_log_path == "/dev/stdout"
    ref = parse_node_id(msg.node.id, json_format.MessageToDict(msg.node.metadata))
    assert (ref.account, ref.region, ref.mesh, ref.kind, ref.name) == (
        "210987654321",
        "eu-west-1",
        "shared",
        "virtualGateway",
        "gw",
    )
    meta_only = render_bootstrap("m", "virtualNode", "a", "127.0.0.1", 1, account="111122223333", region="eu-west-1")
    assert parse_node_id(meta_only["node"]["id"], meta_only["node"]["metadata"]).account == "111122223333"


def test_envoy_accepts_the_bootstrap(tmp_path):
    path = tmp_path / "bootstrap.yaml"
    path.write_text(bootstrap_command("apps", virtual_gateway="gw", xds_host="appmesh", admin_port=9999))
    result = subprocess.run(
        [str(envoy_binary()), "--mode", "validate", "-c", str(path)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_bootstrap_command_formats_and_options(tmp_path):
    out = tmp_path / "b.json"
    text = bootstrap_command("m", virtual_node="a", fmt="json", output=out, xds_port=5000)
    assert json.loads(out.read_text()) == json.loads(text)
    assert yaml.safe_load(bootstrap_command("m", virtual_node="a"))["node"]["id"] == "mesh/m/virtualNode/a"
    assert (
        json.loads(text)["static_resources"]["clusters"][0]["load_assignment"]["endpoints"][0]["lb_endpoints"][0][
            "endpoint"
        ]["address"]["socket_address"]["port_value"]
        == 5000
    )
    with pytest.raises(ValueError):
        proxy_kind("a", "b")
    with pytest.raises(ValueError):
        proxy_kind(None, None)


def test_envoy_command_runs_envoy_with_the_bootstrap():
    from appmesh_local.proxy.commands import envoy_command

    # --mode validate makes Envoy check the generated bootstrap and exit: the whole command path, quickly.
    assert envoy_command("m", virtual_node="a", admin_port=0, extra_args=["--mode", "validate"]) == 0
