"""`lint`: one test per finding, and silence on clean, walkthrough-style meshes.

Findings are computed by the server from the stored mesh and the resources it serves; most
tests here build the mesh through the API (so only what AWS accepts can be linted), the few
states the API cannot produce (a deleted target) are built as documents.
"""

from __future__ import annotations

import datetime
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from appmesh_local.bridge.build import build_mesh_config
from appmesh_local.insight.lint import ERROR, Finding, exit_code, lint_mesh
from appmesh_local.testing import InProcessServer, serve_in_thread
from appmesh_local.translate.loader import load_mesh_file, snapshot_from_document
from tests.e2e.colorapp import put_baseline

GOLDEN = Path(__file__).resolve().parent.parent / "translate" / "golden"


@pytest.fixture(scope="module")
def server() -> Iterator[InProcessServer]:
    with serve_in_thread() as running:
        yield running


def lint_api(server: InProcessServer, mesh: str) -> list[Finding]:
    assert server.server.xds.reconciler.flush(10)
    assert server.server.inspector is not None
    return server.server.inspector.lint("123456789012", "us-east-1", mesh)


def codes(findings: list[Finding]) -> set[str]:
    return {item.code for item in findings}


def node(port: int = 8080, backends: tuple[str, ...] = (), **extra: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "listeners": [{"portMapping": {"port": port, "protocol": "http"}}],
        "serviceDiscovery": {"dns": {"hostname": "app.local"}},
        **extra,
    }
    if backends:
        spec["backends"] = [{"virtualService": {"virtualServiceName": name}} for name in backends]
    return spec


def test_clean_walkthrough_meshes_have_no_findings(server: InProcessServer) -> None:
    client = server.client()
    put_baseline(client)  # the colour app: gateway, router split, header override, gRPC, TCP
    assert lint_api(server, "colorapp") == []
    for name in ("allow_all_no_backends", "tls"):
        snapshot = load_mesh_file(GOLDEN / f"{name}.yaml")
        config = build_mesh_config(snapshot)
        resources = {key: proxy.resources for key, proxy in config.proxies.items()}
        assert lint_mesh(snapshot, resources, [], config.problems) == [], name


def test_backend_that_was_never_created(server: InProcessServer) -> None:
    client = server.client()
    client.create_mesh(meshName="l-backend")
    client.create_virtual_node(meshName="l-backend", virtualNodeName="front", spec=node(backends=("nope.local",)))
    [finding] = [item for item in lint_api(server, "l-backend") if item.code == "missing-backend"]
    assert (finding.resource, finding.field) == (
        "virtualNode/front",
        "spec.backends[0].virtualService.virtualServiceName",
    )
    assert finding.severity == ERROR and "nope.local" in finding.message


def test_service_without_provider_and_provider_without_listener(server: InProcessServer) -> None:
    client = server.client()
    client.create_mesh(meshName="l-provider")
    client.create_virtual_service(meshName="l-provider", virtualServiceName="empty.local", spec={})
    client.create_virtual_node(meshName="l-provider", virtualNodeName="mute", spec={})
    client.create_virtual_service(
        meshName="l-provider",
        virtualServiceName="mute.local",
        spec={"provider": {"virtualNode": {"virtualNodeName": "mute"}}},
    )
    found = {(item.code, item.resource) for item in lint_api(server, "l-provider")}
    assert ("no-provider", "virtualService/empty.local") in found
    assert ("provider-without-listener", "virtualService/mute.local") in found


def test_shadowed_route(server: InProcessServer) -> None:
    client = server.client()
    client.create_mesh(meshName="l-shadow")
    client.create_virtual_node(meshName="l-shadow", virtualNodeName="app", spec=node())
    client.create_virtual_node(meshName="l-shadow", virtualNodeName="caller", spec=node(backends=("svc.local",)))
    client.create_virtual_router(
        meshName="l-shadow",
        virtualRouterName="r",
        spec={"listeners": [{"portMapping": {"port": 8080, "protocol": "http"}}]},
    )
    client.create_virtual_service(
        meshName="l-shadow",
        virtualServiceName="svc.local",
        spec={"provider": {"virtualRouter": {"virtualRouterName": "r"}}},
    )
    target = {"weightedTargets": [{"virtualNode": "app", "weight": 1}]}
    for name, priority, prefix in (("all", 1, "/"), ("api", 2, "/api"), ("beta", 3, "/beta")):
        client.create_route(
            meshName="l-shadow",
            virtualRouterName="r",
            routeName=name,
            spec={"priority": priority, "httpRoute": {"match": {"prefix": prefix}, "action": target}},
        )
    shadowed = sorted(item.resource for item in lint_api(server, "l-shadow") if item.code == "shadowed-route")
    assert shadowed == ["route/r/api", "route/r/beta"]
    # Reordered by priority, nothing is shadowed any more.
    client.update_route(
        meshName="l-shadow",
        virtualRouterName="r",
        routeName="all",
        spec={"priority": 9, "httpRoute": {"match": {"prefix": "/"}, "action": target}},
    )
    assert "shadowed-route" not in codes(lint_api(server, "l-shadow"))


def test_listener_port_no_route_matches_and_zero_weights(server: InProcessServer) -> None:
    client = server.client()
    client.create_mesh(meshName="l-ports")
    client.create_virtual_node(meshName="l-ports", virtualNodeName="app", spec=node())
    client.create_virtual_router(
        meshName="l-ports",
        virtualRouterName="r",
        spec={"listeners": [{"portMapping": {"port": 8080, "protocol": "http"}}]},
    )
    client.create_virtual_gateway(
        meshName="l-ports",
        virtualGatewayName="gw",
        spec={"listeners": [{"portMapping": {"port": 9000, "protocol": "http"}}]},
    )
    found = {(item.code, item.resource, item.field) for item in lint_api(server, "l-ports")}
    assert ("unrouted-listener-port", "virtualRouter/r", "spec.listeners[0].portMapping.port") in found
    assert ("unrouted-listener-port", "virtualGateway/gw", "spec.listeners[0].portMapping.port") in found
    client.create_route(
        meshName="l-ports",
        virtualRouterName="r",
        routeName="zero",
        spec={
            "httpRoute": {
                "match": {"prefix": "/"},
                "action": {"weightedTargets": [{"virtualNode": "app", "weight": 0}]},
            }
        },
    )
    found = {(item.code, item.resource) for item in lint_api(server, "l-ports")}
    assert ("all-weights-zero", "route/r/zero") in found
    assert ("unrouted-listener-port", "virtualRouter/r") not in found


def certificate(tmp_path: Path, name: str, san: str) -> Path:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, san)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(san)]), critical=False)
        .sign(key, hashes.SHA256())
    )
    path = tmp_path / f"{name}.pem"
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / f"{name}.key").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return path


def test_tls_validation_that_cannot_match_the_server_and_tls_to_plaintext(
    server: InProcessServer, tmp_path: Path
) -> None:
    client = server.client()
    pem = certificate(tmp_path, "server", "server.tls.local")
    client.create_mesh(meshName="l-tls")
    tls = {
        "mode": "STRICT",
        "certificate": {"file": {"certificateChain": str(pem), "privateKey": str(tmp_path / "server.key")}},
    }
    listener = {"portMapping": {"port": 8443, "protocol": "http"}, "tls": tls}
    client.create_virtual_node(
        meshName="l-tls",
        virtualNodeName="secure",
        spec={"listeners": [listener], "serviceDiscovery": {"dns": {"hostname": "secure.local"}}},
    )
    client.create_virtual_node(meshName="l-tls", virtualNodeName="plain", spec=node())
    for name in ("secure", "plain"):
        client.create_virtual_service(
            meshName="l-tls",
            virtualServiceName=f"{name}.local",
            spec={"provider": {"virtualNode": {"virtualNodeName": name}}},
        )
    policy = {
        "tls": {
            "enforce": True,
            "validation": {
                "trust": {"file": {"certificateChain": str(pem)}},
                "subjectAlternativeNames": {"match": {"exact": ["other.tls.local"]}},
            },
        }
    }
    client.create_virtual_node(
        meshName="l-tls",
        virtualNodeName="caller",
        spec=node(backends=("secure.local", "plain.local"), backendDefaults={"clientPolicy": policy}),
    )
    found = {item.code: item for item in lint_api(server, "l-tls")}
    mismatch = found["tls-san-mismatch"]
    assert mismatch.resource == "virtualNode/caller"
    assert mismatch.field == "spec.backendDefaults.clientPolicy.tls.validation.subjectAlternativeNames.match.exact"
    assert "server.tls.local" in mismatch.message
    assert found["tls-enforced-plaintext"].field == "spec.backendDefaults.clientPolicy.tls.enforce"
    assert "plain" in found["tls-enforced-plaintext"].message
    # The right SAN clears the mismatch.
    policy["tls"]["validation"]["subjectAlternativeNames"]["match"]["exact"] = ["server.tls.local"]
    client.update_virtual_node(
        meshName="l-tls",
        virtualNodeName="caller",
        spec=node(backends=("secure.local",), backendDefaults={"clientPolicy": policy}),
    )
    assert not {"tls-san-mismatch", "tls-enforced-plaintext"} & codes(lint_api(server, "l-tls"))


def test_references_the_api_cannot_produce_any_more() -> None:
    """A target deleted behind the API's back (restored state, applied templates) is still found."""
    document = {
        "mesh": {"meshName": "ghosts", "spec": {}},
        "virtualNodes": [{"virtualNodeName": "app", "spec": node()}],
        "virtualRouters": [
            {"virtualRouterName": "r", "spec": {"listeners": [{"portMapping": {"port": 8080, "protocol": "http"}}]}}
        ],
        "routes": [
            {
                "routeName": "to-ghost",
                "virtualRouterName": "r",
                "spec": {
                    "httpRoute": {
                        "match": {"prefix": "/"},
                        "action": {"weightedTargets": [{"virtualNode": "ghost", "weight": 1}]},
                    }
                },
            }
        ],
        "virtualServices": [
            {"virtualServiceName": "gone.local", "spec": {"provider": {"virtualRouter": {"virtualRouterName": "nope"}}}}
        ],
        "virtualGateways": [
            {"virtualGatewayName": "gw", "spec": {"listeners": [{"portMapping": {"port": 9000, "protocol": "http"}}]}}
        ],
        "gatewayRoutes": [
            {
                "gatewayRouteName": "lost",
                "virtualGatewayName": "gw",
                "spec": {
                    "httpRoute": {
                        "match": {"prefix": "/"},
                        "action": {"target": {"virtualService": {"virtualServiceName": "never.local"}}},
                    }
                },
            }
        ],
    }
    found = {(item.code, item.resource) for item in lint_mesh(snapshot_from_document(document))}
    assert ("missing-route-target", "route/r/to-ghost") in found
    assert ("missing-provider", "virtualService/gone.local") in found
    assert ("missing-gateway-target", "gatewayRoute/gw/lost") in found


def test_nacked_proxy_still_serving_its_old_configuration() -> None:
    snapshot = snapshot_from_document({"mesh": {"meshName": "m", "spec": {}}})
    status = [
        {
            "kind": "virtualNode",
            "name": "blue",
            "types": {
                "lds": {"acked_version": "b-3", "last_nack": {"version": "b-4", "message": "Not supported field"}},
                "cds": {"acked_version": "b-2", "last_nack": None},
            },
        }
    ]
    [finding] = lint_mesh(snapshot, proxy_status=status)
    assert (finding.code, finding.resource, finding.field) == ("nacked-proxy", "virtualNode/blue", "lds")
    assert "b-3" in finding.message and "Not supported field" in finding.message


def test_exit_codes() -> None:
    warning = Finding("x", "warning", "r", "f", "m")
    error = Finding("y", ERROR, "r", "f", "m")
    assert exit_code([]) == 0
    assert exit_code([warning]) == 1 and exit_code([warning], fail_on=ERROR) == 0
    assert exit_code([error], fail_on=ERROR) == 1 and exit_code([error], fail_on="never") == 0


def test_cli_prints_resource_field_and_reason_and_exits_for_ci(server: InProcessServer) -> None:
    client = server.client()
    client.create_mesh(meshName="l-cli")
    client.create_virtual_node(meshName="l-cli", virtualNodeName="front", spec=node(backends=("ghost.local",)))

    def lint_cli(*extra: str) -> subprocess.CompletedProcess:
        args = [sys.executable, "-m", "appmesh_local", "lint", "--mesh", "l-cli", "--endpoint", server.endpoint]
        return subprocess.run([*args, *extra], capture_output=True, text=True, timeout=60)

    done = lint_cli()
    assert done.returncode == 1, done.stderr
    assert "missing-backend" in done.stdout and "virtualNode/front spec.backends[0]" in done.stdout
    client.create_virtual_service(
        meshName="l-cli",
        virtualServiceName="ghost.local",
        spec={"provider": {"virtualNode": {"virtualNodeName": "front"}}},
    )
    done = lint_cli()
    assert done.returncode == 0, done.stdout
    assert "0 finding(s)" in done.stdout
    done = subprocess.run(
        [sys.executable, "-m", "appmesh_local", "lint", "--mesh", "absent", "--endpoint", server.endpoint],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and "mesh absent does not exist" in done.stderr
