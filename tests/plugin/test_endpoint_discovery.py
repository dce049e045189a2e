"""Every way boto3 and the AWS CLI (v1) find a custom endpoint reaches appmesh-local.

botocore ≥ 1.31 resolves, per service: `endpoint_url=` > AWS_ENDPOINT_URL_APP_MESH >
AWS_ENDPOINT_URL > the profile's `services` section (`app_mesh = endpoint_url = ...`) >
the profile's `endpoint_url`. Any credentials are accepted; a 12-digit access key id is
the account. Config and credentials files are temporary (AWS_CONFIG_FILE,
AWS_SHARED_CREDENTIALS_FILE); the real ones are never read.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import boto3
import pytest

pytestmark = pytest.mark.timeout(120)
ACCOUNT = "210987654321"  # from the access key id in the credentials file


@pytest.fixture
def aws_home(tmp_path, monkeypatch):
    """Empty AWS config: only what a case writes; credentials from a temp credentials file."""
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    config, credentials = tmp_path / "config", tmp_path / "credentials"
    config.write_text("")
    credentials.write_text(
        f"[default]\naws_access_key_id = {ACCOUNT}\naws_secret_access_key = anything\n"
        f"[other]\naws_access_key_id = {ACCOUNT}\naws_secret_access_key = anything\n"
    )
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    return config


def profile_endpoint(config: Path, endpoint: str) -> None:
    config.write_text(f"[default]\nendpoint_url = {endpoint}\n")


def services_section(config: Path, endpoint: str) -> None:
    config.write_text(
        f"[default]\nservices = local-appmesh\n\n[services local-appmesh]\napp_mesh =\n  endpoint_url = {endpoint}\n"
    )


CASES = {
    "AWS_ENDPOINT_URL": lambda monkeypatch, config, url: monkeypatch.setenv("AWS_ENDPOINT_URL", url),
    "AWS_ENDPOINT_URL_APP_MESH": lambda monkeypatch, config, url: monkeypatch.setenv("AWS_ENDPOINT_URL_APP_MESH", url),
    "profile endpoint_url": lambda monkeypatch, config, url: profile_endpoint(config, url),
    "profile services section": lambda monkeypatch, config, url: services_section(config, url),
}


def expected_arn(mesh: str) -> str:
    return f"arn:aws:appmesh:eu-west-1:{ACCOUNT}:mesh/{mesh}"


def test_boto3_endpoint_url_argument(appmesh_server, aws_home):
    client = boto3.session.Session().client("appmesh", endpoint_url=appmesh_server.endpoint)
    created = client.create_mesh(meshName="by-argument")["mesh"]
    try:
        assert created["metadata"]["arn"] == expected_arn("by-argument")
    finally:
        client.delete_mesh(meshName="by-argument")


@pytest.mark.parametrize("case", sorted(CASES))
def test_boto3_finds_the_endpoint(appmesh_server, aws_home, monkeypatch, case):
    CASES[case](monkeypatch, aws_home, appmesh_server.endpoint)
    client = boto3.session.Session().client("appmesh")
    assert client.meta.endpoint_url == appmesh_server.endpoint
    mesh = "boto3-" + case.replace(" ", "-").replace("_", "-").lower()
    assert client.create_mesh(meshName=mesh)["mesh"]["metadata"]["arn"] == expected_arn(mesh)
    client.delete_mesh(meshName=mesh)


def test_service_specific_variable_wins_over_the_global_one(appmesh_server, aws_home, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # nothing listens on the discard port
    monkeypatch.setenv("AWS_ENDPOINT_URL_APP_MESH", appmesh_server.endpoint)
    assert boto3.session.Session().client("appmesh").list_meshes()["meshes"] is not None


def aws_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "awscli", *args, "--output", "json"],
        capture_output=True,
        text=True,
        timeout=60,
        env=dict(os.environ),
    )


def test_aws_cli_endpoint_url_option(appmesh_server, aws_home):
    result = aws_cli("appmesh", "create-mesh", "--mesh-name", "cli-option", "--endpoint-url", appmesh_server.endpoint)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["mesh"]["metadata"]["arn"] == expected_arn("cli-option")
    assert (
        aws_cli(
            "appmesh", "delete-mesh", "--mesh-name", "cli-option", "--endpoint-url", appmesh_server.endpoint
        ).returncode
        == 0
    )


@pytest.mark.parametrize("case", sorted(CASES))
def test_aws_cli_finds_the_endpoint(appmesh_server, aws_home, monkeypatch, case):
    CASES[case](monkeypatch, aws_home, appmesh_server.endpoint)
    mesh = "cli-" + case.replace(" ", "-").replace("_", "-").lower()
    result = aws_cli("appmesh", "create-mesh", "--mesh-name", mesh)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["mesh"]["metadata"]["arn"] == expected_arn(mesh)
    listed = json.loads(aws_cli("appmesh", "list-meshes").stdout)["meshes"]
    assert mesh in [m["meshName"] for m in listed]
    assert aws_cli("appmesh", "delete-mesh", "--mesh-name", mesh).returncode == 0


def test_aws_cli_named_profile(appmesh_server, aws_home, monkeypatch):
    aws_home.write_text(f"[profile other]\nregion = eu-west-1\nendpoint_url = {appmesh_server.endpoint}\n")
    result = aws_cli("appmesh", "list-meshes", "--profile", "other")
    assert result.returncode == 0, result.stderr
    assert "meshes" in json.loads(result.stdout)
