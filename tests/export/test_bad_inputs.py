"""Bad inputs to `export` and `translate`: one line on stderr, a non-zero exit, never a traceback."""

from __future__ import annotations

import socket

import pytest

from appmesh_local.testing import serve_in_thread
from tests.export.helpers import run_cli

pytestmark = pytest.mark.timeout(120)

GOOD_FILE = """
mesh: {meshName: shop, spec: {}}
virtualNodes:
  - virtualNodeName: app
    spec:
      listeners: [{portMapping: {port: 8080, protocol: http}}]
      serviceDiscovery: {dns: {hostname: app.shop.local}}
"""


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # closed again when the block ends: nothing listens there


def assert_one_line_error(result, command: str, *fragments: str) -> None:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"appmesh-local {command}: error: "), lines[0]
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


@pytest.fixture
def files(tmp_path):
    paths = {name: tmp_path / name for name in ("good.yaml", "broken.yaml", "list.yaml", "shape.yaml", "empty.yaml")}
    paths["good.yaml"].write_text(GOOD_FILE)
    paths["broken.yaml"].write_text("mesh: {meshName: shop\n  spec: [\n")
    paths["list.yaml"].write_text("- 1\n- 2\n")
    paths["shape.yaml"].write_text("mesh: {meshName: shop}\nvirtualNodes: {app: {}}\n")
    paths["empty.yaml"].write_text("")
    return paths


def test_export_unknown_mesh(appmesh_server, tmp_path):
    result = run_cli(
        "export", "--endpoint", appmesh_server.endpoint, "--mesh", "no-such-mesh", "--all", "--out", str(tmp_path)
    )
    assert_one_line_error(result, "export", "mesh 'no-such-mesh' not found at", appmesh_server.endpoint)


def test_export_unknown_virtual_node_lists_what_exists(appmesh_server, appmesh_mesh, appmesh_client, tmp_path):
    appmesh_client.create_virtual_node(meshName=appmesh_mesh, virtualNodeName="real", spec={})
    result = run_cli(
        "export",
        "--endpoint",
        appmesh_server.endpoint,
        "--mesh",
        appmesh_mesh,
        "--virtual-node",
        "ghost",
        "--out",
        str(tmp_path),
    )
    assert_one_line_error(result, "export", "virtual node 'ghost' not found", "(it has: real)")
    result = run_cli(
        "export",
        "--endpoint",
        appmesh_server.endpoint,
        "--mesh",
        appmesh_mesh,
        "--virtual-gateway",
        "ghost",
        "--out",
        str(tmp_path),
    )
    assert_one_line_error(result, "export", "virtual gateway 'ghost' not found", "(it has: none)")


def test_export_unreachable_endpoint(tmp_path):
    endpoint = f"http://127.0.0.1:{closed_port()}"
    result = run_cli("export", "--endpoint", endpoint, "--mesh", "shop", "--all", "--out", str(tmp_path))
    assert_one_line_error(result, "export", "cannot read mesh 'shop' from", endpoint)


def test_export_malformed_endpoint(tmp_path):
    result = run_cli("export", "--endpoint", "not a url", "--mesh", "shop", "--all", "--out", str(tmp_path))
    assert_one_line_error(result, "export", "not a url")


@pytest.mark.parametrize(
    "name, fragment",
    [
        ("missing.yaml", "cannot read"),
        ("broken.yaml", "not valid YAML"),
        ("list.yaml", "expected a mapping at the top level"),
        ("shape.yaml", "virtualNodes: expected a list"),
        ("empty.yaml", "expected a mapping"),
    ],
)
def test_export_bad_files(files, tmp_path, name, fragment):
    result = run_cli(
        "export", "--file", str(tmp_path / name), "--mesh", "shop", "--all", "--out", str(tmp_path / "out")
    )
    assert_one_line_error(result, "export", name, fragment)


def test_export_file_of_another_mesh(files, tmp_path):
    result = run_cli(
        "export", "--file", str(files["good.yaml"]), "--mesh", "other", "--all", "--out", str(tmp_path / "o")
    )
    assert_one_line_error(result, "export", "describes mesh 'shop', not 'other'")


def test_export_state_dir_problems(tmp_path):
    result = run_cli(
        "export", "--state-dir", str(tmp_path / "nothing"), "--mesh", "shop", "--all", "--out", str(tmp_path / "o")
    )
    assert_one_line_error(result, "export", "no appmesh-local state in")
    assert not (tmp_path / "nothing").exists()  # reading never creates state
    garbage = tmp_path / "garbage"
    garbage.mkdir()
    (garbage / "appmesh-local.sqlite3").write_bytes(b"this is not a database" * 100)
    result = run_cli("export", "--state-dir", str(garbage), "--mesh", "shop", "--all", "--out", str(tmp_path / "o"))
    assert_one_line_error(result, "export", "cannot open the state in")


def test_export_state_dir_with_a_damaged_cloud_map_snapshot(tmp_path):
    state = tmp_path / "state"
    with serve_in_thread(xds=False, state_dir=state) as server:
        server.client().create_mesh(meshName="shop")
    (state / "neighbours.pickle").write_bytes(b"damaged")
    result = run_cli("export", "--state-dir", str(state), "--mesh", "shop", "--all", "--out", str(tmp_path / "o"))
    assert_one_line_error(result, "export", f"{state / 'neighbours.pickle'} cannot be loaded")
    assert (state / "neighbours.pickle").read_bytes() == b"damaged"  # reported, never replaced


def test_export_unwritable_output(files, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    result = run_cli("export", "--file", str(files["good.yaml"]), "--mesh", "shop", "--all", "--out", str(blocker))
    assert_one_line_error(result, "export", "cannot write to")


@pytest.mark.parametrize(
    "name, fragment",
    [
        ("missing.yaml", "cannot read"),
        ("broken.yaml", "not valid YAML"),
        ("list.yaml", "expected a mapping at the top level"),
        ("shape.yaml", "virtualNodes: expected a list"),
    ],
)
def test_translate_bad_files(files, tmp_path, name, fragment):
    for output in ("--ir", "--envoy"):
        assert_one_line_error(run_cli("translate", str(tmp_path / name), output), "translate", name, fragment)


def test_translate_unknown_proxy(files):
    result = run_cli("translate", str(files["good.yaml"]), "--envoy", "--virtual-node", "ghost")
    assert_one_line_error(result, "translate", "virtual node 'ghost' not found in mesh 'shop' (it has: app)")
    result = run_cli("translate", str(files["good.yaml"]), "--virtual-gateway", "ghost")
    assert_one_line_error(result, "translate", "virtual gateway 'ghost' not found")


ACM_FILE = """
mesh: {meshName: sec, spec: {}}
virtualNodes:
  - virtualNodeName: secure
    spec:
      listeners:
        - portMapping: {port: 8443, protocol: http}
          tls: {mode: STRICT, certificate: {acm: {certificateArn: "arn:aws:acm:us-east-1:123456789012:certificate/x"}}}
      serviceDiscovery: {dns: {hostname: secure.local}}
  - virtualNodeName: plain
    spec: {}
"""


def test_export_of_a_proxy_without_its_secrets_fails_alone(tmp_path):
    mesh = tmp_path / "acm.yaml"
    mesh.write_text(ACM_FILE)
    result = run_cli("export", "--file", str(mesh), "--mesh", "sec", "--all", "--out", str(tmp_path / "out"))
    assert_one_line_error(result, "export", "virtual node secure:", "certificate/x", "not written")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["virtual-node-plain.yaml"]
    assert result.stdout.strip().endswith("virtual-node-plain.yaml")
