"""A missing ACM certificate fails closed without stalling the proxy, and works once it exists.

Real Envoy, loopback only, no namespaces. Before issue 12, Envoy held its whole start (every
listener, and the LIVE state) for its 15 s initial fetch timeout waiting for a secret the
control plane never sent; now the reference says "pending" (`envoy.tls`): the proxy starts
at once, the TLS listener refuses TLS and plaintext, and when the certificate is issued the
same Envoy gets the secret and serves TLS.
"""

from __future__ import annotations

import socket
import ssl
import time
from pathlib import Path

import pytest
from envoy.extensions.transport_sockets.tls.v3 import tls_pb2

from appmesh_local.bridge.build import MeshConfigBuilder
from appmesh_local.bridge.runtime import XdsRuntime
from appmesh_local.envoy.tls import PENDING_SECRET_FETCH_TIMEOUT_MS
from appmesh_local.ir.names import egress_listener, ingress_listener
from appmesh_local.proxy.bootstrap import render_bootstrap
from appmesh_local.proxy.process import EnvoyProcess
from appmesh_local.testing import envoy_available
from appmesh_local.translate import TranslateOptions
from appmesh_local.translate.loader import snapshot_from_document
from appmesh_local.xds.node_id import ProxyRef
from appmesh_local.xds.proxy_config import LISTENER, SECRET
from tests.tls.certs import authority

pytestmark = [pytest.mark.timeout(90), pytest.mark.skipif(envoy_available() is not None, reason="no Envoy")]
MISSING = "arn:aws:acm:us-east-1:123456789012:certificate/not-issued-yet"
GATEWAY = ProxyRef("123456789012", "us-east-1", "m", "virtualGateway", "gw")


class Acm:
    """An ACM whose certificate appears when the test issues it."""

    def __init__(self) -> None:
        self.issued: dict[str, tuple[str, str]] = {}

    def certificate(self, account, region, arn):
        return self.issued.get(arn)

    def ca_bundle(self, account, region, arns):
        return None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def gateway_document(secure: int, plain: int) -> dict:
    return {
        "mesh": {"meshName": "m", "spec": {}},
        "virtualGateways": [
            {
                "virtualGatewayName": "gw",
                "spec": {
                    "listeners": [
                        {
                            "portMapping": {"port": secure, "protocol": "http"},
                            "tls": {"mode": "STRICT", "certificate": {"acm": {"certificateArn": MISSING}}},
                        },
                        {"portMapping": {"port": plain, "protocol": "http"}},
                    ]
                },
            }
        ],
    }


def resources_of(builder: MeshConfigBuilder, document: dict):
    config = builder.build(snapshot_from_document(document))
    proxy = config.proxies[("virtualGateway", "gw")]
    resources = {t: dict(v) for t, v in proxy.resources.items()}
    del resources[LISTENER][egress_listener()]  # 127.0.0.1:15001 may be another test's: not needed here
    return config, resources


def certificate_fetch_timeout(resources: dict, port: int) -> int | None:
    chain = resources[LISTENER][ingress_listener(port)].filter_chains[0]
    context = tls_pb2.DownstreamTlsContext()
    chain.transport_socket.typed_config.Unpack(context)
    [sds] = context.common_tls_context.tls_certificate_sds_secret_configs
    source = sds.sds_config
    return source.initial_fetch_timeout.ToMilliseconds() if source.HasField("initial_fetch_timeout") else None


def http_answer(port: int) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        try:
            return sock.recv(64)
        except OSError:
            return b""


def tls_handshake(port: int, ca: Path) -> str | None:
    """None when a TLS handshake (trusting `ca`) succeeds, else why it failed."""
    context = ssl.create_default_context(cafile=str(ca))
    context.check_hostname = False
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
            with context.wrap_socket(raw) as tls:
                tls.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                tls.recv(64)
        return None
    except (ssl.SSLError, OSError) as exc:
        return repr(exc)


def test_a_pending_certificate_neither_stalls_the_proxy_nor_serves_until_issued(tmp_path: Path) -> None:
    secure, plain = free_port(), free_port()
    acm = Acm()
    builder = MeshConfigBuilder(TranslateOptions(bind_address="127.0.0.1"), secrets=acm)
    config, resources = resources_of(builder, gateway_document(secure, plain))
    assert any(MISSING in p and "not an issued private certificate" in p for p in config.problems)
    assert SECRET not in resources
    assert certificate_fetch_timeout(resources, secure) == PENDING_SECRET_FETCH_TIMEOUT_MS

    with XdsRuntime(port=0) as runtime:
        assert runtime.cache.set_proxy(GATEWAY, resources).problems == []
        bootstrap = render_bootstrap(
            "m", "virtualGateway", "gw", "127.0.0.1", runtime.port, admin_port=0,
            account="123456789012", region="us-east-1",
        )  # fmt: skip
        started = time.monotonic()
        with EnvoyProcess(bootstrap, log_level="warning") as envoy:
            while not http_answer(plain).startswith(b"HTTP/1.1 404") and time.monotonic() - started < 20:
                time.sleep(0.02)
            ready_after = time.monotonic() - started
            assert ready_after < 5, f"the plain listener served only after {ready_after:.1f} s"  # was 15 s
            assert envoy.state() == "LIVE"

            ca = authority(tmp_path, "issuer")
            assert tls_handshake(secure, ca.pem_path) is not None  # no certificate: no handshake
            assert not http_answer(secure).startswith(b"HTTP/")  # and no plaintext either

            pair = ca.issue(tmp_path, "gw", dns_names=("gw.local",))
            acm.issued[MISSING] = (pair.chain.read_text(), pair.key.read_text())
            config, resources = resources_of(builder, gateway_document(secure, plain))
            assert not any(MISSING in p for p in config.problems)
            assert certificate_fetch_timeout(resources, secure) is None  # awaited again, as any secret
            assert runtime.cache.set_proxy(GATEWAY, resources).problems == []
            deadline = time.monotonic() + 5
            while (failure := tls_handshake(secure, ca.pem_path)) is not None and time.monotonic() < deadline:
                time.sleep(0.05)
            assert failure is None, f"TLS still failing after the certificate was issued: {failure}"
