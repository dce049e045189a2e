"""IP families as the user guide's ipPreference table says App Mesh's Envoys used them.

- Without an ipPreference, "Envoy's DNS resolver prefers IPv6 and falls back to IPv4" (AUTO): a
  name with both an AAAA and an A record is reached over IPv6; IPv4_PREFERRED on the target node
  turns that round.
- With any ipPreference, "the Envoy listeners bind to all IPv4 and IPv6 addresses": the node's
  listeners take `::` (IPv4 too), and App Mesh's IPv4 iptables interception still reaches them
  with its original destination intact.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request

from tests.support.meshes import gateway_to_service
from tests.support.waiting import wait_until

GATEWAY_PORT, APP_PORT = 8088, 9080


def gateway_get(address: str) -> tuple[int, dict | str]:
    try:
        with urllib.request.urlopen(f"http://{address}:{GATEWAY_PORT}/", timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(errors="replace")


def test_dns_names_resolve_ipv6_first_unless_the_node_prefers_ipv4(scenario, lab):
    appmesh, mesh = scenario.appmesh, scenario.mesh

    def node_spec(preference: str | None) -> dict:
        dns = {"hostname": "dual.dp.local", **({"ipPreference": preference} if preference else {})}
        return {
            "listeners": [{"portMapping": {"port": APP_PORT, "protocol": "http"}}],
            "serviceDiscovery": {"dns": dns},
        }

    appmesh.create_virtual_node(meshName=mesh, virtualNodeName="dual", spec=node_spec(None))
    appmesh.create_virtual_service(
        meshName=mesh,
        virtualServiceName="dual.dp.local",
        spec={"provider": {"virtualNode": {"virtualNodeName": "dual"}}},
    )
    gateway_to_service(appmesh, mesh, GATEWAY_PORT, "dual.dp.local")
    # The gateway's task: dual.dp.local has an A (127.0.0.1) and an AAAA (::1) record in its hosts
    # file, the A first, and only the IPv6 address has an app behind it.
    task = scenario.task(4, intercept=False)
    with open(task.hosts_dir / "hosts", "a") as hosts:
        hosts.write("127.0.0.1 dual.dp.local\n::1 dual.dp.local\n")
    scenario.serve(task, "serve", "ipv6-only", "::1", str(APP_PORT), port=APP_PORT, host="::1")
    envoy = scenario.envoy(task, "gw", kind="virtualGateway")
    status, body = gateway_get(task.address)
    assert status == 200 and body["name"] == "ipv6-only"

    appmesh.update_virtual_node(meshName=mesh, virtualNodeName="dual", spec=node_spec("IPv4_PREFERRED"))
    envoy.wait_synced()
    cluster = f"cds_egress_{mesh}_dual_http_{APP_PORT}"
    host_line = f"{cluster}::127.0.0.1:{APP_PORT}::hostname::dual.dp.local"
    wait_until(lambda: host_line in envoy.admin_get("/clusters"), 15, f"{cluster} did not resolve to IPv4")
    status, _ = gateway_get(task.address)
    assert status == 503  # nothing listens on 127.0.0.1: the IPv4 address was chosen


def test_listeners_take_ipv6_and_ipv4_with_an_ip_preference(scenario, lab):
    appmesh, mesh = scenario.appmesh, scenario.mesh
    appmesh.update_mesh(meshName=mesh, spec={"serviceDiscovery": {"ipPreference": "IPv4_PREFERRED"}})
    appmesh.create_virtual_node(
        meshName=mesh,
        virtualNodeName="svc",
        spec={
            "listeners": [{"portMapping": {"port": APP_PORT, "protocol": "http"}}],
            "serviceDiscovery": {"dns": {"hostname": "svc.dp.local"}},
        },
    )
    task = scenario.task(5, app_ports=(APP_PORT,))
    scenario.serve(task, "serve", "svc", "127.0.0.1", str(APP_PORT), port=APP_PORT)
    envoy = scenario.envoy(task, "svc")
    listening = task.run(["ss", "-ltnH"], uid=None).stdout
    assert "*:15000" in listening and "*:15001" in listening, listening  # `::` (ss prints *): both families
    with urllib.request.urlopen(f"http://{task.address}:{APP_PORT}/", timeout=10) as response:
        assert json.loads(response.read())["name"] == "svc"  # IPv4, intercepted, through the `::` listener
    stats = envoy.stats("_15000.downstream_cx_total")
    assert stats.get("listener.[__]_15000.downstream_cx_total", 0) >= 1, stats  # the `::` socket took it
