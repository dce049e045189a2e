"""The AWS CLI against the middleware: what a user types in the README's Cloud Map walkthrough."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest

from appmesh_local.neighbours import discover

pytestmark = [pytest.mark.timeout(120), pytest.mark.skipif(shutil.which("aws") is None, reason="AWS CLI not installed")]


def cli_env(account: str, tmp_path) -> dict[str, str]:
    """The AWS CLI's environment for `account` (its access key id) in us-west-2, no user config."""
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
    return env


def cli(endpoint: str, env: dict[str, str]):
    """Run `aws <args> --endpoint-url <endpoint>`; parsed JSON out (the command must succeed)."""

    def run(*args: str) -> dict:
        done = subprocess.run(
            ["aws", *args, "--endpoint-url", endpoint, "--output", "json"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout or "{}")

    return run


@pytest.fixture
def aws(harness, account, tmp_path):
    """Run `aws <args> --endpoint-url <harness>` as `account` in us-west-2; parsed JSON out."""
    return cli(harness.endpoint, cli_env(account, tmp_path))


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


@pytest.fixture
def aws_error(harness, account, tmp_path):
    """Run an `aws` command that must fail (CLI v1 exits 255 on a service error, v2 254); its stderr."""
    env = cli_env(account, tmp_path)

    def run(*args: str) -> str:
        done = subprocess.run(
            ["aws", *args, "--endpoint-url", harness.endpoint], env=env, capture_output=True, text=True, timeout=60
        )
        assert done.returncode != 0, done.stdout
        return done.stderr

    return run


def test_tls_with_acm_walkthrough_private_ca_and_permissions(aws, aws_error, account):
    """tls-with-acm (aws/aws-app-mesh-examples), step 2, as typed there with AWS CLI v1: a root CA,
    self-signed through its own CSR, the permission for ACM, a managed certificate; then the
    clean-up. create-permission answered 500 before issue 12."""
    domain = "svc.cluster.local"
    ca_arn = aws(
        "acm-pca",
        "create-certificate-authority",
        "--certificate-authority-type",
        "ROOT",
        "--certificate-authority-configuration",
        "KeyAlgorithm=RSA_2048,SigningAlgorithm=SHA256WITHRSA,Subject={Country=US,State=WA,Locality=Seattle,"
        f"Organization=App Mesh Examples,OrganizationalUnit=TLS Example,CommonName={domain}}}",
    )["CertificateAuthorityArn"]
    csr = aws("acm-pca", "get-certificate-authority-csr", "--certificate-authority-arn", ca_arn)["Csr"]
    cert_arn = aws(
        "acm-pca",
        "issue-certificate",
        "--certificate-authority-arn",
        ca_arn,
        "--template-arn",
        "arn:aws:acm-pca:::template/RootCACertificate/V1",
        "--signing-algorithm",
        "SHA256WITHRSA",
        "--validity",
        "Value=10,Type=YEARS",
        "--csr",
        csr,
    )["CertificateArn"]
    ca_cert = aws("acm-pca", "get-certificate", "--certificate-arn", cert_arn, "--certificate-authority-arn", ca_arn)[
        "Certificate"
    ]
    aws(
        "acm-pca",
        "import-certificate-authority-certificate",
        "--certificate-authority-arn",
        ca_arn,
        "--certificate",
        ca_cert,
    )
    grant = ("--certificate-authority-arn", ca_arn, "--principal", "acm.amazonaws.com")
    assert (
        aws(
            "acm-pca", "create-permission", *grant, "--actions", "IssueCertificate", "GetCertificate", "ListPermissions"
        )
        == {}
    )

    [permission] = aws("acm-pca", "list-permissions", "--certificate-authority-arn", ca_arn)["Permissions"]
    assert permission["CertificateAuthorityArn"] == ca_arn and permission["Principal"] == "acm.amazonaws.com"
    assert permission["Actions"] == ["IssueCertificate", "GetCertificate", "ListPermissions"]
    assert permission["SourceAccount"] == account  # the caller's account when none is given
    assert json.loads(permission["Policy"])["Statement"][0]["Resource"] == ca_arn
    stderr = aws_error("acm-pca", "create-permission", *grant, "--actions", "IssueCertificate")
    assert "PermissionAlreadyExistsException" in stderr

    certificate_arn = aws(
        "acm", "request-certificate", "--domain-name", f"*.{domain}", "--certificate-authority-arn", ca_arn
    )["CertificateArn"]
    described = aws("acm", "describe-certificate", "--certificate-arn", certificate_arn)["Certificate"]
    assert described["Status"] == "ISSUED" and described["CertificateAuthorityArn"] == ca_arn

    # Clean-up, as the walkthrough's last step (plus the permission, to show delete-permission).
    assert aws("acm-pca", "delete-permission", *grant) == {}
    assert aws("acm-pca", "list-permissions", "--certificate-authority-arn", ca_arn)["Permissions"] == []
    stderr = aws_error("acm-pca", "delete-permission", *grant)
    assert "ResourceNotFoundException" in stderr
    aws("acm", "delete-certificate", "--certificate-arn", certificate_arn)
    aws("acm-pca", "update-certificate-authority", "--certificate-authority-arn", ca_arn, "--status", "DISABLED")
    aws("acm-pca", "delete-certificate-authority", "--certificate-authority-arn", ca_arn)
    stderr = aws_error("acm-pca", "list-permissions", "--certificate-authority-arn", ca_arn)
    assert "InvalidStateException" in stderr


def test_bad_permission_input_gets_aws_errors(aws, aws_error):
    unknown = "arn:aws:acm-pca:us-west-2:123456789012:certificate-authority/00000000-0000-0000-0000-000000000000"
    stderr = aws_error("acm-pca", "list-permissions", "--certificate-authority-arn", unknown)
    assert (
        f"ResourceNotFoundException) when calling the ListPermissions operation: Resource {unknown} not found" in stderr
    )
    stderr = aws_error(
        "acm-pca", "create-permission", "--certificate-authority-arn", unknown, "--principal", "acm.amazonaws.com",
        "--actions", "IssueCertificate", "RevokeCertificate",
    )  # fmt: skip
    assert "ValidationException" in stderr
    assert "Value 'RevokeCertificate' at 'actions.2.member' failed to satisfy constraint" in stderr
    stderr = aws_error("acm-pca", "list-permissions", "--certificate-authority-arn", "not-an-arn")
    assert "ValidationException" in stderr and "'certificateAuthorityArn'" in stderr


def test_an_operation_moto_lacks_says_so_instead_of_failing_with_500(aws_error):
    """Deliberately absent (moto has no implementation, no App Mesh walkthrough uses it): AWS's
    NotImplemented error with the reason, HTTP 501 (botocore does not retry it), never a 500."""
    ca = "arn:aws:acm-pca:us-west-2:123456789012:certificate-authority/00000000-0000-0000-0000-000000000000"
    stderr = aws_error("acm-pca", "restore-certificate-authority", "--certificate-authority-arn", ca)
    assert "(NotImplemented)" in stderr and "does not emulate acm-pca RestoreCertificateAuthority" in stderr
    stderr = aws_error("acm", "renew-certificate", "--certificate-arn", ca.replace("acm-pca", "acm"))
    assert "(NotImplemented)" in stderr and "InternalFailure" not in stderr


def test_cross_account_acm_walkthrough_script(aws, harness, account, tmp_path):
    """eks-app-mesh-cross-account-acm, mesh/apply_tls_on_yelb_nodes.sh: the CA made from JSON
    files with an idempotency token and tags, its CSR and certificate through files, the ACM
    permission, then a certificate requested from that CA by the CA's account and by another
    account (the walkthrough shares the CA with AWS RAM first; RAM is not emulated: any account
    may request from a CA here)."""
    (tmp_path / "ca_config.txt").write_text(
        json.dumps(
            {
                "KeyAlgorithm": "RSA_2048",
                "SigningAlgorithm": "SHA256WITHRSA",
                "Subject": {"Country": "US", "Organization": "Example Corp", "CommonName": "www.example.com"},
            }
        )
    )
    (tmp_path / "revoke_config.txt").write_text(
        json.dumps({"CrlConfiguration": {"Enabled": False, "ExpirationInDays": 7, "S3BucketName": "your-bucket-name"}})
    )
    ca_arn = aws(
        "acm-pca", "create-certificate-authority",
        "--certificate-authority-configuration", f"file://{tmp_path / 'ca_config.txt'}",
        "--revocation-configuration", f"file://{tmp_path / 'revoke_config.txt'}",
        "--certificate-authority-type", "ROOT", "--idempotency-token", "98256344",
        "--tags", "Key=Name,Value=MyAppMeshPCA",
    )["CertificateAuthorityArn"]  # fmt: skip
    (tmp_path / "ca_csr.csr").write_text(
        aws("acm-pca", "get-certificate-authority-csr", "--certificate-authority-arn", ca_arn)["Csr"]
    )
    issued = aws(
        "acm-pca", "issue-certificate", "--certificate-authority-arn", ca_arn,
        "--csr", f"file://{tmp_path / 'ca_csr.csr'}", "--signing-algorithm", "SHA256WITHRSA",
        "--template-arn", "arn:aws:acm-pca:::template/RootCACertificate/V1",
        "--validity", "Value=10,Type=YEARS", "--idempotency-token", "1234",
    )["CertificateArn"]  # fmt: skip
    (tmp_path / "cert.cer").write_text(
        aws("acm-pca", "get-certificate", "--certificate-authority-arn", ca_arn, "--certificate-arn", issued)[
            "Certificate"
        ]
    )
    aws(
        "acm-pca", "import-certificate-authority-certificate", "--certificate-authority-arn", ca_arn,
        "--certificate", f"file://{tmp_path / 'cert.cer'}",
    )  # fmt: skip
    aws(
        "acm-pca", "create-permission", "--certificate-authority-arn", ca_arn,
        "--actions", "IssueCertificate", "GetCertificate", "ListPermissions", "--principal", "acm.amazonaws.com",
    )  # fmt: skip
    assert (
        aws("acm-pca", "describe-certificate-authority", "--certificate-authority-arn", ca_arn)["CertificateAuthority"][
            "Status"
        ]
        == "ACTIVE"
    )
    other = str(int(account) + 1)
    other_aws = cli(harness.endpoint, cli_env(other, tmp_path))
    for run, owner in ((other_aws, other), (aws, account)):
        arn = run(
            "acm", "request-certificate", "--domain-name", "*.example.com", "--certificate-authority-arn", ca_arn,
            "--query", "CertificateArn",
        )  # fmt: skip
        assert f":{owner}:certificate/" in arn
        described = run("acm", "describe-certificate", "--certificate-arn", arn)["Certificate"]
        assert described["Status"] == "ISSUED" and described["CertificateAuthorityArn"] == ca_arn


def test_k8s_cloudmap_walkthrough_discover_commands(aws):
    """howto-k8s-cloudmap (and howto-k8s-timeout-policy): the README checks the controller's
    registrations with `discover-instances --namespace ... --service ...` (the CLI's short forms),
    filtered by `--query-parameters version=...`. Here the registrations are made as the
    controller made them (pod IP, pod labels as attributes)."""
    namespace = "howto-k8s-cloudmap.pvt.aws.local"
    aws("servicediscovery", "create-private-dns-namespace", "--name", namespace, "--vpc", "vpc-0123456789")
    namespace_id = next(
        n["Id"] for n in aws("servicediscovery", "list-namespaces")["Namespaces"] if n["Name"] == namespace
    )
    services = {
        name: aws("servicediscovery", "create-service", "--name", name, "--namespace-id", namespace_id)["Service"]["Id"]
        for name in ("front", "colorapp")
    }
    pods = {
        "front": [("front-1", "10.1.0.1", "front")],
        "colorapp": [("blue-1", "10.1.0.2", "blue"), ("red-1", "10.1.0.3", "red")],
    }
    for service, registrations in pods.items():
        for pod, ip, label in registrations:
            aws(
                "servicediscovery", "register-instance", "--service-id", services[service], "--instance-id", pod,
                "--attributes", f"AWS_INSTANCE_IPV4={ip},app={service},version={label},k8s.io/namespace=howto-k8s-cloudmap",
            )  # fmt: skip

    def discover(service: str, *query: str) -> list[str]:
        found = aws("servicediscovery", "discover-instances", "--namespace", namespace, "--service", service, *query)
        return sorted(i["InstanceId"] for i in found["Instances"])

    assert discover("front") == ["front-1"]
    assert discover("colorapp", "--query-parameters", "version=blue") == ["blue-1"]
    assert discover("colorapp", "--query-parameters", "version=red") == ["red-1"]
