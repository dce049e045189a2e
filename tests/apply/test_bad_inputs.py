"""Bad templates and manifests: one line naming the file, the resource and the field; nothing
half-applied by what can be checked first; a failure part-way keeps what was applied and re-runs."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Iterator

import pytest

from appmesh_local.testing import InProcessServer, serve_in_thread
from tests.apply.conftest import Cli, run_cli


@pytest.fixture(scope="module")
def server() -> Iterator[InProcessServer]:
    with serve_in_thread(xds=False) as running:
        yield running


def apply(server: InProcessServer, tmp_path: Path, name: str, text: str, *extra: str) -> Cli:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return run_cli("apply", "-f", str(path), "--endpoint", server.endpoint, *extra)


def error_line(result: Cli) -> str:
    assert result.code == 1, result.out + result.err
    lines = [line for line in result.err.splitlines() if ": error: " in line]
    assert len(lines) == 1, result.err
    return lines[0]


def meshes(server: InProcessServer) -> list[str]:
    return [m["meshName"] for m in server.client(access_key="123456789012").list_meshes()["meshes"]]


def with_mesh(mesh: str, resources: str) -> str:
    """A template: a mesh named `mesh` (lines 2-5), then `resources` (from line 6)."""
    return (
        f"Resources:\n  Mesh:\n    Type: AWS::AppMesh::Mesh\n    Properties:\n      MeshName: {mesh}\n"
        + textwrap.indent(textwrap.dedent(resources), "  ")
    )


def test_unknown_intrinsic_function(server: InProcessServer, tmp_path: Path) -> None:
    line = error_line(
        apply(
            server,
            tmp_path,
            "t.yaml",
            with_mesh(
                "bad-fn",
                """\
          Node:
            Type: AWS::AppMesh::VirtualNode
            Properties:
              MeshName: !GetAtt Mesh.MeshName
              VirtualNodeName: !Upper node
              Spec: {}
        """,
            ),
        )
    )
    assert "t.yaml: Node (line 6): Properties.VirtualNodeName: unknown intrinsic function 'Fn::Upper'" in line


def test_ref_to_a_missing_logical_id_changes_nothing(server: InProcessServer, tmp_path: Path) -> None:
    line = error_line(
        apply(
            server,
            tmp_path,
            "t.yaml",
            with_mesh(
                "bad-ref",
                """\
          Node:
            Type: AWS::AppMesh::VirtualNode
            Properties:
              MeshName: !Ref Mesh
              Spec:
                Backends:
                  - VirtualService:
                      VirtualServiceName: !GetAtt Srvice.VirtualServiceName
        """,
            ),
        )
    )
    assert (
        "Node (line 6): Properties.Spec.Backends[0].VirtualService.VirtualServiceName: Ref/GetAtt/Sub to "
        "'Srvice', which is neither a parameter nor a resource" in line
    )
    assert "bad-ref" not in meshes(server)  # refused before anything was applied


def test_dependson_cycle(server: InProcessServer, tmp_path: Path) -> None:
    line = error_line(
        apply(
            server,
            tmp_path,
            "t.yaml",
            with_mesh(
                "bad-cycle",
                """\
          Router:
            Type: AWS::AppMesh::VirtualRouter
            DependsOn: Route
            Properties:
              MeshName: !GetAtt Mesh.MeshName
              VirtualRouterName: r
              Spec: {Listeners: [{PortMapping: {Port: 80, Protocol: http}}]}
          Route:
            Type: AWS::AppMesh::Route
            Properties:
              MeshName: !GetAtt Mesh.MeshName
              VirtualRouterName: !GetAtt Router.VirtualRouterName
              Spec: {}
        """,
            ),
        )
    )
    assert "Circular dependency between resources: [Route, Router]" in line
    assert "bad-cycle" not in meshes(server)


def test_invalid_spec_gets_the_apis_message(server: InProcessServer, tmp_path: Path) -> None:
    line = error_line(
        apply(
            server,
            tmp_path,
            "t.yaml",
            with_mesh(
                "bad-spec",
                """\
          Node:
            Type: AWS::AppMesh::VirtualNode
            Properties:
              MeshName: !GetAtt Mesh.MeshName
              VirtualNodeName: node
              Spec:
                Listeners:
                  - PortMapping: {Port: 70000, Protocol: http}
                ServiceDiscovery: {DNS: {Hostname: node.local}}
        """,
            ),
        )
    )
    assert (
        "t.yaml: Node (line 6): Properties: BadRequestException: 1 validation error detected: Value '70000' "
        "at 'spec.listeners.1.member.portMapping.port' failed to satisfy constraint" in line
    )


def test_a_property_the_api_does_not_have(server: InProcessServer, tmp_path: Path) -> None:
    line = error_line(
        apply(
            server,
            tmp_path,
            "t.yaml",
            with_mesh(
                "bad-property",
                """\
          Node:
            Type: AWS::AppMesh::VirtualNode
            Properties:
              MeshName: !GetAtt Mesh.MeshName
              Spec:
                Listeners:
                  - PortMapping: {Port: 8080, Protocol: http}
                    HealthChek: {}
        """,
            ),
        )
    )
    assert (
        "Node (line 6): Properties.Spec.Listeners[0].HealthChek: unknown property (the API's Listener has: "
        "connectionPool, healthCheck," in line
    )


def test_a_failure_part_way_keeps_what_was_applied_and_reruns(server: InProcessServer, tmp_path: Path) -> None:
    broken = with_mesh(
        "half",
        """\
          Node:
            Type: AWS::AppMesh::VirtualNode
            Properties:
              MeshName: !GetAtt Mesh.MeshName
              VirtualNodeName: node
              Spec:
                Listeners:
                  - PortMapping: {Port: 8080, Protocol: http}
        """,
    )
    result = apply(server, tmp_path, "half.yaml", broken)
    line = error_line(result)
    assert (
        "Node (line 6): BadRequestException: If you specify a listener, then you must specify service "
        "discovery information (spec.serviceDiscovery)" in line
    )
    assert "create     Mesh" in result.out and "the steps above were applied and are kept" in result.err
    assert "half" in meshes(server)
    fixed = broken.replace("Protocol: http}", "Protocol: http}\n        ServiceDiscovery: {DNS: {Hostname: n.local}}")
    again = apply(server, tmp_path, "half.yaml", fixed)
    assert again.code == 0, again.err
    assert "unchanged  Mesh" in again.out and "create     Node" in again.out
    assert run_cli("delete", "-f", str(tmp_path / "half.yaml"), "--endpoint", server.endpoint).code == 0
    assert "half" not in meshes(server)


def test_manifest_reference_to_a_missing_object(server: InProcessServer, tmp_path: Path) -> None:
    line = error_line(
        apply(
            server,
            tmp_path,
            "m.yaml",
            """\
        apiVersion: appmesh.k8s.aws/v1beta2
        kind: Mesh
        metadata: {name: refs}
        spec: {namespaceSelector: {matchLabels: {mesh: refs}}}
        ---
        apiVersion: appmesh.k8s.aws/v1beta2
        kind: VirtualService
        metadata: {name: svc, namespace: shop}
        spec:
          provider:
            virtualNode:
              virtualNodeRef: {name: ghost}
        """,
        )
    )
    assert (
        "m.yaml (document 2): VirtualService/shop/svc: spec.provider.virtualNode.virtualNodeRef: "
        "VirtualNode/shop/ghost not found (neither in these manifests nor applied before)" in line
    )


def test_manifest_without_a_matching_mesh(server: InProcessServer, tmp_path: Path) -> None:
    line = error_line(
        apply(
            server,
            tmp_path,
            "m.yaml",
            """\
        apiVersion: v1
        kind: Namespace
        metadata: {name: lonely, labels: {team: a}}
        ---
        apiVersion: appmesh.k8s.aws/v1beta2
        kind: Mesh
        metadata: {name: picky}
        spec: {namespaceSelector: {matchLabels: {mesh: picky}}}
        ---
        apiVersion: appmesh.k8s.aws/v1beta2
        kind: VirtualNode
        metadata: {name: n, namespace: lonely}
        spec: {}
        """,
        )
    )
    assert "VirtualNode/lonely/n: failed to find matching mesh for namespace: lonely, expecting 1 but found 0" in line


def test_parameters_and_imports(server: InProcessServer, tmp_path: Path) -> None:
    template = """\
        Parameters:
          Env: {Type: String, AllowedValues: [dev, prod]}
        Resources:
          Mesh:
            Type: AWS::AppMesh::Mesh
            Properties:
              MeshName: !Sub "${Env}-mesh"
              Spec:
                EgressFilter:
                  Type: !ImportValue egress-policy
        """
    assert "parameter Env has no value and no Default: give --parameter Env=VALUE" in error_line(
        apply(server, tmp_path, "p.yaml", template)
    )
    assert "parameter Env: 'test' is not one of the AllowedValues ['dev', 'prod']" in error_line(
        apply(server, tmp_path, "p.yaml", template, "--parameter", "Env=test")
    )
    assert (
        "Mesh (line 4): Properties.Spec.EgressFilter.Type: Fn::ImportValue: no stack applied here exports "
        "'egress-policy'" in error_line(apply(server, tmp_path, "p.yaml", template, "--parameter", "Env=dev"))
    )
    done = apply(server, tmp_path, "p.yaml", template, "--parameter", "Env=dev", "--import", "egress-policy=ALLOW_ALL")
    assert done.code == 0, done.err
    described = server.client(access_key="123456789012").describe_mesh(meshName="dev-mesh")["mesh"]
    assert described["spec"]["egressFilter"] == {"type": "ALLOW_ALL"}
    assert run_cli("delete", "-f", str(tmp_path / "p.yaml"), "--endpoint", server.endpoint).code == 0


def test_neither_template_nor_manifest(server: InProcessServer, tmp_path: Path) -> None:
    line = error_line(apply(server, tmp_path, "x.yaml", "just: a mapping\n"))
    assert line.endswith(
        "x.yaml: neither a CloudFormation template (no Resources section) nor Kubernetes "
        "manifests (documents with apiVersion and kind)"
    )


def test_an_import_only_skipped_resources_use_needs_no_value(server: InProcessServer, tmp_path: Path) -> None:
    done = apply(
        server,
        tmp_path,
        "skip.yaml",
        with_mesh(
            "skip-import",
            """\
          Cluster:
            Type: AWS::ECS::Service
            Properties:
              Cluster: !ImportValue nobody-exports-this
              TaskDefinition: !Ref Mesh
        """,
        ),
    )
    assert done.code == 0, done.err
    assert "skip       Cluster" in done.out and "stack skip: 1 create, 1 skip" in done.out
    assert run_cli("delete", "-f", str(tmp_path / "skip.yaml"), "--endpoint", server.endpoint).code == 0


def test_a_directory_like_cdk_out_ignores_what_is_neither(server: InProcessServer, tmp_path: Path) -> None:
    out = tmp_path / "cdk.out"
    out.mkdir()
    (out / "manifest.json").write_text('{"version": "36.0.0", "artifacts": {}}')
    (out / "Tiny.template.json").write_text(
        '{"Resources": {"Mesh": {"Type": "AWS::AppMesh::Mesh", "Properties": {"MeshName": "tiny"}}}}'
    )
    done = run_cli("apply", "-f", str(out), "--endpoint", server.endpoint)
    assert done.code == 0, done.err
    assert f"ignored {out / 'manifest.json'}: neither a template nor manifests" in done.out
    assert "stack Tiny: 1 create" in done.out
    assert run_cli("delete", "-f", str(out), "--endpoint", server.endpoint).code == 0
