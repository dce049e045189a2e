"""The AWS CLI against the middleware: what a user types in the README's Cloud Map walkthrough."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest

from appmesh_local.neighbours import discover

pytestmark = [pytest.mark.timeout(120), pytest.mark.skipif(shutil.which("aws") is None, reason="AWS CLI not installed")]


@pytest.fixture
def aws(harness, account, tmp_path):
    """Run `aws <args> --endpoint-url <harness>` as `account` in us-west-2; parsed JSON out."""
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": account,
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-west-2",
        "AWS_CONFIG_FILE": str(tmp_path / "config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "credentials"),
        "AWS_MAX_ATTEMPTS": "1",
        # DiscoverInstances has host prefix "data-": data-127.0.0.1 would not resolve
        "AWS_DISABLE_HOST_PREFIX_INJECTION": "true",
    }
    env.pop("AWS_PROFILE", None)

    def run(*args: str) -> dict:
        done = subprocess.run(
            ["aws", *args, "--endpoint-url", harness.endpoint, "--output", "json"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout or "{}")

    return run


def test_cloud_map_walkthrough_with_the_cli(aws, harness, account):
    aws("servicediscovery", "create-private-dns-namespace", "--name", "apps.local", "--vpc", "vpc-0123456789")
    aws("servicediscovery", "create-http-namespace", "--name", "http.local")
    namespaces = {ns["Name"]: ns for ns in aws("servicediscovery", "list-namespaces")["Namespaces"]}
    assert namespaces["apps.local"]["Type"] == "DNS_PRIVATE" and namespaces["http.local"]["Type"] == "HTTP"
    assert namespaces["apps.local"]["Arn"].startswith(f"arn:aws:servicediscovery:us-west-2:{account}:")

    service_id = aws(
        "servicediscovery", "create-service", "--name", "backend", "--namespace-id", namespaces["apps.local"]["Id"]
    )["Service"]["Id"]
    aws(
        "servicediscovery",
        "register-instance",
        "--service-id",
        service_id,
        "--instance-id",
        "i-1",
        "--attributes",
        "AWS_INSTANCE_IPV4=10.0.0.1,AWS_INSTANCE_PORT=8080,version=v1",
    )
    aws(
        "servicediscovery",
        "register-instance",
        "--service-id",
        service_id,
        "--instance-id",
        "i-2",
        "--attributes",
        "AWS_INSTANCE_IPV4=10.0.0.2,AWS_INSTANCE_PORT=8080,version=v2",
    )

    listed = aws("servicediscovery", "list-instances", "--service-id", service_id)["Instances"]
    assert sorted(i["Id"] for i in listed) == ["i-1", "i-2"]
    found = aws(
        "servicediscovery",
        "discover-instances",
        "--namespace-name",
        "apps.local",
        "--service-name",
        "backend",
        "--query-parameters",
        "version=v2",
    )["Instances"]
    assert [(i["InstanceId"], i["Attributes"]["AWS_INSTANCE_IPV4"]) for i in found] == [("i-2", "10.0.0.2")]

    assert [
        (i.instance_id, i.ipv4, i.port)
        for i in discover(account, "us-west-2", "apps.local", "backend", {"version": "v1"})
    ] == [("i-1", "10.0.0.1", 8080)]
    assert harness.events_for(account) == [(account, "us-west-2", "apps.local", "backend")] * 2

    aws("servicediscovery", "deregister-instance", "--service-id", service_id, "--instance-id", "i-1")
    assert [i.instance_id for i in discover(account, "us-west-2", "apps.local", "backend")] == ["i-2"]
    assert len(harness.events_for(account)) == 3
