"""A TCP canary moves 100/0 → 50/50 → 0/100, and connections follow each step.

App Mesh accepted a TCP route target with weight 0 but first sent Envoy a tcp_proxy that Envoy
refused (`ClusterWeightValidationError.Weight: value must be greater than or equal to 1`): the
whole egress listener was NACKed and the canary's first and last steps never applied (RM#204,
fixed by App Mesh in 2020). Every step here must be ACKed by the client's Envoy and carried by
real connections to two TCP servers that name themselves.
"""

from __future__ import annotations

from collections import Counter

from tests.dataplane.servers import NamedTcp

DB_PORT = 5432


def test_tcp_canary_steps_are_applied_and_followed(scenario, lab):
    blue_address, green_address = lab.address(10), lab.address(11)
    scenario.close(NamedTcp("blue", blue_address, DB_PORT))
    scenario.close(NamedTcp("green", green_address, DB_PORT))
    appmesh, mesh = scenario.appmesh, scenario.mesh
    for colour in ("blue", "green"):
        appmesh.create_virtual_node(
            meshName=mesh,
            virtualNodeName=f"db-{colour}",
            spec={
                "listeners": [{"portMapping": {"port": DB_PORT, "protocol": "tcp"}}],
                "serviceDiscovery": {"dns": {"hostname": f"{colour}.dp.local"}},
            },
        )
    appmesh.create_virtual_router(
        meshName=mesh,
        virtualRouterName="db",
        spec={"listeners": [{"portMapping": {"port": DB_PORT, "protocol": "tcp"}}]},
    )

    def route(blue: int, green: int) -> dict:
        targets = [{"virtualNode": "db-blue", "weight": blue}, {"virtualNode": "db-green", "weight": green}]
        return {"tcpRoute": {"action": {"weightedTargets": targets}}}

    appmesh.create_route(meshName=mesh, virtualRouterName="db", routeName="canary", spec=route(100, 0))
    appmesh.create_virtual_service(
        meshName=mesh,
        virtualServiceName="db.dp.local",
        spec={"provider": {"virtualRouter": {"virtualRouterName": "db"}}},
    )
    appmesh.create_virtual_node(
        meshName=mesh,
        virtualNodeName="client",
        spec={"backends": [{"virtualService": {"virtualServiceName": "db.dp.local"}}]},
    )
    hosts = {"db.dp.local": lab.address(12), "blue.dp.local": blue_address, "green.dp.local": green_address}
    client = scenario.task(1, hosts=hosts)
    envoy = scenario.envoy(client, "client")  # waits for an ACK: a NACK of the 100/0 listener fails here

    def connections(count: int) -> Counter:
        return Counter(scenario.app(client, "tcp", "db.dp.local", str(DB_PORT), str(count)))

    assert connections(20) == {"blue": 20}
    appmesh.update_route(meshName=mesh, virtualRouterName="db", routeName="canary", spec=route(50, 50))
    envoy.wait_synced()
    half = connections(40)
    assert set(half) == {"blue", "green"} and sum(half.values()) == 40, half  # all-one-side: 2 * 2^-40
    appmesh.update_route(meshName=mesh, virtualRouterName="db", routeName="canary", spec=route(0, 100))
    envoy.wait_synced()
    assert connections(20) == {"green": 20}

    # App Mesh's documented 300 s TCP idle timeout, in the configuration Envoy applied.
    dump = envoy.config_dump()
    listeners = next(c for c in dump["configs"] if c["@type"].endswith("ListenersConfigDump"))["dynamic_listeners"]
    egress = next(item for item in listeners if item["name"] == "lds_egress_0.0.0.0_15001")
    chains = egress["active_state"]["listener"]["filter_chains"]
    [tcp] = [c for c in chains if c.get("filter_chain_match", {}).get("destination_port") == DB_PORT]
    assert tcp["filters"][0]["typed_config"]["idle_timeout"] == "300s"
    assert tcp["filters"][0]["typed_config"]["cluster"] == f"cds_egress_{mesh}_db-green_tcp_{DB_PORT}"
