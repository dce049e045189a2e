"""docker/: generated files are up to date, the compose file parses and points at real files.

No Docker engine on the development/CI machines: the containers themselves are not run here.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import yaml
from envoy.config.bootstrap.v3 import bootstrap_pb2
from envoy.extensions.upstreams.http.v3 import http_protocol_options_pb2  # noqa: F401  (Any type)
from google.protobuf import json_format

from appmesh_local.netns.iptables import Interception, rules_script

DOCKER = Path(__file__).resolve().parents[2] / "docker"


def load_generator():
    spec = importlib.util.spec_from_file_location("docker_generate", DOCKER / "generate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_generated_files_are_current():
    files = load_generator().render()
    assert {"bootstrap/gateway.yaml", "bootstrap/service-a.yaml", "proxyinit/service-b.sh"} <= set(files)
    for relative, content in files.items():
        assert (DOCKER / relative).read_text() == content, f"docker/{relative} is stale: run python docker/generate.py"


def test_bootstraps_are_envoy_v3_and_name_the_proxies():
    for stem, node_id in (
        ("gateway", "mesh/demo/virtualGateway/gateway"),
        ("service-a", "mesh/demo/virtualNode/service-a"),
    ):
        data = yaml.safe_load((DOCKER / "bootstrap" / f"{stem}.yaml").read_text())
        bootstrap = json_format.ParseDict(data, bootstrap_pb2.Bootstrap())
        assert bootstrap.node.id == node_id
        [cluster] = bootstrap.static_resources.clusters
        assert cluster.type == cluster.LOGICAL_DNS
        assert cluster.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address.address == "appmesh"


def test_init_scripts_are_app_mesh_rules():
    script = (DOCKER / "proxyinit" / "service-a.sh").read_text()
    assert script == rules_script(Interception(app_ports=(9080,)))
    assert "-A APPMESH_EGRESS -m owner --uid-owner 1337 -j RETURN" in script


def test_compose_file_parses_and_references_existing_files():
    compose = yaml.safe_load((DOCKER / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"appmesh", "gateway", "service-a", "service-a-envoy", "service-a-proxyinit", "service-b-envoy"} <= set(
        services
    )
    assert services["appmesh"]["build"]["dockerfile"] == "docker/Dockerfile"
    for name, service in services.items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (DOCKER / source).exists(), f"{name} mounts missing {source}"
        if name.endswith("-envoy"):
            assert service["user"] == "1337" and service["network_mode"] == f"service:{name[:-6]}"
            assert service["image"].startswith("envoyproxy/envoy:")
        if name.endswith("-proxyinit"):
            assert service["cap_add"] == ["NET_ADMIN"]
    dockerfile = (DOCKER / "Dockerfile").read_text()
    assert '"appmesh-local", "serve", "--host", "0.0.0.0"' in dockerfile
