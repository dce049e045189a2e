"""A missing ACM certificate fails closed in real Envoy: no secret, no handshake, no plaintext,
while the proxy's other listeners keep working (loopback only, no namespaces needed).

Envoy waits its 15 s initial fetch timeout for the secret before the listener goes active
(and the Envoy LIVE), so this test takes that long.
"""

from __future__ import annotations

import socket
import ssl

import pytest

from appmesh_local.bridge.build import MeshConfigBuilder
from appmesh_local.bridge.runtime import XdsRuntime
from appmesh_local.ir.names import egress_listener
from appmesh_local.proxy.bootstrap import render_bootstrap
from appmesh_local.proxy.process import EnvoyProcess
from appmesh_local.testing import envoy_available
from appmesh_local.translate import TranslateOptions
from appmesh_local.translate.loader import snapshot_from_document
from appmesh_local.xds.node_id import ProxyRef
from appmesh_local.xds.proxy_config import LISTENER, SECRET

pytestmark = [pytest.mark.timeout(90), pytest.mark.skipif(envoy_available() is not None, reason="no Envoy")]
MISSING = "arn:aws:acm:us-east-1:123456789012:certificate/never-issued"


class NoAcm:
    def certificate(self, account, region, arn):
        return None

    def ca_bundle(self, account, region, arns):
        return None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_listener_with_a_missing_acm_certificate_refuses_tls_and_plaintext():
    secure, plain = free_port(), free_port()
    document = {
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
    config = MeshConfigBuilder(TranslateOptions(bind_address="127.0.0.1"), secrets=NoAcm()).build(
        snapshot_from_document(document)
    )
    assert any(MISSING in p and "not an issued private certificate" in p for p in config.problems)
    proxy = config.proxies[("virtualGateway", "gw")]
    assert SECRET not in proxy.resources
    resources = {t: dict(v) for t, v in proxy.resources.items()}
    del resources[LISTENER][egress_listener()]  # 127.0.0.1:15001 may be another test's: not needed here

    with XdsRuntime(port=0) as runtime:
        runtime.cache.set_proxy(ProxyRef("123456789012", "us-east-1", "m", "virtualGateway", "gw"), resources)
        bootstrap = render_bootstrap(
            "m",
            "virtualGateway",
            "gw",
            "127.0.0.1",
            runtime.port,
            admin_port=0,
            account="123456789012",
            region="us-east-1",
        )
        with EnvoyProcess(bootstrap, log_level="warning") as envoy:
            envoy.wait_for_config(lambda dump: f"127.0.0.1_{plain}" in str(dump) or str(plain) in str(dump))
            with socket.create_connection(("127.0.0.1", plain), timeout=5) as sock:  # the other listener works
                sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                assert sock.recv(64).startswith(b"HTTP/1.1 404")
            context = ssl.create_default_context()
            context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
            with socket.create_connection(("127.0.0.1", secure), timeout=5) as raw:
                with pytest.raises((ssl.SSLError, OSError)):
                    context.wrap_socket(raw).close()
            with socket.create_connection(("127.0.0.1", secure), timeout=5) as sock:
                sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                try:
                    answer = sock.recv(64)
                except OSError:
                    answer = b""
                assert not answer.startswith(b"HTTP/"), answer
