"""docker/: generated files are up to date, the compose file parses and points at real files.

No Docker engine on the development/CI machines: the containers themselves are not run here.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
from pathlib import Path

import yaml
from envoy.config.bootstrap.v3 import bootstrap_pb2
from envoy.extensions.access_loggers.file.v3 import file_pb2  # noqa: F401  (Any type)
from envoy.extensions.upstreams.http.v3 import http_protocol_options_pb2  # noqa: F401  (Any type)
from google.protobuf import json_format

from appmesh_local.cli import main as cli_main
from appmesh_local.netns.iptables import Interception, rules_script
from appmesh_local.proxy.process import envoy_binary

DOCKER = Path(__file__).resolve().parents[2] / "docker"


def load_generator():
    spec = importlib.util.spec_from_file_location("docker_generate", DOCKER / "generate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_generated_files_are_current():
    files = load_generator().render()
    assert set(files) == {"proxyinit/service-a.sh", "proxyinit/service-b.sh"}
    for relative, content in files.items():
        assert (DOCKER / relative).read_text() == content, f"docker/{relative} is stale: run python docker/generate.py"


def sidecars() -> dict[str, dict]:
    """The compose services that run Envoy (`appmesh-local envoy`), by name."""
    services = yaml.safe_load((DOCKER / "docker-compose.yml").read_text())["services"]
    return {name: service for name, service in services.items() if "envoy" in service.get("command", [])}


def test_sidecars_bootstrap_from_their_environment_blocks(tmp_path, capsys):
    """Each Envoy container runs `appmesh-local envoy` configured only by App Mesh's variables in its
    environment block; the bootstrap that makes is the one `appmesh-local bootstrap` prints for the
    same variables, names the proxy, points at the compose server and passes `envoy --mode validate`."""
    expected = {
        "gateway": "mesh/demo/virtualGateway/gateway",
        "service-a-envoy": "mesh/demo/virtualNode/service-a",
        "service-b-envoy": "mesh/demo/virtualNode/service-b",
    }
    found = sidecars()
    assert set(found) == set(expected)
    for name, service in found.items():
        assert service["command"][:2] == ["appmesh-local", "envoy"]
        options = service["command"][2:]
        variables = [f"{key}={value}" for key, value in service["environment"].items()]
        args = ["bootstrap", "--format", "json", *options] + [f"--env={v}" for v in variables]
        assert cli_main(args) == 0
        data = json.loads(capsys.readouterr().out)
        bootstrap = json_format.ParseDict(data, bootstrap_pb2.Bootstrap())
        assert bootstrap.node.id == expected[name]
        assert bootstrap.admin.address.socket_address.address == "0.0.0.0"
        assert [tag.tag_name for tag in bootstrap.stats_config.stats_tags][:2] == [
            "appmesh.mesh",
            "appmesh.virtual_gateway" if name == "gateway" else "appmesh.virtual_node",
        ]
        [cluster] = bootstrap.static_resources.clusters
        assert cluster.type == cluster.LOGICAL_DNS
        assert cluster.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address.address == "appmesh"
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(data))
        result = subprocess.run(
            [str(envoy_binary()), "--mode", "validate", "-c", str(path), "--use-dynamic-base-id"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr[-2000:]


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
            assert service["image"] == services["appmesh"]["image"]  # the sidecars run appmesh-local envoy
        if name.endswith("-proxyinit"):
            assert service["cap_add"] == ["NET_ADMIN"]
    dockerfile = (DOCKER / "Dockerfile").read_text()
    assert '"appmesh-local", "serve", "--host", "0.0.0.0"' in dockerfile
