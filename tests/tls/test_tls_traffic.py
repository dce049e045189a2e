"""TLS end to end: real Envoys in App Mesh tasks, configured over ADS from the App Mesh API.

Each case is checked by traffic, from the front app through both Envoys, and where it is the
server's behaviour that matters, by a client of our own (the test process, outside every
task) talking to the back task's app port, which App Mesh's iptables send to its Envoy.
"""

from __future__ import annotations

import json
import socket
import ssl
import time
from typing import Any

import pytest

from tests.tls.certs import Pair
from tests.tls.conftest import (
    ACM,
    BACK_HOST,
    DISABLED,
    GATEWAY_HOST,
    GATEWAY_PORT,
    MTLS,
    PERMISSIVE,
    PORTS,
    SDS,
    STRICT,
    TlsMesh,
)

pytestmark = pytest.mark.timeout(240)
REQUEST = b"GET /direct HTTP/1.1\r\nHost: back\r\nConnection: close\r\n\r\n"


def plaintext(mesh: TlsMesh, port: int) -> str:
    """Status line of a plaintext request to the back task's port, or what went wrong."""
    try:
        with socket.create_connection((mesh.tasks["back"].address, port), timeout=5) as sock:
            sock.sendall(REQUEST)
            data = sock.recv(4096)
    except OSError as error:
        return f"error: {error!r}"
    return data.split(b"\r\n", 1)[0].decode(errors="replace") if data else "closed"


def over_tls(mesh: TlsMesh, port: int, ca: str, client: Pair | None = None) -> str:
    """Status line of a request over TLS (server verified against `ca` as back.tls.local)."""
    context = ssl.create_default_context(cafile=ca)
    if client is not None:
        context.load_cert_chain(client.chain, client.key)
    try:
        with socket.create_connection((mesh.tasks["back"].address, port), timeout=5) as raw:
            with context.wrap_socket(raw, server_hostname=BACK_HOST) as sock:
                sock.sendall(REQUEST)
                data = sock.recv(4096)
    except (OSError, ssl.SSLError) as error:
        return f"error: {error!r}"
    return data.split(b"\r\n", 1)[0].decode(errors="replace") if data else "closed"


def refused_connection(result: str) -> bool:
    """No HTTP answer at all: the connection was closed or reset, or the handshake failed."""
    return result == "closed" or result.startswith("error")


def handshakes(mesh: TlsMesh, port: int) -> int:
    """TLS handshakes front's Envoy made towards the back node's listener on `port`."""
    name = f"cluster.cds_egress_tls_back_http_{port}.ssl.handshake"
    return mesh.envoys["front"].stats(name).get(name, 0)


def assert_reached(reply: dict[str, Any], port: int) -> None:
    assert reply["status"] == 200, reply
    assert reply["body"]["port"] == port  # the app behind the back node's listener answered


def refused(mesh: TlsMesh, port: int, stat: str, envoy: str = "front") -> None:
    """The front app gets a 503 from its Envoy, and `envoy`'s TLS stat `stat` (a handshake
    verdict, e.g. `cluster.<egress>.ssl.fail_verify_san`) says why."""
    if stat.startswith("ssl."):
        stat = f"cluster.cds_egress_tls_back_http_{port}.{stat}"
    before = mesh.envoys[envoy].stats(stat).get(stat, 0)
    reply = mesh.call_until(port, 503)
    assert reply["status"] == 503, reply
    assert mesh.envoys[envoy].stats(stat).get(stat, 0) > before, f"{stat} did not move: {reply}"


def test_every_source_and_mode_carries_traffic_between_envoys(baseline: TlsMesh) -> None:
    """Files, SDS (unix socket) and ACM (over ADS) certificates; STRICT/PERMISSIVE/DISABLED;
    mTLS from files and SDS; ACM PCA trust."""
    for port in PORTS:
        assert_reached(baseline.call_until(port, 200), port)
    for port in (STRICT, PERMISSIVE, MTLS, SDS, ACM):
        assert handshakes(baseline, port) >= 1, f"no TLS towards {port}"
    assert handshakes(baseline, DISABLED) == 0  # DISABLED: clients follow the server, plaintext

    # The ACM material really arrived over ADS as SDS secrets, on both sides.
    back_dump = baseline.envoys["back"].config_dump()
    front_dump = baseline.envoys["front"].config_dump()
    assert baseline.cert_arn in str(back_dump) and f"trust:{baseline.pca_arn}" in str(front_dump)
    assert "back-cert" in str(back_dump) and "front-cert" in str(front_dump)  # from the unix-socket SDS


def test_strict_permissive_disabled_as_seen_by_a_plain_client(baseline: TlsMesh) -> None:
    ca = str(baseline.pki.ca.pem_path)
    assert refused_connection(plaintext(baseline, STRICT)), "STRICT accepted plaintext"
    assert over_tls(baseline, STRICT, ca).startswith("HTTP/1.1 200")
    assert plaintext(baseline, PERMISSIVE).startswith("HTTP/1.1 200")
    assert over_tls(baseline, PERMISSIVE, ca).startswith("HTTP/1.1 200")
    assert plaintext(baseline, DISABLED).startswith("HTTP/1.1 200")
    assert refused_connection(over_tls(baseline, DISABLED, ca)), "DISABLED negotiated TLS"


def test_mtls_requires_a_valid_client_certificate(baseline: TlsMesh) -> None:
    pki = baseline.pki
    ca, sds_ca = str(pki.ca.pem_path), str(pki.sds_ca.pem_path)
    assert refused_connection(over_tls(baseline, MTLS, ca)), "no client certificate accepted"
    assert refused_connection(over_tls(baseline, MTLS, ca, pki.rogue_front)), "untrusted CA accepted"
    assert refused_connection(over_tls(baseline, MTLS, ca, pki.intruder)), "wrong client SAN accepted"
    assert over_tls(baseline, MTLS, ca, pki.front).startswith("HTTP/1.1 200")
    assert refused_connection(plaintext(baseline, MTLS))
    # The same through SDS: trust and the accepted SPIFFE id come from the unix-socket SDS server.
    assert refused_connection(over_tls(baseline, SDS, sds_ca))
    assert refused_connection(over_tls(baseline, SDS, sds_ca, pki.front))  # right name, wrong CA
    assert over_tls(baseline, SDS, sds_ca, pki.front_sds).startswith("HTTP/1.1 200")

    # Between Envoys: front's policy without its certificate is refused by the back node. With
    # TLS 1.3 the client's side of the handshake completes; the server's verdict is a reset.
    policies = baseline.baseline_policies()
    policies[MTLS] = {"tls": {"validation": policies[MTLS]["tls"]["validation"]}}
    baseline.put_front(policies)
    baseline.converge()
    refused(baseline, MTLS, "listener.0.0.0.0_15000.ssl.fail_verify_no_cert", envoy="back")


def test_client_policy_subject_alternative_names(baseline: TlsMesh) -> None:
    trust = {"trust": {"file": {"certificateChain": str(baseline.pki.ca.pem_path)}}}
    policies = baseline.baseline_policies()

    def with_sans(sans: list[str] | None) -> None:
        validation = dict(trust, **({"subjectAlternativeNames": {"match": {"exact": sans}}} if sans else {}))
        policies[STRICT] = {"tls": {"validation": validation}}
        baseline.put_front(policies)
        baseline.converge()

    with_sans(["wrong.tls.local"])
    refused(baseline, STRICT, "ssl.fail_verify_san")
    with_sans([BACK_HOST])
    assert_reached(baseline.call_until(STRICT, 200), STRICT)
    with_sans(["other.tls.local", BACK_HOST])
    assert_reached(baseline.call_until(STRICT, 200), STRICT)
    with_sans(None)  # no SANs: the server must carry its service-discovery name, and does
    assert_reached(baseline.call_until(STRICT, 200), STRICT)

    # Trust that did not sign the server's certificate fails the same way.
    policies[STRICT] = {
        "tls": {"validation": {"trust": {"file": {"certificateChain": str(baseline.pki.rogue.pem_path)}}}}
    }
    baseline.put_front(policies)
    baseline.converge()
    refused(baseline, STRICT, "ssl.fail_verify_error")

    # An enforced policy towards a server that does not terminate TLS cannot work either.
    policies[DISABLED] = {"tls": {"validation": trust}}
    baseline.put_front(policies)
    baseline.converge()
    refused(baseline, DISABLED, "ssl.connection_error")


def test_acm_certificate_trusted_through_its_chain_without_a_client_policy(baseline: TlsMesh) -> None:
    """No policy: clients validate an ACM server certificate against the CA it chains to."""
    policies = baseline.baseline_policies()
    policies[ACM] = None
    baseline.put_front(policies)
    baseline.converge()
    before = handshakes(baseline, ACM)
    assert_reached(baseline.call_until(ACM, 200), ACM)
    assert f"trust:{baseline.cert_arn}" in str(baseline.envoys["front"].config_dump())
    # The ACM PCA root verifies the certificate the back Envoy serves, name included.
    bundle = baseline.workdir / "pca.pem"
    from appmesh_local.neighbours import ca_bundle

    bundle.write_text(ca_bundle("123456789012", "us-east-1", [baseline.pca_arn]) or "")
    assert over_tls(baseline, ACM, str(bundle)).startswith("HTTP/1.1 200")
    assert over_tls(baseline, ACM, str(baseline.pki.ca.pem_path)).startswith("error")
    assert handshakes(baseline, ACM) >= before


def served_certificate(mesh: TlsMesh, port: int, ca: str) -> bytes | None:
    """DER of the certificate the back node presents on `port` (verified against `ca`), or None."""
    context = ssl.create_default_context(cafile=ca)
    try:
        with socket.create_connection((mesh.tasks["back"].address, port), timeout=5) as raw:
            with context.wrap_socket(raw, server_hostname=BACK_HOST) as sock:
                return sock.getpeercert(binary_form=True)
    except (OSError, ssl.SSLError):
        return None


def test_acm_reimport_reaches_the_envoy_without_a_mesh_change(baseline: TlsMesh, tmp_path) -> None:
    """ACM material is read at every build and a change in ACM triggers one: a re-imported
    certificate (what a renewal looks like to App Mesh) is what the listener serves next."""
    pki, acm, appmesh = baseline.pki, baseline.aws("acm"), baseline.aws("appmesh")
    tmp_path.chmod(0o755)
    first, second = (pki.ca.issue(tmp_path, f"acm-{n}", dns_names=(BACK_HOST,)) for n in (1, 2))
    arn = acm.import_certificate(
        Certificate=leaf_pem(first), PrivateKey=first.key.read_bytes(), CertificateChain=pki.ca.pem_path.read_bytes()
    )["CertificateArn"]
    listeners = baseline.back_listeners()
    listeners[PORTS.index(ACM)]["tls"]["certificate"] = {"acm": {"certificateArn": arn}}
    policies = baseline.baseline_policies()
    policies[ACM] = {"tls": {"validation": {"trust": {"file": {"certificateChain": str(pki.ca.pem_path)}}}}}
    try:
        appmesh.update_virtual_node(
            meshName="tls",
            virtualNodeName="back",
            spec={"listeners": listeners, "serviceDiscovery": {"dns": {"hostname": BACK_HOST}}},
        )
        baseline.put_front(policies)
        baseline.converge()
        ca = str(pki.ca.pem_path)
        assert wait_for(lambda: served_certificate(baseline, ACM, ca) == der(first)), "first import not served"
        assert_reached(baseline.call_until(ACM, 200), ACM)
        version = appmesh.describe_virtual_node(meshName="tls", virtualNodeName="back")["virtualNode"]["metadata"][
            "version"
        ]

        acm.import_certificate(
            CertificateArn=arn,
            Certificate=leaf_pem(second),
            PrivateKey=second.key.read_bytes(),
            CertificateChain=pki.ca.pem_path.read_bytes(),
        )
        assert wait_for(lambda: served_certificate(baseline, ACM, ca) == der(second)), "re-import not served"
        assert_reached(baseline.call(ACM), ACM)
        assert (
            appmesh.describe_virtual_node(meshName="tls", virtualNodeName="back")["virtualNode"]["metadata"]["version"]
            == version
        )
    finally:
        appmesh.update_virtual_node(
            meshName="tls",
            virtualNodeName="back",
            spec={"listeners": baseline.back_listeners(), "serviceDiscovery": {"dns": {"hostname": BACK_HOST}}},
        )
        baseline.put_front(baseline.baseline_policies())
        baseline.converge()


def leaf_pem(pair: Pair) -> bytes:
    text = pair.chain.read_text()
    end = "-----END CERTIFICATE-----"
    return (text[: text.index(end) + len(end)] + "\n").encode()


def der(pair: Pair) -> bytes:
    return ssl.PEM_cert_to_DER_cert(leaf_pem(pair).decode())


def wait_for(check: Any, timeout: float = 15.0) -> bool:
    """Poll `check()` (bounded) until it holds."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


def test_sds_rotation_reaches_the_envoy(baseline: TlsMesh, tmp_path) -> None:
    """The SDS server pushes rewritten files; the back Envoy serves the new certificate, and
    traffic between the Envoys keeps flowing."""
    pki = baseline.pki
    renewed = pki.sds_ca.issue(tmp_path, "back-sds", dns_names=(BACK_HOST,), uris=("spiffe://tls.local/back",))
    original = (pki.back_sds.chain.read_bytes(), pki.back_sds.key.read_bytes())

    def served() -> bytes | None:
        context = ssl.create_default_context(cafile=str(pki.sds_ca.pem_path))
        context.load_cert_chain(pki.front_sds.chain, pki.front_sds.key)
        try:
            with socket.create_connection((baseline.tasks["back"].address, SDS), timeout=5) as raw:
                with context.wrap_socket(raw, server_hostname=BACK_HOST) as sock:
                    return sock.getpeercert(binary_form=True)
        except (OSError, ssl.SSLError):
            return None

    assert served() == der(pki.back_sds)
    try:
        pki.back_sds.key.write_bytes(renewed.key.read_bytes())
        pki.back_sds.chain.write_bytes(renewed.chain.read_bytes())
        assert wait_for(lambda: served() == der(renewed)), "the rotated certificate was not served"
        assert_reached(baseline.call_until(SDS, 200), SDS)
    finally:
        pki.back_sds.key.write_bytes(original[1])
        pki.back_sds.chain.write_bytes(original[0])
        assert wait_for(lambda: served() == der(pki.back_sds))


def test_gateway_terminates_with_acm_and_originates_by_policy_or_by_server(baseline: TlsMesh) -> None:
    """A virtual gateway: listener TLS with an ACM certificate (verified by a client trusting the
    ACM PCA root); its backendDefaults policy (file trust) covers port STRICT only, so towards
    the ACM-certified listener it follows the server and trusts the ACM chain."""
    from appmesh_local.neighbours import ca_bundle

    bundle = baseline.workdir / "gw-pca.pem"
    bundle.write_text(ca_bundle("123456789012", "us-east-1", [baseline.pca_arn]) or "")
    context = ssl.create_default_context(cafile=str(bundle))
    address = baseline.tasks["gw"].address

    def get(path: str) -> tuple[int, dict[str, Any]]:
        with socket.create_connection((address, GATEWAY_PORT), timeout=5) as raw:
            with context.wrap_socket(raw, server_hostname=GATEWAY_HOST) as sock:
                sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {GATEWAY_HOST}\r\nConnection: close\r\n\r\n".encode())
                data = b""
                for _ in range(100):  # bounded: the answer is small
                    chunk = sock.recv(65536)
                    if not chunk:
                        break
                    data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        return status, (json.loads(body) if status == 200 else {"text": body.decode(errors="replace")})

    assert wait_for(lambda: get("/strict/x")[0] == 200), "gateway never answered over TLS"
    assert get("/strict/x") == (200, {"port": STRICT, "path": "/x"})
    assert get("/acm/y") == (200, {"port": ACM, "path": "/y"})
    gateway = baseline.envoys["gw"]
    dump = str(gateway.config_dump())
    assert f"trust:{baseline.cert_arn}" in dump and baseline.gateway_cert_arn in dump  # both over ADS
    for port, verified in ((STRICT, "fail_verify_error"), (ACM, "fail_verify_san")):
        stats = gateway.stats(f"cluster.cds_egress_tls_back_http_{port}.ssl.")
        assert stats.get(f"cluster.cds_egress_tls_back_http_{port}.ssl.handshake", 0) >= 1, stats
        assert stats.get(f"cluster.cds_egress_tls_back_http_{port}.ssl.{verified}", 0) == 0, stats
    with socket.create_connection((address, GATEWAY_PORT), timeout=5) as sock:
        sock.sendall(REQUEST)
        try:
            answer = sock.recv(4096)
        except OSError:
            answer = b""
    assert not answer.startswith(b"HTTP/1.1 200"), "the STRICT gateway listener answered plaintext"
