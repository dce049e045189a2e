"""The unix-socket SDS server, spoken to by a gRPC client as Envoy speaks to it."""

from __future__ import annotations

import argparse
import os
import queue
import shutil
import stat
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Iterator

import grpc
import pytest
from envoy.extensions.transport_sockets.tls.v3 import secret_pb2
from envoy.service.discovery.v3 import discovery_pb2
from envoy.service.secret.v3 import sds_pb2_grpc

from appmesh_local.netns.task import ENVOY_UID
from appmesh_local.sds import SdsServer
from appmesh_local.sds.__main__ import parse_secret
from appmesh_local.sds.server import SECRET_TYPE
from appmesh_local.unix_socket import group_id
from tests.tls.certs import authority

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def pki(tmp_path: Path):
    ca = authority(tmp_path, "SDS Test CA")
    return ca, ca.issue(tmp_path, "svc", dns_names=("svc.mesh.local",))


def secrets_of(response: discovery_pb2.DiscoveryResponse) -> dict[str, secret_pb2.Secret]:
    out = {}
    for packed in response.resources:
        secret = secret_pb2.Secret()
        packed.Unpack(secret)
        out[secret.name] = secret
    return out


class Stream:
    """A StreamSecrets call fed from a queue, answers read with a deadline."""

    def __init__(self, stub: sds_pb2_grpc.SecretDiscoveryServiceStub) -> None:
        self.requests: queue.Queue = queue.Queue()
        self.responses: queue.Queue = queue.Queue()
        self.call = stub.StreamSecrets(iter(self.requests.get, None))
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        try:
            for response in self.call:
                self.responses.put(response)
        except grpc.RpcError:
            pass

    def send(self, names: list[str], version: str = "", nonce: str = "") -> None:
        self.requests.put(
            discovery_pb2.DiscoveryRequest(
                type_url=SECRET_TYPE, resource_names=names, version_info=version, response_nonce=nonce
            )
        )

    def next(self, timeout: float = 5.0) -> discovery_pb2.DiscoveryResponse:
        return self.responses.get(timeout=timeout)

    def close(self) -> None:
        self.requests.put(None)
        self.call.cancel()


@pytest.fixture
def served(tmp_path: Path, pki) -> Iterator[tuple[SdsServer, sds_pb2_grpc.SecretDiscoveryServiceStub]]:
    ca, svc = pki
    server = SdsServer(tmp_path / "sds.sock", {"svc": (svc.chain, svc.key), "ca": ca.pem_path}, poll_s=0.1).start()
    channel = grpc.insecure_channel(f"unix:{server.socket_path}")
    try:
        yield server, sds_pb2_grpc.SecretDiscoveryServiceStub(channel)
    finally:
        channel.close()
        server.stop()
    assert not server.socket_path.exists()


def test_stream_serves_certificates_and_trust_inline(served, pki):
    server, stub = served
    ca, svc = pki
    assert server.socket_path.stat().st_mode & 0o777 == 0o600  # private keys: the owner only (group: see below)
    stream = Stream(stub)
    try:
        stream.send(["svc", "ca", "unknown"])
        response = stream.next()
        assert response.type_url == SECRET_TYPE and response.version_info and response.nonce
        got = secrets_of(response)
        assert set(got) == {"svc", "ca"}  # an unknown name is simply absent (Envoy keeps waiting)
        assert got["svc"].tls_certificate.certificate_chain.inline_string == svc.chain.read_text()
        assert got["svc"].tls_certificate.private_key.inline_string == svc.key.read_text()
        assert got["ca"].validation_context.trusted_ca.inline_string == ca.pem_path.read_text()

        # ACK: nothing more is sent while nothing changes.
        stream.send(["svc", "ca", "unknown"], version=response.version_info, nonce=response.nonce)
        with pytest.raises(queue.Empty):
            stream.next(timeout=0.5)
    finally:
        stream.close()


def test_rotated_files_are_pushed_and_a_nack_is_not_answered_again(served, pki, tmp_path):
    _, stub = served
    ca, svc = pki
    stream = Stream(stub)
    try:
        stream.send(["svc"])
        first = stream.next()
        stream.send(["svc"], version=first.version_info, nonce=first.nonce)
        (tmp_path / "renewed").mkdir()
        renewed = ca.issue(tmp_path / "renewed", "svc", dns_names=("svc.mesh.local",))
        svc.key.write_text(renewed.key.read_text())  # rotation in place, as a cert agent does it
        svc.chain.write_text(renewed.chain.read_text())
        for _ in range(3):  # the key may be read before the chain is rewritten: at most one extra push
            second = stream.next()
            if secrets_of(second)["svc"].tls_certificate.certificate_chain.inline_string == svc.chain.read_text():
                break
        assert second.version_info != first.version_info and second.nonce != first.nonce
        assert secrets_of(second)["svc"].tls_certificate.certificate_chain.inline_string == renewed.chain.read_text()
        assert secrets_of(second)["svc"].tls_certificate.private_key.inline_string == renewed.key.read_text()

        nack = discovery_pb2.DiscoveryRequest(
            type_url=SECRET_TYPE, resource_names=["svc"], version_info=first.version_info, response_nonce=second.nonce
        )
        nack.error_detail.code = 3
        nack.error_detail.message = "bad key"
        stream.requests.put(nack)
        with pytest.raises(queue.Empty):
            stream.next(timeout=0.5)
        stream.send(["svc", "ca"])  # new names: answered
        assert set(secrets_of(stream.next())) == {"svc", "ca"}
    finally:
        stream.close()


def test_fetch_secrets(served):
    _, stub = served
    response = stub.FetchSecrets(discovery_pb2.DiscoveryRequest(type_url=SECRET_TYPE, resource_names=["ca"]), timeout=5)
    assert set(secrets_of(response)) == {"ca"}


def test_bad_secret_specs_are_refused(tmp_path):
    with pytest.raises(ValueError):
        SdsServer(tmp_path / "x.sock", {"three": ("a", "b", "c")})
    assert parse_secret("spiffe://mesh/svc=/c.pem,/k.pem") == ("spiffe://mesh/svc", ("/c.pem", "/k.pem"))
    assert parse_secret("ca=/ca.pem") == ("ca", "/ca.pem")
    with pytest.raises(argparse.ArgumentTypeError):
        parse_secret("no-equals-sign")


CONNECT = """
import socket, sys
s = socket.socket(socket.AF_UNIX)
try:
    s.connect(sys.argv[1])
    print("connected")
except PermissionError:
    print("refused")
"""


def connect_as(uid: int, path: Path) -> str:
    """Whether a process of `uid` (and gid `uid`, no other groups) may connect to the socket."""
    command = ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", sys.executable, "-c", CONNECT]
    return subprocess.run([*command, str(path)], capture_output=True, text=True, timeout=30).stdout.strip()


@pytest.mark.parametrize("group", [None, ENVOY_UID])
def test_the_socket_hands_keys_only_to_its_owner_or_its_group(pki, group):
    """It serves private keys: 0600, or 0660 for the group Envoy runs with; never every local user."""
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("connecting as other uids needs root and setpriv (CI has both)")
    ca, svc = pki
    directory = Path(tempfile.mkdtemp(prefix="appmesh-sds-"))
    try:
        directory.chmod(0o755)  # reachable by every uid: only the socket's own mode decides
        with SdsServer(directory / "sds.sock", {"svc": (svc.chain, svc.key)}, group=group) as server:
            mode = stat.S_IMODE(server.socket_path.stat().st_mode)
            assert mode == (0o600 if group is None else 0o660)
            assert connect_as(65534, server.socket_path) == "refused"  # nobody
            assert connect_as(ENVOY_UID, server.socket_path) == ("refused" if group is None else "connected")
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def test_the_command_takes_a_group_name_or_number():
    assert group_id("1337", "--socket-group") == 1337
    assert group_id("root", "--socket-group") == 0
    with pytest.raises(ValueError, match="--socket-group: no group named 'no-such-group-here'"):
        group_id("no-such-group-here", "--socket-group")
