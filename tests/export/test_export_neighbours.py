"""Export reads Cloud Map instances and ACM material the way the bridge does: the exported
endpoints and secrets are the ones the bridge pushes."""

from __future__ import annotations

import subprocess
import uuid

import boto3
import pytest
import yaml
from botocore.config import Config

from appmesh_local.proxy.process import envoy_binary
from tests.export.helpers import assert_same_as_bridge, run_cli, served
from tests.support.pca import active_root_ca

pytestmark = pytest.mark.timeout(120)


def neighbour(server, service: str, account: str = "testing"):
    """A client for Cloud Map/ACM/ACM PCA on the same endpoint (a 12-digit key selects the account)."""
    return boto3.client(
        service,
        endpoint_url=server.endpoint,
        region_name="us-east-1",
        aws_access_key_id=account,
        aws_secret_access_key="testing",
        config=Config(retries={"max_attempts": 1}, inject_host_prefix=False),
    )


def export_one(server, mesh: str, node: str, out) -> dict:
    result = run_cli(
        "export",
        "--endpoint",
        server.endpoint,
        "--mesh",
        mesh,
        "--virtual-node",
        node,
        "--out",
        str(out),
        "--bind-address",
        "127.0.0.1",
        "--admin-port",
        "0",
    )
    assert result.returncode == 0, result.stderr
    [path] = result.stdout.split()
    check = subprocess.run(
        [str(envoy_binary()), "--mode", "validate", "-c", path, "--log-level", "error"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert check.returncode == 0, check.stdout + check.stderr
    return yaml.safe_load(open(path))


def test_cloud_map_instances_become_the_exported_endpoints(appmesh_server, appmesh_mesh, appmesh_client, tmp_path):
    cloud_map = neighbour(appmesh_server, "servicediscovery")
    namespace = f"{appmesh_mesh}.local"
    operation = cloud_map.create_http_namespace(Name=namespace)["OperationId"]
    namespace_id = cloud_map.get_operation(OperationId=operation)["Operation"]["Targets"]["NAMESPACE"]
    service_id = cloud_map.create_service(Name="orders", NamespaceId=namespace_id)["Service"]["Id"]
    for instance, ip, stage in (
        ("i-1", "10.0.0.11", "prod"),
        ("i-2", "10.0.0.12", "prod"),
        ("i-3", "10.0.0.13", "test"),
    ):
        cloud_map.register_instance(
            ServiceId=service_id, InstanceId=instance, Attributes={"AWS_INSTANCE_IPV4": ip, "stage": stage}
        )
    appmesh_client.create_virtual_node(
        meshName=appmesh_mesh,
        virtualNodeName="orders",
        spec={
            "listeners": [{"portMapping": {"port": 8080, "protocol": "http"}}],
            "serviceDiscovery": {
                "awsCloudMap": {
                    "namespaceName": namespace,
                    "serviceName": "orders",
                    "attributes": [{"key": "stage", "value": "prod"}],
                }
            },
        },
    )
    appmesh_client.create_virtual_service(
        meshName=appmesh_mesh,
        virtualServiceName="orders.local",
        spec={"provider": {"virtualNode": {"virtualNodeName": "orders"}}},
    )
    appmesh_client.create_virtual_node(
        meshName=appmesh_mesh,
        virtualNodeName="shop",
        spec={"backends": [{"virtualService": {"virtualServiceName": "orders.local"}}]},
    )
    try:
        doc = export_one(appmesh_server, appmesh_mesh, "shop", tmp_path)
        clusters = {c["name"]: c for c in doc["static_resources"]["clusters"]}
        orders = clusters[f"cds_egress_{appmesh_mesh}_orders_http_8080"]
        assert orders["type"] == "STATIC"
        addresses = [
            e["endpoint"]["address"]["socket_address"]
            for group in orders["load_assignment"]["endpoints"]
            for e in group["lb_endpoints"]
        ]
        assert addresses == [{"address": "10.0.0.11", "port_value": 8080}, {"address": "10.0.0.12", "port_value": 8080}]
        assert_same_as_bridge(doc["static_resources"], served(appmesh_server, appmesh_mesh, "virtualNode", "shop"))
    finally:
        for instance in ("i-1", "i-2", "i-3"):
            cloud_map.deregister_instance(ServiceId=service_id, InstanceId=instance)
        cloud_map.delete_service(Id=service_id)
        cloud_map.delete_namespace(Id=namespace_id)


def test_acm_certificates_and_roots_become_static_secrets(appmesh_server, appmesh_mesh, appmesh_client, tmp_path):
    # Certificates and CAs are looked up in the account of their ARN; a fresh account keeps this
    # test's objects out of the process-wide ACM state other tests see.
    account = f"{uuid.uuid4().int % 10**12:012d}"
    pca, acm = neighbour(appmesh_server, "acm-pca", account), neighbour(appmesh_server, "acm", account)
    ca_arn = active_root_ca(pca, "Export Root")
    cert_arn = acm.request_certificate(DomainName="secure.local", CertificateAuthorityArn=ca_arn)["CertificateArn"]
    appmesh_client.create_virtual_node(
        meshName=appmesh_mesh,
        virtualNodeName="secure",
        spec={
            "listeners": [
                {
                    "portMapping": {"port": 8443, "protocol": "http"},
                    "tls": {"mode": "STRICT", "certificate": {"acm": {"certificateArn": cert_arn}}},
                }
            ],
            "serviceDiscovery": {"dns": {"hostname": "secure.local"}},
        },
    )
    appmesh_client.create_virtual_service(
        meshName=appmesh_mesh,
        virtualServiceName="secure.local",
        spec={"provider": {"virtualNode": {"virtualNodeName": "secure"}}},
    )
    appmesh_client.create_virtual_node(
        meshName=appmesh_mesh,
        virtualNodeName="caller",
        spec={
            "backends": [
                {
                    "virtualService": {
                        "virtualServiceName": "secure.local",
                        "clientPolicy": {
                            "tls": {"validation": {"trust": {"acm": {"certificateAuthorityArns": [ca_arn]}}}}
                        },
                    }
                }
            ]
        },
    )

    for node in ("secure", "caller"):
        doc = export_one(appmesh_server, appmesh_mesh, node, tmp_path / node)
        secrets = doc["static_resources"].get("secrets", [])
        assert secrets, f"{node}: no secrets exported"
        assert "sds_config" not in yaml.safe_dump(doc)  # every secret reference is static
        assert_same_as_bridge(doc["static_resources"], served(appmesh_server, appmesh_mesh, "virtualNode", node))
