"""Concurrent clients: writes are atomic (no lost updates, no double creates, never a 500)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from botocore.exceptions import ClientError

from tests.api.helpers import node_spec, unique

THREADS = 6


def test_parallel_updates_each_get_their_own_version(api, tenant, mesh):
    api.create_virtual_node(meshName=mesh, virtualNodeName="n", spec=node_spec())
    clients = [tenant.client() for _ in range(THREADS)]

    def update(index: int) -> list[int]:
        client = clients[index]
        return [
            client.update_virtual_node(
                meshName=mesh, virtualNodeName="n", spec=node_spec(port=1000 + index * 10 + step)
            )["virtualNode"]["metadata"]["version"]
            for step in range(5)
        ]

    with ThreadPoolExecutor(THREADS) as pool:
        versions = [v for batch in pool.map(update, range(THREADS)) for v in batch]
    assert sorted(versions) == list(range(2, 2 + THREADS * 5))
    final = api.describe_virtual_node(meshName=mesh, virtualNodeName="n")["virtualNode"]
    assert final["metadata"]["version"] == 1 + THREADS * 5


def test_parallel_creates_of_one_name_make_one_resource(api, tenant):
    name = unique("mesh")
    clients = [tenant.client() for _ in range(THREADS)]

    def create(index: int) -> str:
        try:
            clients[index].create_mesh(meshName=name)
            return "created"
        except ClientError as error:
            return error.response["Error"]["Code"]

    with ThreadPoolExecutor(THREADS) as pool:
        outcomes = list(pool.map(create, range(THREADS)))
    assert outcomes.count("created") == 1, outcomes
    assert set(outcomes) == {"created", "ConflictException"}, outcomes
    assert [m["meshName"] for m in api.list_meshes()["meshes"]] == [name]


def test_parallel_creates_in_one_mesh_all_land(api, tenant, mesh):
    clients = [tenant.client() for _ in range(THREADS)]

    def create(index: int) -> None:
        for step in range(5):
            clients[index].create_virtual_node(meshName=mesh, virtualNodeName=f"n{index}-{step}", spec={})

    with ThreadPoolExecutor(THREADS) as pool:
        list(pool.map(create, range(THREADS)))
    names = [
        ref["virtualNodeName"]
        for ref in api.get_paginator("list_virtual_nodes").paginate(meshName=mesh).build_full_result()["virtualNodes"]
    ]
    assert sorted(names) == sorted(f"n{i}-{s}" for i in range(THREADS) for s in range(5))
