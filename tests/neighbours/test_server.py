"""The real `appmesh-local serve` process: App Mesh, Cloud Map and ACM on one endpoint."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import boto3
import pytest
import yaml
from botocore.config import Config

from appmesh_local.proxy.bootstrap import render_bootstrap
from appmesh_local.proxy.process import EnvoyProcess
from tests.conftest import make_client
from tests.support.pca import active_root_ca
from tests.support.processes import random_loopback
from tests.support.server import ServerProcess

pytestmark = pytest.mark.timeout(120)


def client(server, service: str, account: str = "444455556666"):
    return boto3.client(
        service,
        endpoint_url=server.endpoint,
        region_name="eu-central-1",
        aws_access_key_id=account,
        aws_secret_access_key="testing",
        config=Config(retries={"max_attempts": 1}, inject_host_prefix=False),
    )


def test_cloud_map_and_app_mesh_share_endpoint_and_identity(server):
    sd, appmesh = client(server, "servicediscovery"), client(server, "appmesh")
    sd.create_http_namespace(Name="shared.local")
    namespace = next(ns for ns in sd.list_namespaces()["Namespaces"] if ns["Name"] == "shared.local")
    service_id = sd.create_service(Name="backend", NamespaceId=namespace["Id"])["Service"]["Id"]
    sd.register_instance(
        ServiceId=service_id,
        InstanceId="i-1",
        Attributes={"AWS_INSTANCE_IPV4": "10.0.0.1", "AWS_INSTANCE_PORT": "8080"},
    )

    mesh = appmesh.create_mesh(meshName="neighbours")["mesh"]
    node = appmesh.create_virtual_node(
        meshName="neighbours",
        virtualNodeName="backend",
        spec={
            "listeners": [{"portMapping": {"port": 8080, "protocol": "http"}}],
            "serviceDiscovery": {"awsCloudMap": {"namespaceName": "shared.local", "serviceName": "backend"}},
        },
    )["virtualNode"]

    account_of = lambda arn: arn.split(":")[4]  # noqa: E731
    assert account_of(namespace["Arn"]) == account_of(mesh["metadata"]["arn"]) == "444455556666"
    assert node["spec"]["serviceDiscovery"]["awsCloudMap"]["serviceName"] == "backend"
    found = sd.discover_instances(NamespaceName="shared.local", ServiceName="backend")["Instances"]
    assert [i["InstanceId"] for i in found] == ["i-1"]
    assert client(server, "acm").list_certificates()["CertificateSummaryList"] == []


# ---- one run through the real server: Cloud Map and ACM reach a real Envoy, and an export ----------
ACCOUNT = "123456789012"


def neighbour_client(server: ServerProcess, service: str) -> Any:
    return boto3.client(
        service,
        endpoint_url=server.endpoint,
        region_name="us-east-1",
        aws_access_key_id=ACCOUNT,  # 12 digits: this account, as the mesh
        aws_secret_access_key="testing",
        config=Config(retries={"max_attempts": 1}, inject_host_prefix=False),
    )


def endpoints_in(dump: dict, cluster: str) -> list[str]:
    """`ip:port` of every endpoint Envoy holds for `cluster` (config_dump?include_eds)."""
    found = []
    for section in dump["configs"]:
        for item in section.get("dynamic_endpoint_configs", []):
            config = item["endpoint_config"]
            if config.get("cluster_name") != cluster:
                continue
            for group in config.get("endpoints", []):
                for lb in group.get("lb_endpoints", []):
                    address = lb["endpoint"]["address"]["socket_address"]
                    found.append(f"{address['address']}:{address['port_value']}")
    return sorted(found)


def active_secrets(dump: dict) -> dict[str, dict]:
    return {
        item["name"]: item["secret"]
        for section in dump["configs"]
        for item in section.get("dynamic_active_secrets", [])
    }


def test_cloud_map_acm_and_export_through_the_real_server(tmp_path):
    """`appmesh-local serve` as users run it (pinned moto, its event-loop HTTP server, Envoy): Cloud Map instances become a real
    Envoy's endpoints and follow a registration, ACM and ACM PCA material becomes its SDS secrets, and
    `appmesh-local export` of the same mesh from that server writes those endpoints and secrets inline."""
    bind = random_loopback()  # the nodes' listeners (15000/15001) on an address of this test's own
    with ServerProcess(extra_args=["--listener-bind-address", bind]) as server:
        appmesh = make_client(server.endpoint, access_key=ACCOUNT)
        cloud_map, pca, acm = (neighbour_client(server, s) for s in ("servicediscovery", "acm-pca", "acm"))

        operation = cloud_map.create_http_namespace(Name="e2e.local")["OperationId"]
        namespace_id = cloud_map.get_operation(OperationId=operation)["Operation"]["Targets"]["NAMESPACE"]
        service_id = cloud_map.create_service(Name="orders", NamespaceId=namespace_id)["Service"]["Id"]
        for instance, ip in (("i-1", "10.1.0.11"), ("i-2", "10.1.0.12")):
            cloud_map.register_instance(ServiceId=service_id, InstanceId=instance, Attributes={"AWS_INSTANCE_IPV4": ip})
        ca_arn = active_root_ca(pca, "E2E Root")
        cert_arn = acm.request_certificate(DomainName="orders.e2e.local", CertificateAuthorityArn=ca_arn)[
            "CertificateArn"
        ]

        appmesh.create_mesh(meshName="e2e")
        appmesh.create_virtual_node(
            meshName="e2e",
            virtualNodeName="orders",
            spec={
                "listeners": [
                    {
                        "portMapping": {"port": 8443, "protocol": "http"},
                        "tls": {"mode": "STRICT", "certificate": {"acm": {"certificateArn": cert_arn}}},
                    }
                ],
                "serviceDiscovery": {"awsCloudMap": {"namespaceName": "e2e.local", "serviceName": "orders"}},
            },
        )
        appmesh.create_virtual_service(
            meshName="e2e",
            virtualServiceName="orders.e2e.local",
            spec={"provider": {"virtualNode": {"virtualNodeName": "orders"}}},
        )
        trust = {"tls": {"validation": {"trust": {"acm": {"certificateAuthorityArns": [ca_arn]}}}}}
        appmesh.create_virtual_node(
            meshName="e2e",
            virtualNodeName="shop",
            spec={"backends": [{"virtualService": {"virtualServiceName": "orders.e2e.local", "clientPolicy": trust}}]},
        )
        cluster = "cds_egress_e2e_orders_http_8443"

        shop = EnvoyProcess(
            render_bootstrap("e2e", "virtualNode", "shop", "127.0.0.1", server.xds_port, admin_port=0),
            log_level="error",
        ).start(timeout=30)
        try:
            dump = shop.wait_for_config(
                lambda d: endpoints_in(d, cluster) == ["10.1.0.11:8443", "10.1.0.12:8443"] and active_secrets(d),
                include_eds=True,
                timeout=20,
            )
            [(name, trust_secret)] = active_secrets(dump).items()
            assert name == f"trust:{ca_arn}"  # the ACM PCA CA's certificate, as the validation context
            assert trust_secret["validation_context"]["trusted_ca"]["inline_string"].startswith(
                "-----BEGIN CERTIFICATE"
            )
            # A registration through Cloud Map's API reaches the running Envoy.
            cloud_map.register_instance(
                ServiceId=service_id, InstanceId="i-3", Attributes={"AWS_INSTANCE_IPV4": "10.1.0.13"}
            )
            shop.wait_for_config(lambda d: "10.1.0.13:8443" in endpoints_in(d, cluster), include_eds=True, timeout=20)
        finally:
            shop.stop()

        orders = EnvoyProcess(
            render_bootstrap("e2e", "virtualNode", "orders", "127.0.0.1", server.xds_port, admin_port=0),
            log_level="error",
        ).start(timeout=30)
        try:
            dump = orders.wait_for_config(lambda d: bool(active_secrets(d)), timeout=20)
            [certificate] = active_secrets(dump).values()
            assert "tls_certificate" in certificate  # the ACM certificate (key redacted in the dump)
        finally:
            orders.stop()

        out = tmp_path / "export"
        exported = subprocess.run(
            [sys.executable, "-m", "appmesh_local", "export", "--endpoint", server.endpoint, "--mesh", "e2e", "--all"]
            + ["--out", str(out), "--admin-port", "0"],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert exported.returncode == 0, exported.stderr  # also: Envoy validated every file
        shop_file = yaml.safe_load((out / "virtual-node-shop.yaml").read_text())
        [exported_cluster] = [c for c in shop_file["static_resources"]["clusters"] if c["name"] == cluster]
        addresses = sorted(
            f"{e['endpoint']['address']['socket_address']['address']}:{e['endpoint']['address']['socket_address']['port_value']}"
            for group in exported_cluster["load_assignment"]["endpoints"]
            for e in group["lb_endpoints"]
        )
        assert addresses == ["10.1.0.11:8443", "10.1.0.12:8443", "10.1.0.13:8443"]
        orders_file = yaml.safe_load((out / "virtual-node-orders.yaml").read_text())
        [secret] = orders_file["static_resources"]["secrets"]
        assert "BEGIN CERTIFICATE" in secret["tls_certificate"]["certificate_chain"]["inline_string"]
