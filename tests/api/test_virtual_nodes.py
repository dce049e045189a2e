"""Virtual nodes: CRUD, defaults, references and deletion rules."""

from __future__ import annotations

import time

from tests.api.helpers import (
    api_error,
    arn,
    assert_fresh_metadata,
    assert_ref,
    assert_updated,
    http_route_spec,
    node_spec,
    router_spec,
    service_spec,
    unique,
)


def test_create_virtual_node_metadata_and_spec(api, tenant, mesh):
    spec = node_spec(port=9080, backends=["b.local"])
    node = api.create_virtual_node(meshName=mesh, virtualNodeName="web", spec=spec)["virtualNode"]
    assert node["meshName"] == mesh
    assert node["virtualNodeName"] == "web"
    assert node["status"] == {"status": "ACTIVE"}
    assert node["spec"]["listeners"] == spec["listeners"]
    assert node["spec"]["backends"] == spec["backends"]
    assert node["spec"]["serviceDiscovery"] == spec["serviceDiscovery"]
    assert_fresh_metadata(
        node["metadata"], arn(tenant.region, tenant.account, mesh, "virtualNode", "web"), tenant.account
    )
    assert api.describe_virtual_node(meshName=mesh, virtualNodeName="web")["virtualNode"] == node


def test_backends_appear_only_when_a_node_is_read_back(api, mesh):
    """The AWS CLI's examples: create-virtual-node and update-virtual-node of a node without backends
    return no `backends`; describe-virtual-node and delete-virtual-node show `"backends": []`."""
    node = api.create_virtual_node(meshName=mesh, virtualNodeName="bare", spec={})["virtualNode"]
    assert "backends" not in node["spec"]
    assert node["spec"]["listeners"] == []
    described = api.describe_virtual_node(meshName=mesh, virtualNodeName="bare")["virtualNode"]
    assert described["spec"] == {"backends": [], "listeners": []}
    updated = api.update_virtual_node(meshName=mesh, virtualNodeName="bare", spec=node_spec())["virtualNode"]
    assert "backends" not in updated["spec"]
    deleted = api.delete_virtual_node(meshName=mesh, virtualNodeName="bare")["virtualNode"]
    assert deleted["spec"] == {**node_spec(), "backends": []}


def test_full_listener_spec_round_trips(api, mesh):
    listener = {
        "portMapping": {"port": 8443, "protocol": "http2"},
        "healthCheck": {
            "healthyThreshold": 2,
            "unhealthyThreshold": 3,
            "intervalMillis": 5000,
            "timeoutMillis": 2000,
            "protocol": "http2",
            "path": "/ping",
        },
        "outlierDetection": {
            "maxServerErrors": 5,
            "maxEjectionPercent": 50,
            "interval": {"unit": "s", "value": 10},
            "baseEjectionDuration": {"unit": "ms", "value": 30000},
        },
        "timeout": {"http2": {"perRequest": {"unit": "s", "value": 3}}},
        "connectionPool": {"http2": {"maxRequests": 100}},
        "tls": {"mode": "PERMISSIVE", "certificate": {"file": {"certificateChain": "/c.pem", "privateKey": "/k.pem"}}},
    }
    spec = {
        "listeners": [listener],
        "serviceDiscovery": {
            "awsCloudMap": {
                "namespaceName": "ns",
                "serviceName": "svc",
                "attributes": [{"key": "stage", "value": "prod"}],
            }
        },
        "logging": {
            "accessLog": {
                "file": {"path": "/dev/stdout", "format": {"json": [{"key": "code", "value": "%RESPONSE_CODE%"}]}}
            }
        },
        "backendDefaults": {
            "clientPolicy": {
                "tls": {
                    "enforce": True,
                    "ports": [443],
                    "validation": {"trust": {"file": {"certificateChain": "/ca.pem"}}},
                }
            }
        },
    }
    node = api.create_virtual_node(meshName=mesh, virtualNodeName="full", spec=spec)["virtualNode"]
    for key in spec:
        assert node["spec"][key] == spec[key], key


def test_update_virtual_node(api, mesh):
    before = api.create_virtual_node(meshName=mesh, virtualNodeName="n", spec=node_spec())["virtualNode"]
    time.sleep(0.02)
    after = api.update_virtual_node(
        meshName=mesh, virtualNodeName="n", spec=node_spec(port=9090, backends=["x.local"])
    )["virtualNode"]
    assert_updated(before["metadata"], after["metadata"])
    assert after["spec"]["listeners"][0]["portMapping"]["port"] == 9090
    assert after["spec"]["backends"] == [{"virtualService": {"virtualServiceName": "x.local"}}]
    assert api.describe_virtual_node(meshName=mesh, virtualNodeName="n")["virtualNode"] == after  # has backends


def test_update_replaces_spec_entirely(api, mesh):
    api.create_virtual_node(meshName=mesh, virtualNodeName="n", spec=node_spec(backends=["a.local"]))
    after = api.update_virtual_node(meshName=mesh, virtualNodeName="n", spec={})["virtualNode"]
    assert after["spec"] == {"listeners": []}
    assert "serviceDiscovery" not in after["spec"]


def test_missing_virtual_node(api, mesh):
    with api_error("NotFoundException", 404, "ghost"):
        api.describe_virtual_node(meshName=mesh, virtualNodeName="ghost")
    with api_error("NotFoundException", 404):
        api.update_virtual_node(meshName=mesh, virtualNodeName="ghost", spec={})
    with api_error("NotFoundException", 404):
        api.delete_virtual_node(meshName=mesh, virtualNodeName="ghost")


def test_duplicate_virtual_node_conflicts(api, mesh):
    api.create_virtual_node(meshName=mesh, virtualNodeName="n", spec={})
    with api_error("ConflictException", 409):
        api.create_virtual_node(meshName=mesh, virtualNodeName="n", spec=node_spec())
    assert api.describe_virtual_node(meshName=mesh, virtualNodeName="n")["virtualNode"]["metadata"]["version"] == 1


def test_same_name_in_two_meshes_is_two_resources(api, mesh):
    other = unique("mesh")
    api.create_mesh(meshName=other)
    first = api.create_virtual_node(meshName=mesh, virtualNodeName="n", spec={})["virtualNode"]
    second = api.create_virtual_node(meshName=other, virtualNodeName="n", spec={})["virtualNode"]
    assert first["metadata"]["uid"] != second["metadata"]["uid"]
    assert first["metadata"]["arn"] != second["metadata"]["arn"]


def test_list_virtual_nodes(api, mesh):
    created = {
        n: api.create_virtual_node(meshName=mesh, virtualNodeName=n, spec={})["virtualNode"] for n in ("a", "b", "c")
    }
    refs = {r["virtualNodeName"]: r for r in api.list_virtual_nodes(meshName=mesh)["virtualNodes"]}
    assert set(refs) == set(created)
    for name, data in created.items():
        assert_ref(refs[name], data)


def test_delete_virtual_node(api, mesh):
    api.create_virtual_node(meshName=mesh, virtualNodeName="n", spec=node_spec())
    deleted = api.delete_virtual_node(meshName=mesh, virtualNodeName="n")["virtualNode"]
    assert deleted["status"] == {"status": "DELETED"}
    assert deleted["spec"]["backends"] == []
    with api_error("NotFoundException", 404):
        api.describe_virtual_node(meshName=mesh, virtualNodeName="n")
    assert api.list_virtual_nodes(meshName=mesh)["virtualNodes"] == []


def test_delete_virtual_node_blocked_while_service_provider(api, mesh):
    api.create_virtual_node(meshName=mesh, virtualNodeName="n", spec=node_spec())
    api.create_virtual_service(meshName=mesh, virtualServiceName="s.local", spec=service_spec(node="n"))
    with api_error("ResourceInUseException", 409):
        api.delete_virtual_node(meshName=mesh, virtualNodeName="n")
    api.describe_virtual_node(meshName=mesh, virtualNodeName="n")
    api.update_virtual_service(meshName=mesh, virtualServiceName="s.local", spec={})
    api.delete_virtual_node(meshName=mesh, virtualNodeName="n")


def test_delete_virtual_node_blocked_while_route_target(api, mesh):
    api.create_virtual_node(meshName=mesh, virtualNodeName="n", spec=node_spec())
    api.create_virtual_router(meshName=mesh, virtualRouterName="r", spec=router_spec(8080))
    api.create_route(meshName=mesh, virtualRouterName="r", routeName="rt", spec=http_route_spec("n"))
    with api_error("ResourceInUseException", 409):
        api.delete_virtual_node(meshName=mesh, virtualNodeName="n")
    api.delete_route(meshName=mesh, virtualRouterName="r", routeName="rt")
    assert api.delete_virtual_node(meshName=mesh, virtualNodeName="n")["virtualNode"]["status"]["status"] == "DELETED"


def test_backends_do_not_need_to_exist_and_do_not_block_deletes(api, mesh):
    api.create_virtual_node(meshName=mesh, virtualNodeName="client", spec=node_spec(backends=["later.local"]))
    api.create_virtual_service(meshName=mesh, virtualServiceName="later.local", spec={})
    deleted = api.delete_virtual_service(meshName=mesh, virtualServiceName="later.local")
    assert deleted["virtualService"]["status"]["status"] == "DELETED"
