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
    assert set(files) == {"proxyinit/front.sh", "proxyinit/blue.sh", "proxyinit/red.sh"}
    for relative, content in files.items():
        assert (DOCKER / relative).read_text() == content, f"{relative} is stale: run python docker/generate.py"
    assert load_generator().stale_files() == [], "files generate.py no longer writes: run python docker/generate.py"


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
        "front-envoy": "mesh/demo/virtualNode/front",
        "blue-envoy": "mesh/demo/virtualNode/blue",
        "red-envoy": "mesh/demo/virtualNode/red",
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
    script = (DOCKER / "proxyinit" / "front.sh").read_text()
    assert script == rules_script(Interception(app_ports=(9080,)))
    assert "-A APPMESH_EGRESS -m owner --uid-owner 1337 -j RETURN" in script


def test_compose_file_parses_and_references_existing_files():
    compose = yaml.safe_load((DOCKER / "docker-compose.yml").read_text())
    services = compose["services"]
    tasks = ("front", "blue", "red")
    assert set(services) == {"appmesh", "mesh-setup", "gateway"} | {
        f"{task}{part}" for task in tasks for part in ("", "-envoy", "-proxyinit")
    }
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
            assert service["cap_add"] == ["NET_ADMIN"] and service["network_mode"] == f"service:{name[:-10]}"
            assert service["command"] == [f"/proxyinit/{name[:-10]}.sh"]
    assert services["front"]["environment"]["BACKEND"] == "http://color:9080/"
    assert "color" in services["blue"]["networks"]["default"]["aliases"]  # the virtual service name resolves
    dockerfile = (DOCKER / "Dockerfile").read_text()
    assert '"appmesh-local", "serve", "--host", "0.0.0.0"' in dockerfile


def test_the_setup_script_makes_the_mesh_the_sidecars_name(tmp_path):
    """create-mesh.sh, run with the AWS CLI against a real server, gives every sidecar's proxy a configuration
    that wires gateway → front → color (blue 80 / red 20) as the compose file expects."""
    import os
    import subprocess
    import sys

    from appmesh_local.testing import serve_in_thread
    from appmesh_local.xds.node_id import ProxyRef
    from appmesh_local.xds.proxy_config import CLUSTER, ROUTE_CONFIGURATION

    with serve_in_thread() as server:
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update(
            HOME=str(tmp_path),
            AWS_ENDPOINT_URL=server.endpoint,
            AWS_REGION="us-east-1",
            AWS_DEFAULT_REGION="us-east-1",  # AWS CLI v1 (the test extra); v2 reads AWS_REGION
            AWS_ACCESS_KEY_ID="testing",
            AWS_SECRET_ACCESS_KEY="testing",
            AWS_PAGER="",
        )
        script = (
            f'aws() {{ "{sys.executable}" -m awscli "$@" > /dev/null; }}\n'
            + (DOCKER / "setup" / "create-mesh.sh").read_text()
        )
        done = subprocess.run(["sh", "-c", script], env=env, capture_output=True, text=True, timeout=180)
        assert done.returncode == 0, done.stderr
        xds = server.server.xds
        assert xds.reconciler.flush(10)
        snapshots = {}
        for service in sidecars().values():
            _, _, kind, name = service["environment"]["APPMESH_RESOURCE_ARN"].split("/")
            snapshots[name] = xds.cache.get(ProxyRef("123456789012", "us-east-1", "demo", kind, name))
            assert snapshots[name] is not None, f"no configuration for the {name} sidecar's proxy"
        front_routes = snapshots["front"].types[ROUTE_CONFIGURATION].resources["rds_egress_http_9080"].message
        [color] = [v for v in front_routes.virtual_hosts if v.name == "color"]
        weights = {c.name: c.weight.value for c in color.routes[0].route.weighted_clusters.clusters}
        assert weights == {"cds_egress_demo_blue_http_9080": 80, "cds_egress_demo_red_http_9080": 20}
        assert "cds_egress_demo_front_http_9080" in snapshots["gateway"].types[CLUSTER].resources
