"""The AWS CLI v1 (`python -m awscli appmesh ... --endpoint-url`) drives a full lifecycle.

The CLI is a different client from boto3 (its own argument parsing, JSON shorthand and output
formatting) and is what users type; no real AWS configuration is read.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys

import pytest

from tests.api.helpers import arn, fresh_account, unique
from tests.conftest import make_client

REGION = "eu-central-1"


class Cli:
    """Runs `aws appmesh <args>` against the test server with throw-away credentials."""

    def __init__(self, endpoint: str, account: str, home) -> None:
        config = home / "config"
        credentials = home / "credentials"
        config.write_text("")
        credentials.write_text("")
        self.endpoint = endpoint
        self.env = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}
        self.env.update(
            {
                "AWS_ACCESS_KEY_ID": account,
                "AWS_SECRET_ACCESS_KEY": "testing",
                "AWS_DEFAULT_REGION": REGION,
                "AWS_CONFIG_FILE": str(config),
                "AWS_SHARED_CREDENTIALS_FILE": str(credentials),
                "AWS_EC2_METADATA_DISABLED": "true",
                "AWS_MAX_ATTEMPTS": "1",
                "AWS_PAGER": "",
            }
        )

    def run(self, *args: str) -> subprocess.CompletedProcess:
        command = [
            sys.executable,
            "-m",
            "awscli",
            "appmesh",
            *args,
            "--endpoint-url",
            self.endpoint,
            "--output",
            "json",
        ]
        return subprocess.run(command, env=self.env, capture_output=True, text=True, timeout=60)

    def __call__(self, *args: str) -> dict:
        done = self.run(*args)
        assert done.returncode == 0, f"aws appmesh {' '.join(args)} failed: {done.stderr}"
        return json.loads(done.stdout) if done.stdout.strip() else {}


@pytest.fixture
def cli(server, tmp_path):
    account = fresh_account()
    return Cli(server.endpoint, account, tmp_path), account


def j(value) -> str:
    return json.dumps(value)


def test_full_lifecycle_through_the_cli(cli):
    aws, account = cli
    mesh = unique("cli-mesh")
    mesh_arn = arn(REGION, account, mesh)

    created = aws("create-mesh", "--mesh-name", mesh, "--tags", "key=team,value=core")["mesh"]
    assert created["metadata"]["arn"] == mesh_arn
    assert created["spec"] == {}  # as in the AWS CLI's own create-mesh example
    # CLI v1 prints timestamps as they came on the wire (cli_timestamp_format=none): epoch seconds.
    created_at = dt.datetime.fromtimestamp(created["metadata"]["createdAt"], dt.UTC)
    assert abs(dt.datetime.now(dt.UTC) - created_at) < dt.timedelta(minutes=5)
    assert aws("describe-mesh", "--mesh-name", mesh)["mesh"]["metadata"]["uid"] == created["metadata"]["uid"]
    assert [m["meshName"] for m in aws("list-meshes")["meshes"]] == [mesh]
    updated = aws("update-mesh", "--mesh-name", mesh, "--spec", j({"egressFilter": {"type": "ALLOW_ALL"}}))
    assert updated["mesh"]["metadata"]["version"] == 2

    node_spec = {
        "listeners": [{"portMapping": {"port": 8080, "protocol": "http"}}],
        "serviceDiscovery": {"dns": {"hostname": "web.local"}},
    }
    node = aws("create-virtual-node", "--mesh-name", mesh, "--virtual-node-name", "web", "--spec", j(node_spec))
    assert node["virtualNode"]["metadata"]["arn"] == arn(REGION, account, mesh, "virtualNode", "web")
    aws(
        "create-virtual-router",
        "--mesh-name",
        mesh,
        "--virtual-router-name",
        "vr",
        "--spec",
        j({"listeners": [{"portMapping": {"port": 8080, "protocol": "http"}}]}),
    )
    route_spec = {
        "httpRoute": {"match": {"prefix": "/"}, "action": {"weightedTargets": [{"virtualNode": "web", "weight": 1}]}}
    }
    aws(
        "create-route",
        "--mesh-name",
        mesh,
        "--virtual-router-name",
        "vr",
        "--route-name",
        "rt",
        "--spec",
        j(route_spec),
    )
    route_spec["httpRoute"]["match"]["prefix"] = "/v2"
    route = aws(
        "update-route",
        "--mesh-name",
        mesh,
        "--virtual-router-name",
        "vr",
        "--route-name",
        "rt",
        "--spec",
        j(route_spec),
    )["route"]
    assert route["metadata"]["version"] == 2 and route["spec"]["httpRoute"]["match"]["prefix"] == "/v2"
    aws(
        "create-virtual-service",
        "--mesh-name",
        mesh,
        "--virtual-service-name",
        "web.local",
        "--spec",
        j({"provider": {"virtualRouter": {"virtualRouterName": "vr"}}}),
    )
    aws(
        "create-virtual-gateway",
        "--mesh-name",
        mesh,
        "--virtual-gateway-name",
        "gw",
        "--spec",
        j({"listeners": [{"portMapping": {"port": 8088, "protocol": "http"}}]}),
    )
    gateway_route = aws(
        "create-gateway-route",
        "--mesh-name",
        mesh,
        "--virtual-gateway-name",
        "gw",
        "--gateway-route-name",
        "gr",
        "--spec",
        j(
            {
                "httpRoute": {
                    "match": {"prefix": "/"},
                    "action": {"target": {"virtualService": {"virtualServiceName": "web.local"}}},
                }
            }
        ),
    )
    assert gateway_route["gatewayRoute"]["metadata"]["arn"] == arn(
        REGION, account, mesh, "virtualGateway", "gw", "gatewayRoute", "gr"
    )
    assert [n["virtualNodeName"] for n in aws("list-virtual-nodes", "--mesh-name", mesh)["virtualNodes"]] == ["web"]
    assert aws("describe-virtual-service", "--mesh-name", mesh, "--virtual-service-name", "web.local")[
        "virtualService"
    ]["spec"]["provider"] == {"virtualRouter": {"virtualRouterName": "vr"}}

    aws("tag-resource", "--resource-arn", mesh_arn, "--tags", "key=env,value=dev", "key=team,value=edge")
    aws("untag-resource", "--resource-arn", mesh_arn, "--tag-keys", "env")
    assert aws("list-tags-for-resource", "--resource-arn", mesh_arn)["tags"] == [{"key": "team", "value": "edge"}]

    in_use = aws.run("delete-mesh", "--mesh-name", mesh)
    assert in_use.returncode in (254, 255) and "ResourceInUseException" in in_use.stderr

    deleted = aws(
        "delete-gateway-route", "--mesh-name", mesh, "--virtual-gateway-name", "gw", "--gateway-route-name", "gr"
    )
    assert deleted["gatewayRoute"]["status"]["status"] == "DELETED"
    aws("delete-virtual-gateway", "--mesh-name", mesh, "--virtual-gateway-name", "gw")
    aws("delete-virtual-service", "--mesh-name", mesh, "--virtual-service-name", "web.local")
    aws("delete-route", "--mesh-name", mesh, "--virtual-router-name", "vr", "--route-name", "rt")
    aws("delete-virtual-router", "--mesh-name", mesh, "--virtual-router-name", "vr")
    aws("delete-virtual-node", "--mesh-name", mesh, "--virtual-node-name", "web")
    assert aws("delete-mesh", "--mesh-name", mesh)["mesh"]["status"]["status"] == "DELETED"
    assert aws("list-meshes")["meshes"] == []


def test_cli_reports_missing_mesh(cli):
    aws, _ = cli
    done = aws.run("describe-mesh", "--mesh-name", unique("nomesh"))
    assert done.returncode in (254, 255), done
    assert "NotFoundException" in done.stderr
    assert done.stdout == ""


def test_cli_paginates_list_meshes(cli):
    """The CLI follows nextToken itself (--page-size sets limit); every mesh comes back once."""
    aws, account = cli
    names = sorted(unique("m") for _ in range(3))
    client = make_client(aws.endpoint, region=REGION, access_key=account)
    for name in names:
        client.create_mesh(meshName=name)
    listed = aws("list-meshes", "--page-size", "1")["meshes"]
    assert sorted(m["meshName"] for m in listed) == names
