"""xDS authentication (`serve --xds-auth`): only a proxy's own credentials open its stream.

Before, any local process that named a node in its first request received the node's
configuration, ACM private keys included, and the unix socket was world-writable (issue 15).
The proxy here is a virtual gateway whose listener serves an ACM certificate, so its
configuration carries a private key as an SDS secret.
"""

from __future__ import annotations

import datetime
import json
import shutil
import stat
import tempfile
import time
from pathlib import Path
from typing import Any, Iterator

import boto3
import grpc
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from envoy.extensions.transport_sockets.tls.v3 import secret_pb2

from appmesh_local.bridge.runtime import XdsRuntime
from appmesh_local.cli import main as cli_main
from appmesh_local.envoy.tls import secret_name_certificate
from appmesh_local.proxy.bootstrap import render_bootstrap
from appmesh_local.proxy.process import EnvoyProcess, envoy_binary
from appmesh_local.server import AppMeshServer, ServerConfig
from appmesh_local.testing import InProcessServer, envoy_available
from appmesh_local.xds.auth import TOKEN_HEADER, TokenKey
from appmesh_local.xds.node_id import ProxyRef
from appmesh_local.xds.proxy_config import CLUSTER, SECRET
from tests.support.pca import active_root_ca
from tests.support.server import free_port
from tests.xds.ads_client import AdsClient

pytestmark = pytest.mark.timeout(120)
ACCOUNT, REGION, MESH = "123456789012", "us-east-1", "authmesh"
GATEWAY = ProxyRef(ACCOUNT, REGION, MESH, "virtualGateway", "gw")
OTHER = ProxyRef(ACCOUNT, REGION, MESH, "virtualGateway", "other")
SOTW_PATH = "/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources"
KEY_ID, SECRET_KEY = "AKIDXDSTEST", "xds-secret"
STRANGER_ID = "444455556666"  # a known credential of another account
CREDENTIALS = f"""
[default]
aws_access_key_id = {KEY_ID}
aws_secret_access_key = {SECRET_KEY}
aws_account_id = {ACCOUNT}

[stranger]
aws_access_key_id = {STRANGER_ID}
aws_secret_access_key = stranger-secret
"""
needs_envoy = pytest.mark.skipif(envoy_available() is not None, reason=f"real Envoy needed: {envoy_available()}")


class Secured:
    """An in-process server with --xds-auth, a unix socket, and the gateway's ACM certificate."""

    def __init__(self, directory: Path) -> None:
        (directory / "credentials").write_text(CREDENTIALS)
        self.socket = directory / "sock" / "xds.sock"
        config = ServerConfig(
            host="127.0.0.1",
            port=0,
            xds_host="127.0.0.1",
            xds_port=0,
            state_dir=None,
            listener_bind_address="127.0.0.1",
            xds_socket=str(self.socket),
            xds_auth=True,
            credentials_file=directory / "credentials",
        )
        self.app = AppMeshServer(config)
        self.app.start_background()
        self.server = InProcessServer(self.app)
        self.port = self.server.xds_port
        self.gw_port = free_port()
        self.secret_name = ""

    def build_mesh(self) -> None:
        neighbours = dict(
            endpoint_url=self.server.endpoint,
            region_name=REGION,
            aws_access_key_id=ACCOUNT,
            aws_secret_access_key="testing",
            config=Config(retries={"max_attempts": 1}, inject_host_prefix=False),
        )
        ca = active_root_ca(boto3.client("acm-pca", **neighbours), "xDS auth root")
        cert = boto3.client("acm", **neighbours).request_certificate(
            DomainName="gw.auth.local", CertificateAuthorityArn=ca
        )["CertificateArn"]
        self.secret_name = secret_name_certificate(cert)
        appmesh = self.server.client(access_key=ACCOUNT)
        appmesh.create_mesh(meshName=MESH)
        listener = {
            "portMapping": {"port": self.gw_port, "protocol": "http"},
            "tls": {"mode": "STRICT", "certificate": {"acm": {"certificateArn": cert}}},
        }
        for name in ("gw", "other"):
            appmesh.create_virtual_gateway(meshName=MESH, virtualGatewayName=name, spec={"listeners": [listener]})
            listener = {"portMapping": {"port": free_port(), "protocol": "http"}}
        self.app.xds.reconciler.flush()
        snapshot = self.app.xds.cache.get(GATEWAY)
        assert snapshot is not None and self.secret_name in snapshot.types[SECRET].resources

    def token(self, proxy: ProxyRef) -> str:
        token = self.app.xds_token(proxy)
        assert token is not None
        return token

    def refusals(self) -> list[dict[str, Any]]:
        return self.app.xds.status_snapshot()["refused"]

    def stop(self) -> None:
        self.app.stop()


@pytest.fixture(scope="module")
def secured() -> Iterator[Secured]:
    directory = Path(tempfile.mkdtemp(prefix="aml-auth-"))
    directory.chmod(0o755)
    server = Secured(directory)
    try:
        server.build_mesh()
        yield server
    finally:
        server.stop()
        shutil.rmtree(directory, ignore_errors=True)


# ---- a raw gRPC client -------------------------------------------------------------------------------
def open_stream(secured: Secured, metadata: tuple[tuple[str, str], ...] = (), proxy: ProxyRef = GATEWAY) -> AdsClient:
    client = AdsClient(secured.port, metadata=metadata)
    client.request(CLUSTER, node=AdsClient.node(proxy.short_id()))
    return client


def assert_refused(client: AdsClient, code: grpc.StatusCode, fragment: str) -> None:
    try:
        error = client.ended(timeout=10)
        assert error is not None, "the stream was not refused"
        assert error.code() == code, (error.code(), error.details())
        assert fragment in error.details(), error.details()
        assert client.responses.empty()  # nothing at all was sent: no listener, cluster or secret
    finally:
        client.close()


def signed_headers(key_id: str, secret: str, *, at: datetime.datetime | None = None, monkeypatch=None) -> tuple:
    """The headers Envoy's aws_request_signing filter adds to an ADS stream, made by botocore's signer."""
    request = AWSRequest(
        method="POST",
        url=f"https://xds_cluster{SOTW_PATH}",
        headers={"content-type": "application/grpc", "te": "trailers", "x-amz-content-sha256": "UNSIGNED-PAYLOAD"},
    )
    if at is not None:
        monkeypatch.setattr("botocore.auth.get_current_datetime", lambda: at)
    SigV4Auth(Credentials(key_id, secret), "appmesh", REGION).add_auth(request)
    wanted = ("authorization", "x-amz-date", "x-amz-content-sha256")
    return tuple((name.lower(), value) for name, value in request.headers.items() if name.lower() in wanted)


def test_a_client_without_credentials_gets_nothing(secured):
    assert_refused(open_stream(secured), grpc.StatusCode.UNAUTHENTICATED, "no credentials")
    refusal = secured.refusals()[-1]
    assert refusal["node_id"] == GATEWAY.short_id() and "no credentials" in refusal["reason"]


def test_another_proxys_token_does_not_open_this_one(secured):
    client = open_stream(secured, ((TOKEN_HEADER, secured.token(OTHER)),))
    assert_refused(client, grpc.StatusCode.UNAUTHENTICATED, "does not open mesh/authmesh/virtualGateway/gw")


def test_a_node_id_that_names_no_proxy_is_refused(secured):
    client = AdsClient(secured.port, metadata=((TOKEN_HEADER, secured.token(GATEWAY)),))
    client.request(CLUSTER, node=AdsClient.node("not-a-node-id"))
    assert_refused(client, grpc.StatusCode.UNAUTHENTICATED, "names no proxy")


def test_the_proxys_own_token_gets_its_config_and_secret(secured):
    client = open_stream(secured, ((TOKEN_HEADER, secured.token(GATEWAY)),))
    try:
        assert client.recv(timeout=10).type_url == CLUSTER
        client.request(SECRET, names=(secured.secret_name,))
        response = client.recv(timeout=10)
        assert response is not None and response.type_url == SECRET
        secret = secret_pb2.Secret()
        response.resources[0].Unpack(secret)
        assert "PRIVATE KEY" in secret.tls_certificate.private_key.inline_string
    finally:
        client.close()


def test_a_sigv4_signed_stream_of_the_mesh_owner_is_served(secured):
    client = open_stream(secured, signed_headers(KEY_ID, SECRET_KEY))
    try:
        response = client.recv(timeout=10)
        assert response is not None and response.type_url == CLUSTER
    finally:
        client.close()


def test_a_wrong_secret_key_is_refused_with_awss_code(secured):
    client = open_stream(secured, signed_headers(KEY_ID, "not-the-secret"))
    assert_refused(client, grpc.StatusCode.UNAUTHENTICATED, "InvalidSignatureException: The request signature")


def test_an_unknown_access_key_is_refused(secured):
    client = open_stream(secured, signed_headers("AKIDUNKNOWN", SECRET_KEY))
    assert_refused(client, grpc.StatusCode.UNAUTHENTICATED, "UnrecognizedClientException")


def test_an_expired_signature_is_refused(secured, monkeypatch):
    old = datetime.datetime.now(datetime.UTC).replace(tzinfo=None) - datetime.timedelta(minutes=10)
    client = open_stream(secured, signed_headers(KEY_ID, SECRET_KEY, at=old, monkeypatch=monkeypatch))
    assert_refused(client, grpc.StatusCode.UNAUTHENTICATED, "Signature expired:")


def test_another_accounts_signature_may_not_stream_this_mesh(secured):
    client = open_stream(secured, signed_headers(STRANGER_ID, "stranger-secret"))
    assert_refused(client, grpc.StatusCode.PERMISSION_DENIED, f"account {STRANGER_ID}")


def test_the_unix_socket_is_its_owners_only(secured):
    mode = stat.S_IMODE(secured.socket.stat().st_mode)
    assert mode == 0o600
    client = AdsClient(0, target=f"unix:{secured.socket}")
    client.request(CLUSTER, node=AdsClient.node(GATEWAY.short_id()))
    assert_refused(client, grpc.StatusCode.UNAUTHENTICATED, "no credentials")  # and authenticated there too


def test_the_unix_socket_can_be_shared_with_a_group(tmp_path):
    path = Path(tempfile.mkdtemp(prefix="aml-sock-")) / "xds.sock"
    runtime = XdsRuntime(port=0, unix_socket=path, unix_socket_group=1337).start()
    try:
        info = path.stat()
        assert (stat.S_IMODE(info.st_mode), info.st_gid) == (0o660, 1337)
    finally:
        runtime.stop(grace=0)
        shutil.rmtree(path.parent, ignore_errors=True)


# ---- real Envoys -------------------------------------------------------------------------------------
def gateway_envoy(secured: Secured, **bootstrap: Any) -> EnvoyProcess:
    env = bootstrap.pop("env", None)
    document = render_bootstrap(MESH, "virtualGateway", "gw", "127.0.0.1", secured.port, admin_port=0, **bootstrap)
    return EnvoyProcess(document, log_level="warning", env=env).start(wait_live=False, timeout=20)


def has_secret(envoy: EnvoyProcess, name: str) -> bool:
    dump = envoy.config_dump()
    secrets = [c for c in dump["configs"] if c["@type"].endswith("SecretsConfigDump")]
    return any(s.get("name") == name for c in secrets for s in c.get("dynamic_active_secrets", []))


def wait_for(check: Any, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.1)
    return False


@needs_envoy
@pytest.mark.parametrize("how", ["token over TCP", "token over the unix socket", "SigV4 signing"])
def test_an_authenticated_envoy_gets_its_listener_and_acm_secret(secured, how):
    options: dict[str, Any] = {}
    if how.startswith("token"):
        options["xds_token"] = secured.token(GATEWAY)
    else:
        options.update(
            xds_sigv4=True, region=REGION, env={"AWS_ACCESS_KEY_ID": KEY_ID, "AWS_SECRET_ACCESS_KEY": SECRET_KEY}
        )
    if how.endswith("unix socket"):
        options["xds_socket_path"] = str(secured.socket)
    envoy = gateway_envoy(secured, **options)
    try:
        assert wait_for(lambda: has_secret(envoy, secured.secret_name)), envoy.log_text()[-3000:]
        envoy.wait_live(timeout=20)
        assert f"lds_ingress_0.0.0.0_{secured.gw_port}" in json.dumps(envoy.config_dump())
    finally:
        envoy.stop()


@needs_envoy
@pytest.mark.parametrize("how", ["no credentials", "wrong secret key"])
def test_an_unauthenticated_envoy_never_receives_the_private_key(secured, how):
    options: dict[str, Any] = {}
    if how == "wrong secret key":
        options.update(
            xds_sigv4=True, region=REGION, env={"AWS_ACCESS_KEY_ID": KEY_ID, "AWS_SECRET_ACCESS_KEY": "wrong"}
        )
    before = len(secured.refusals())
    envoy = gateway_envoy(secured, **options)
    try:
        assert wait_for(lambda: len(secured.refusals()) > before), "the server did not refuse the stream"
        time.sleep(1)  # Envoy retries; every attempt is refused
        dump = json.dumps(envoy.config_dump())
        assert secured.secret_name not in dump and "lds_ingress" not in dump
        reason = secured.refusals()[-1]["reason"]
        assert ("no credentials" if how == "no credentials" else "InvalidSignatureException") in reason
    finally:
        envoy.stop()


# ---- the commands that write bootstraps --------------------------------------------------------------
def test_bootstrap_command_carries_the_proxys_token(tmp_path, capsys):
    key_file = tmp_path / "xds-auth.key"
    key = TokenKey.load_or_create(key_file)
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    output = tmp_path / "gw.json"
    args = ["bootstrap", "--mesh", MESH, "--virtual-gateway", "gw", "--format", "json", "--xds-auth-key", str(key_file)]
    assert cli_main([*args, "--account", ACCOUNT, "-o", str(output)]) == 0
    assert stat.S_IMODE(output.stat().st_mode) == 0o600  # it is a credential now
    [service] = json.loads(output.read_text())["dynamic_resources"]["ads_config"]["grpc_services"]
    assert service["initial_metadata"] == [{"key": TOKEN_HEADER, "value": key.token(GATEWAY)}]
    done = __import__("subprocess").run(
        [str(envoy_binary()), "--mode", "validate", "-c", str(output)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr

    assert (
        cli_main(["bootstrap", "--mesh", MESH, "--virtual-gateway", "gw", "--xds-auth-key", str(tmp_path / "no")]) == 1
    )
    assert "cannot read xDS token key" in capsys.readouterr().err


def test_serve_refuses_auth_without_a_place_for_the_key(capsys):
    assert cli_main(["serve", "--ephemeral", "--xds-auth", "--port", "0", "--xds-port", "0"]) == 2
    assert "--xds-auth-key" in capsys.readouterr().err
