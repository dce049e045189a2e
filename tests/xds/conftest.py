"""Fixtures for the bridge: an in-process ADS server fed by the test, and real Envoys."""

from __future__ import annotations

from typing import Iterator

import pytest

from appmesh_local.bridge.runtime import XdsRuntime
from appmesh_local.proxy.bootstrap import render_bootstrap
from appmesh_local.proxy.process import EnvoyProcess
from appmesh_local.xds.node_id import ProxyRef

ACCOUNT, REGION = "123456789012", "us-east-1"


def proxy(name: str, mesh: str = "m", kind: str = "virtualNode") -> ProxyRef:
    return ProxyRef(ACCOUNT, REGION, mesh, kind, name)


@pytest.fixture
def xds() -> Iterator[XdsRuntime]:
    runtime = XdsRuntime(port=0).start()
    yield runtime
    runtime.stop(grace=0)


class EnvoyFactory:
    """Starts Envoys bootstrapped by render_bootstrap; stops them all at teardown."""

    def __init__(self) -> None:
        self.started: list[EnvoyProcess] = []

    def __call__(
        self,
        xds_port: int,
        name: str,
        *,
        mesh: str = "m",
        kind: str = "virtualNode",
        api_type: str = "GRPC",
        wait_live: bool = True,
        node_id: str | None = None,
        **bootstrap_args,
    ) -> EnvoyProcess:
        bootstrap = render_bootstrap(
            mesh, kind, name, "127.0.0.1", xds_port, admin_port=0, api_type=api_type, node_id=node_id, **bootstrap_args
        )
        envoy = EnvoyProcess(bootstrap, log_level="warning")
        self.started.append(envoy)
        return envoy.start(wait_live=wait_live, timeout=20)

    def stop_all(self) -> None:
        for envoy in self.started:
            envoy.stop()


@pytest.fixture
def envoy_factory() -> Iterator[EnvoyFactory]:
    factory = EnvoyFactory()
    yield factory
    factory.stop_all()
