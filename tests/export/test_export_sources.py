"""The three ways export reads a mesh (API, state directory, file) give the same files."""

from __future__ import annotations

import subprocess

import pytest
import yaml

from appmesh_local.proxy.process import envoy_binary
from appmesh_local.testing import serve_in_thread
from tests.export.helpers import build_gateway_mesh, run_cli

pytestmark = pytest.mark.timeout(120)


def mesh_document(client, mesh: str) -> dict:
    """The mesh as a `translate`/`export --file` document, from Describe calls (what a user would save)."""

    def items(list_op, key, describe_op, result_key, name_field, **parent):
        out = []
        for ref in getattr(client, list_op)(meshName=mesh, **parent)[key]:
            described = getattr(client, describe_op)(meshName=mesh, **parent, **{name_field: ref[name_field]})[
                result_key
            ]
            out.append({name_field: ref[name_field], **parent, "spec": described["spec"]})
        return out

    doc = {
        "mesh": {"meshName": mesh, "spec": client.describe_mesh(meshName=mesh)["mesh"]["spec"]},
        "virtualNodes": items(
            "list_virtual_nodes", "virtualNodes", "describe_virtual_node", "virtualNode", "virtualNodeName"
        ),
        "virtualRouters": items(
            "list_virtual_routers", "virtualRouters", "describe_virtual_router", "virtualRouter", "virtualRouterName"
        ),
        "virtualServices": items(
            "list_virtual_services",
            "virtualServices",
            "describe_virtual_service",
            "virtualService",
            "virtualServiceName",
        ),
        "virtualGateways": items(
            "list_virtual_gateways",
            "virtualGateways",
            "describe_virtual_gateway",
            "virtualGateway",
            "virtualGatewayName",
        ),
    }
    doc["routes"] = [
        r
        for router in doc["virtualRouters"]
        for r in items(
            "list_routes",
            "routes",
            "describe_route",
            "route",
            "routeName",
            virtualRouterName=router["virtualRouterName"],
        )
    ]
    doc["gatewayRoutes"] = [
        r
        for gateway in doc["virtualGateways"]
        for r in items(
            "list_gateway_routes",
            "gatewayRoutes",
            "describe_gateway_route",
            "gatewayRoute",
            "gatewayRouteName",
            virtualGatewayName=gateway["virtualGatewayName"],
        )
    ]
    return doc


def exported(tmp_path, name: str, *source: str) -> dict[str, str]:
    out = tmp_path / name
    result = run_cli("export", "--mesh", "shop", "--all", "--out", str(out), *source)
    assert result.returncode == 0, result.stderr
    return {p.name: p.read_text() for p in sorted(out.iterdir())}


def test_api_state_dir_and_file_exports_are_identical(tmp_path):
    state = tmp_path / "state"
    with serve_in_thread(state_dir=state, xds=False) as server:
        client = server.client()
        client.create_mesh(meshName="shop", spec={"egressFilter": {"type": "ALLOW_ALL"}})
        build_gateway_mesh(client, "shop", 8081, 8082, 8088)
        mesh_file = tmp_path / "shop.yaml"
        mesh_file.write_text(yaml.safe_dump(mesh_document(client, "shop")))
        from_api = exported(tmp_path, "api", "--endpoint", server.endpoint)
        from_state_while_running = exported(tmp_path, "state-live", "--state-dir", str(state))
    from_state = exported(tmp_path, "state-stopped", "--state-dir", str(state))
    from_file = exported(tmp_path, "file", "--file", str(mesh_file))
    assert len(from_api) == 5
    assert from_api == from_state == from_state_while_running == from_file
    gateway = yaml.safe_load(from_api["virtual-gateway-gw.yaml"])
    assert gateway["admin"]["address"]["socket_address"]["port_value"] == 9901
    listeners = {item["name"]: item for item in gateway["static_resources"]["listeners"]}
    ingress = listeners["lds_ingress_0.0.0.0_8088"]["address"]["socket_address"]
    assert ingress == {"address": "0.0.0.0", "port_value": 8088}  # App Mesh's default
    assert listeners["lds_egress_0.0.0.0_15001"]["internal_listener"] == {}  # no port: no clash with anyone
    assert gateway["bootstrap_extensions"][0]["name"] == "envoy.bootstrap.internal_listener"


def test_endpoint_from_the_environment_and_account_option(tmp_path, monkeypatch):
    with serve_in_thread(xds=False) as server:
        server.client(access_key="111122223333").create_mesh(meshName="shop")
        server.client(access_key="111122223333").create_virtual_node(meshName="shop", virtualNodeName="n", spec={})
        monkeypatch.setenv("AWS_ENDPOINT_URL_APP_MESH", server.endpoint)
        not_mine = run_cli("export", "--mesh", "shop", "--all", "--out", str(tmp_path / "a"))
        assert not_mine.returncode == 1 and "not found" in not_mine.stderr  # default account has no such mesh
        mine = run_cli("export", "--mesh", "shop", "--all", "--out", str(tmp_path / "b"), "--account", "111122223333")
        assert mine.returncode == 0, mine.stderr
        doc = yaml.safe_load((tmp_path / "b" / "virtual-node-n.yaml").read_text())
        assert doc["node"]["metadata"]["appmesh_local.account"] == "111122223333"


def cloud_map_client(server):
    import boto3
    from botocore.config import Config

    return boto3.client(
        "servicediscovery",
        endpoint_url=server.endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"max_attempts": 1}, inject_host_prefix=False),
    )


def test_state_dir_export_reads_the_saved_cloud_map(tmp_path):
    state = tmp_path / "state"
    with serve_in_thread(state_dir=state, xds=False) as server:
        cloud_map = cloud_map_client(server)
        operation = cloud_map.create_http_namespace(Name="saved-state.local")["OperationId"]
        namespace_id = cloud_map.get_operation(OperationId=operation)["Operation"]["Targets"]["NAMESPACE"]
        service_id = cloud_map.create_service(Name="db", NamespaceId=namespace_id)["Service"]["Id"]
        cloud_map.register_instance(
            ServiceId=service_id, InstanceId="db-1", Attributes={"AWS_INSTANCE_IPV4": "10.1.2.3"}
        )
        client = server.client()
        client.create_mesh(meshName="shop")
        client.create_virtual_node(
            meshName="shop",
            virtualNodeName="db",
            spec={
                "listeners": [{"portMapping": {"port": 5432, "protocol": "tcp"}}],
                "serviceDiscovery": {"awsCloudMap": {"namespaceName": "saved-state.local", "serviceName": "db"}},
            },
        )
        client.create_virtual_service(
            meshName="shop",
            virtualServiceName="db.local",
            spec={"provider": {"virtualNode": {"virtualNodeName": "db"}}},
        )
        client.create_virtual_node(
            meshName="shop",
            virtualNodeName="app",
            spec={"backends": [{"virtualService": {"virtualServiceName": "db.local"}}]},
        )
        from_api = exported(tmp_path, "api", "--endpoint", server.endpoint)
    saved = (state / "neighbours.pickle").read_bytes()
    try:
        from_state = exported(tmp_path, "state-after", "--state-dir", str(state))
        assert "10.1.2.3" in from_api["virtual-node-app.yaml"]
        assert from_state == from_api
        assert (state / "neighbours.pickle").read_bytes() == saved  # read, never written
    finally:
        with serve_in_thread(xds=False) as server:  # moto's state is process-wide: leave it clean
            cloud_map = cloud_map_client(server)
            cloud_map.deregister_instance(ServiceId=service_id, InstanceId="db-1")
            cloud_map.delete_service(Id=service_id)
            cloud_map.delete_namespace(Id=namespace_id)


@pytest.mark.parametrize("setting", ["services section", "AWS_ENDPOINT_URL", "none"])
def test_endpoint_comes_from_the_aws_configuration(tmp_path, monkeypatch, setting):
    import os

    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    config = tmp_path / "aws-config"
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    with serve_in_thread(xds=False) as server:
        server.client().create_mesh(meshName="configured")
        server.client().create_virtual_node(meshName="configured", virtualNodeName="n", spec={})
        if setting == "services section":
            config.write_text(
                f"[default]\nservices = local\n[services local]\napp_mesh =\n  endpoint_url = {server.endpoint}\n"
            )
        elif setting == "AWS_ENDPOINT_URL":
            config.write_text("")
            monkeypatch.setenv("AWS_ENDPOINT_URL", server.endpoint)
        else:
            config.write_text("")
        result = run_cli("export", "--mesh", "configured", "--all", "--out", str(tmp_path / "out"))
    if setting == "none":  # the local default port, not AWS: nothing there in this test
        assert result.returncode == 1 and "http://127.0.0.1:4600" in result.stderr
        assert "amazonaws" not in result.stderr
    else:
        assert result.returncode == 0, result.stderr
        assert (tmp_path / "out" / "virtual-node-n.yaml").is_file()


def test_export_carries_the_image_variables_given_with_env(tmp_path):
    """`export -e NAME=VALUE`: the static files get what `appmesh-local envoy` would apply for those
    App Mesh image variables (here stats tags, Jaeger tracing with its collector cluster, an admin port),
    and Envoy accepts them."""
    mesh_file = tmp_path / "mesh.yaml"
    mesh_file.write_text(
        yaml.safe_dump(
            {
                "mesh": {"meshName": "obs", "spec": {}},
                "virtualNodes": [
                    {
                        "virtualNodeName": "api",
                        "spec": {
                            "listeners": [{"portMapping": {"port": 8080, "protocol": "http"}}],
                            "serviceDiscovery": {"dns": {"hostname": "api.obs.local"}},
                        },
                    }
                ],
            }
        )
    )
    out = tmp_path / "envoy"
    result = run_cli(
        "export",
        "--mesh",
        "obs",
        "--file",
        str(mesh_file),
        "--all",
        "--out",
        str(out),
        "-e",
        "ENABLE_ENVOY_STATS_TAGS=1",
        "-e",
        "ENABLE_ENVOY_JAEGER_TRACING=1",
        "-e",
        "ENVOY_ADMIN_ACCESS_PORT=9911",
    )
    assert result.returncode == 0, result.stderr
    document = yaml.safe_load((out / "virtual-node-api.yaml").read_text())
    assert document["admin"]["address"]["socket_address"]["port_value"] == 9911
    assert document["stats_config"]["stats_tags"][:2] == [
        {"tag_name": "appmesh.mesh", "fixed_value": "obs"},
        {"tag_name": "appmesh.virtual_node", "fixed_value": "api"},
    ]
    assert document["tracing"]["http"]["name"] == "envoy.tracers.zipkin"
    clusters = [c["name"] for c in document["static_resources"]["clusters"]]
    assert "jaeger" in clusters and "xds_cluster" not in clusters
    validate = subprocess.run(
        [str(envoy_binary()), "--mode", "validate", "-c", str(out / "virtual-node-api.yaml"), "--use-dynamic-base-id"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert validate.returncode == 0, validate.stderr[-2000:]
    bad = run_cli("export", "--mesh", "obs", "--file", str(mesh_file), "--all", "--out", str(out), "-e", "X")
    assert bad.returncode == 2 and "NAME=VALUE" in bad.stderr
