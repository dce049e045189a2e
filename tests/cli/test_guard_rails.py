"""The CLI mistakes of issue 9, each answered with one actionable line.

- `bootstrap`/`envoy` for a mesh or proxy that does not exist (other region, other account, a
  typo, the other proxy kind) or with no server running: a warning naming what exists nearby,
  an error and exit status 1 with `--strict`;
- `status` says the same for an Envoy that connected with such a node id;
- `translate` / `export --file` refuse what the API refuses, with the API's message;
- `export` checks what it writes with `envoy --mode validate`.
"""

from __future__ import annotations

import json
import random
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from appmesh_local.proxy.bootstrap import render_bootstrap
from appmesh_local.proxy.commands import status_command
from appmesh_local.proxy.process import EnvoyProcess, envoy_binary
from tests.support.processes import Seen, survivors

pytestmark = pytest.mark.timeout(120)
OTHER_ACCOUNT = "111122223333"


def cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "appmesh_local", *args], capture_output=True, text=True, timeout=timeout
    )


def one_line(result: subprocess.CompletedProcess, prefix: str) -> str:
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(prefix), lines[0]
    return lines[0]


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def places(appmesh_server):
    """A mesh per place: `here` (default account/region) with a node and a gateway, `west` only in
    us-west-2 (with node `api`), `theirs` only in another account."""
    tag = f"{random.randrange(10**6):06d}"
    names = {"here": f"shop-{tag}", "west": f"west-{tag}", "theirs": f"theirs-{tag}"}
    here = appmesh_server.client()
    here.create_mesh(meshName=names["here"])
    here.create_virtual_node(meshName=names["here"], virtualNodeName="orders", spec={})
    here.create_virtual_gateway(
        meshName=names["here"],
        virtualGatewayName="edge",
        spec={"listeners": [{"portMapping": {"port": 8088, "protocol": "http"}}]},
    )
    west = appmesh_server.client(region="us-west-2")
    west.create_mesh(meshName=names["west"])
    west.create_virtual_node(meshName=names["west"], virtualNodeName="api", spec={})
    appmesh_server.client(access_key=OTHER_ACCOUNT).create_mesh(meshName=names["theirs"])
    return names


def bootstrap(server, *args: str) -> subprocess.CompletedProcess:
    return cli("bootstrap", "--endpoint", server.endpoint, "--xds-port", str(server.xds_port), *args)


def test_a_known_proxy_passes_silently(appmesh_server, places):
    result = bootstrap(appmesh_server, "--mesh", places["here"], "--virtual-node", "orders", "--strict")
    assert result.returncode == 0 and result.stderr == ""
    assert "node:" in result.stdout


def test_mesh_in_another_region(appmesh_server, places):
    result = bootstrap(appmesh_server, "--mesh", places["west"], "--virtual-node", "api")
    line = one_line(result, "appmesh-local bootstrap: warning: ")
    assert f"no mesh '{places['west']}' in account 123456789012, region us-east-1" in line
    assert "exists in region us-west-2 (use --region us-west-2)" in line
    assert result.returncode == 0 and "node:" in result.stdout  # a warning: the bootstrap is still written


def test_mesh_in_another_account(appmesh_server, places):
    result = bootstrap(appmesh_server, "--mesh", places["theirs"], "--virtual-gateway", "gw")
    line = one_line(result, "appmesh-local bootstrap: warning: ")
    assert f"exists in account {OTHER_ACCOUNT} (use --account {OTHER_ACCOUNT})" in line


def test_misspelt_mesh_and_proxy_names(appmesh_server, places):
    line = one_line(
        bootstrap(appmesh_server, "--mesh", places["here"][:-1], "--virtual-node", "orders"),
        "appmesh-local bootstrap: warning: ",
    )
    assert f"similar meshes there: {places['here']}" in line
    line = one_line(
        bootstrap(appmesh_server, "--mesh", places["here"], "--virtual-node", "order"),
        "appmesh-local bootstrap: warning: ",
    )
    assert f"mesh '{places['here']}' (account 123456789012, region us-east-1) has no virtual node 'order'" in line
    assert "similar virtual nodes: orders" in line


def test_gateway_asked_for_as_a_node(appmesh_server, places):
    line = one_line(
        bootstrap(appmesh_server, "--mesh", places["here"], "--virtual-node", "edge"),
        "appmesh-local bootstrap: warning: ",
    )
    assert "it has a virtual gateway named 'edge' (use --virtual-gateway edge)" in line


def test_strict_makes_it_an_error_and_writes_nothing(appmesh_server, places, tmp_path):
    out = tmp_path / "b.yaml"
    result = bootstrap(
        appmesh_server, "--mesh", places["west"], "--virtual-node", "api", "--strict", "--output", str(out)
    )
    one_line(result, "appmesh-local bootstrap: error: ")
    assert result.returncode == 1 and result.stdout == "" and not out.exists()


def test_no_server(tmp_path):
    endpoint = f"http://127.0.0.1:{closed_port()}"
    result = cli("bootstrap", "--mesh", "m", "--virtual-node", "a", "--endpoint", endpoint)
    line = one_line(result, "appmesh-local bootstrap: warning: ")
    assert f"no appmesh-local server answers at {endpoint}" in line and "appmesh-local serve" in line
    assert result.returncode == 0
    strict = cli("bootstrap", "--mesh", "m", "--virtual-node", "a", "--endpoint", endpoint, "--strict")
    assert strict.returncode == 1 and strict.stdout == ""
    one_line(strict, "appmesh-local bootstrap: error: no appmesh-local server answers")


def test_wrong_xds_port(appmesh_server, places):
    result = cli(
        "bootstrap",
        "--mesh",
        places["here"],
        "--virtual-node",
        "orders",
        "--endpoint",
        appmesh_server.endpoint,
        "--xds-port",
        "1",
    )
    line = one_line(result, "appmesh-local bootstrap: warning: ")
    assert f"serves xDS on port {appmesh_server.xds_port}, not 1: use --xds-port {appmesh_server.xds_port}" in line


def test_envoy_strict_refuses_to_start_and_starts_nothing(appmesh_server, places, tmp_path):
    result = cli(
        "envoy",
        "--mesh",
        places["west"],
        "--virtual-node",
        "api",
        "--endpoint",
        appmesh_server.endpoint,
        "--xds-port",
        str(appmesh_server.xds_port),
        "--admin-port",
        "0",
        "--strict",
    )
    line = one_line(result, "appmesh-local envoy: error: ")
    assert "(use --region us-west-2)" in line and result.returncode == 1


def test_envoy_warns_then_runs(appmesh_server, places):
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "appmesh_local",
            "envoy",
            "--mesh",
            places["west"],
            "--virtual-node",
            "api",
            "--endpoint",
            appmesh_server.endpoint,
            "--xds-port",
            str(appmesh_server.xds_port),
            "--admin-port",
            "0",
            "--envoy-log-level",
            "error",
        ],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        warning = proc.stderr.readline()
        assert warning.startswith("appmesh-local envoy: warning: no mesh") and "--region us-west-2" in warning
        started = proc.stderr.readline()
        assert started.startswith("appmesh-local: envoy (pid ")
        envoy = Seen.of(int(started.split("pid ")[1].split(")")[0]))
        proc.terminate()
        assert proc.wait(30) == 0
        assert survivors([envoy]) == []
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def test_status_explains_an_unknown_node(appmesh_server, places):
    """An Envoy bootstrapped for us-east-1 while its mesh lives in us-west-2."""
    node = render_bootstrap(
        places["west"], "virtualNode", "api", "127.0.0.1", appmesh_server.xds_port, admin_port=0, region="us-east-1"
    )
    envoy = EnvoyProcess(node, log_level="error").start(wait_live=False)  # never LIVE: it gets no config
    try:
        deadline = time.monotonic() + 20
        while True:
            unknown = [u for u in appmesh_server.status()["unknown_nodes"] if u.get("mesh") == places["west"]]
            if unknown or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert unknown, appmesh_server.status()
        reason = unknown[0]["reason"]
        assert reason.startswith(f"no mesh '{places['west']}' in account 123456789012, region us-east-1")
        assert "exists in region us-west-2 (bootstrap with --region us-west-2)" in reason
        text = status_command(appmesh_server.endpoint)
        assert f"mesh/{places['west']}/virtualNode/api" in text and "bootstrap with --region us-west-2" in text
    finally:
        envoy.stop()


# ---- translate / export --file: the API's validation ---------------------------------------
MESH_FILE = """
mesh: {meshName: shop, spec: {}}
virtualNodes:
  - virtualNodeName: a
    spec:
      listeners: [{portMapping: {port: 9000, protocol: PROTOCOL}}]
      serviceDiscovery: {dns: {hostname: a.shop.local}}
  - virtualNodeName: b
    spec:
      listeners: [{portMapping: {port: 9000, protocol: tcp}}]
      serviceDiscovery: {dns: {hostname: b.shop.local}}
  - virtualNodeName: client
    spec:
      backends: [{virtualService: {virtualServiceName: db.shop.local}}]
virtualRouters:
  - virtualRouterName: r
    spec: {listeners: [{portMapping: {port: 9000, protocol: tcp}}]}
routes:
  - virtualRouterName: r
    routeName: t
    spec: {tcpRoute: {action: {weightedTargets: [{virtualNode: a, weight: WEIGHT_A}, {virtualNode: b, weight: WEIGHT_B}]}}}
virtualServices:
  - virtualServiceName: db.shop.local
    spec: {provider: {virtualRouter: {virtualRouterName: r}}}
"""
HTTTP = (
    "virtual node 'a': BadRequestException: 1 validation error detected: Value 'htttp' at "
    "'spec.listeners.1.member.portMapping.protocol' failed to satisfy constraint: "
    "Member must satisfy enum value set: [http, tcp, http2, grpc]"
)


def mesh_file(tmp_path: Path, protocol: str = "tcp", weight_a: int = 50, weight_b: int = 50) -> Path:
    path = tmp_path / "mesh.yaml"
    text = MESH_FILE.replace("PROTOCOL", protocol).replace("WEIGHT_A", str(weight_a))
    path.write_text(text.replace("WEIGHT_B", str(weight_b)))
    return path


def test_translate_refuses_what_the_api_refuses_with_its_message(appmesh_server, tmp_path):
    path = mesh_file(tmp_path, protocol="htttp")
    result = cli("translate", str(path), "--envoy")
    line = one_line(result, "appmesh-local translate: error: ")
    assert line == f"appmesh-local translate: error: {path}: {HTTTP}"
    assert result.returncode == 1 and result.stdout == ""
    # The API's own answer to the same node, word for word.
    client = appmesh_server.client()
    mesh = f"htttp-{random.randrange(10**6)}"
    client.create_mesh(meshName=mesh)
    with pytest.raises(client.exceptions.BadRequestException) as refused:
        client.create_virtual_node(
            meshName=mesh,
            virtualNodeName="a",
            spec={
                "listeners": [{"portMapping": {"port": 9000, "protocol": "htttp"}}],
                "serviceDiscovery": {"dns": {"hostname": "a.shop.local"}},
            },
        )
    assert HTTTP.endswith(refused.value.response["Error"]["Message"])


def test_translate_applies_the_documented_spec_rules_too(tmp_path):
    path = mesh_file(tmp_path, weight_a=100, weight_b=100)
    line = one_line(cli("translate", str(path)), "appmesh-local translate: error: ")
    assert "route 't' (under r): BadRequestException: The weights of 'spec.tcpRoute.action.weightedTargets'" in line


def test_export_file_refuses_it_too(tmp_path):
    result = cli(
        "export",
        "--file",
        str(mesh_file(tmp_path, protocol="htttp")),
        "--mesh",
        "shop",
        "--all",
        "--out",
        str(tmp_path / "out"),
    )
    one_line(result, "appmesh-local export: error: ")
    assert HTTTP in result.stderr and result.returncode == 1 and not (tmp_path / "out").exists()


def test_export_checks_its_files_with_envoy(tmp_path):
    """A TCP route with a weight-0 target: the API accepts it; Envoy (1.40) requires weights ≥ 1.

    The export's verdict must be Envoy's own, asked here directly. Should the translation one day
    avoid the weight 0, Envoy accepts the file and so must the export.
    """
    out = tmp_path / "out"
    path = mesh_file(tmp_path, weight_a=0, weight_b=100)
    result = cli("export", "--file", str(path), "--mesh", "shop", "--all", "--out", str(out))
    client_file = out / "virtual-node-client.yaml"
    envoy = subprocess.run(
        [str(envoy_binary()), "--mode", "validate", "-c", str(client_file), "--log-level", "error"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert sorted(result.stdout.split()) == sorted(str(p) for p in out.iterdir())  # all written, all listed
    if envoy.returncode == 0:
        assert result.returncode == 0 and result.stderr == ""
        return
    line = one_line(result, f"appmesh-local export: error: Envoy rejects {client_file} (kept for inspection): ")
    assert "ClusterWeightValidationError.Weight: value must be greater than or equal to 1" in line
    assert result.returncode == 1


def test_export_reports_a_bootstrap_envoy_refuses(tmp_path):
    out = tmp_path / "out"
    result = cli(
        "export",
        "--file",
        str(mesh_file(tmp_path)),
        "--mesh",
        "shop",
        "--virtual-node",
        "b",
        "--admin-address",
        "not-an-address",
        "--out",
        str(out),
    )
    line = one_line(result, "appmesh-local export: error: ")
    assert line.startswith(f"appmesh-local export: error: Envoy rejects {out / 'virtual-node-b.yaml'} (kept")
    assert "not-an-address" in line and result.returncode == 1
    accepted = cli(
        "export", "--file", str(mesh_file(tmp_path)), "--mesh", "shop", "--virtual-node", "b", "--out", str(out)
    )
    assert accepted.returncode == 0 and accepted.stderr == "", accepted.stderr


def test_json_round_trip_of_the_lookup(appmesh_server, places):
    """The endpoint behind the checks, as other tools may call it."""
    import urllib.request

    url = f"{appmesh_server.endpoint}/_appmesh-local/proxy?mesh={places['here']}&kind=virtualNode&name=orders"
    with urllib.request.urlopen(url, timeout=5) as response:
        data = json.loads(response.read())
    assert data["exists"] is True and data["reason"] is None and data["xds"]["port"] == appmesh_server.xds_port
    bad = f"{appmesh_server.endpoint}/_appmesh-local/proxy?mesh=x&kind=route&name=y"
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(bad, timeout=5)
    assert refused.value.code == 400
