"""Mesh egress filter ALLOW_ALL lets through what App Mesh let through; DROP_ALL refuses it.

A client task (App Mesh's iptables: all outbound TCP to its Envoy's 15001) with one modelled
backend, `web.dp.local` on port 8080, calls three destinations:
- the backend by its name: routed by the mesh under both filters;
- the same address and port with a Host the mesh does not know (`unknown.example`): App Mesh's
  egress route configuration ended with a catch-all virtual host to `cds_egress_<mesh>_mesh-allow-all`
  (the traffic issues cite that cluster, RM#362), so ALLOW_ALL passes it to where the app was going;
- HTTPS to a host outside the mesh on 443 (`external.example`, a local TLS server the task resolves
  through its own hosts file): ALLOW_ALL's port-443 fallback chain passes it (RM#79); without it the
  `*.amazonaws.com` chain alone matches port 443 and the handshake is cut.
"""

from __future__ import annotations

from tests.dataplane.conftest import ACCOUNT, REGION
from tests.dataplane.servers import HttpRecorder, TlsServer, make_ca_and_leaf

WEB_PORT = 8080


def test_allow_all_passes_unknown_hosts_and_tls_on_443_drop_all_refuses_them(scenario, lab):
    web_address, external_address = lab.address(10), lab.address(11)
    web = scenario.close(HttpRecorder("web", web_address, WEB_PORT))
    ca, leaf, key = make_ca_and_leaf(lab.workdir, "external.example")
    external = scenario.close(TlsServer("external", external_address, 443, leaf, key))

    appmesh, mesh = scenario.appmesh, scenario.mesh
    appmesh.update_mesh(meshName=mesh, spec={"egressFilter": {"type": "ALLOW_ALL"}})
    appmesh.create_virtual_node(
        meshName=mesh,
        virtualNodeName="web",
        spec={
            "listeners": [{"portMapping": {"port": WEB_PORT, "protocol": "http"}}],
            "serviceDiscovery": {"dns": {"hostname": "web.dp.local"}},
        },
    )
    appmesh.create_virtual_service(
        meshName=mesh, virtualServiceName="web.dp.local", spec={"provider": {"virtualNode": {"virtualNodeName": "web"}}}
    )
    appmesh.create_virtual_node(
        meshName=mesh,
        virtualNodeName="client",
        spec={"backends": [{"virtualService": {"virtualServiceName": "web.dp.local"}}]},
    )
    client = scenario.task(1, hosts={"web.dp.local": web_address, "external.example": external_address})
    envoy = scenario.envoy(client, "client")

    def calls() -> tuple[dict, dict, dict]:
        modelled = scenario.app(client, "get", f"http://web.dp.local:{WEB_PORT}/modelled")
        unknown = scenario.app(client, "get", f"http://{web_address}:{WEB_PORT}/unknown", "unknown.example")
        tls = scenario.app(client, "https", "https://external.example/tls", str(ca))
        return modelled, unknown, tls

    modelled, unknown, tls = calls()
    assert modelled["status"] == 200 and modelled["body"]["host"] == "web.dp.local:8080"
    assert unknown["status"] == 200 and unknown["body"] == {"name": "web", "host": "unknown.example"}
    assert tls["status"] == 200 and tls["body"]["name"] == "external"
    stats = envoy.stats(f"cluster.cds_egress_{mesh}_mesh-allow-all.upstream_cx_total")
    assert stats[f"cluster.cds_egress_{mesh}_mesh-allow-all.upstream_cx_total"] == 2  # the HTTP and the TLS call
    assert web.count("/unknown") == 1 and external.count("/tls") == 1
    # `explain` (docs/console.md) names the way real Envoy just took: the catch-all to mesh-allow-all.
    allow_all = f"cds_egress_{mesh}_mesh-allow-all"
    assert explained(scenario, f"http://{web_address}:{WEB_PORT}/unknown", "unknown.example") == (
        "mesh-allow-all",
        allow_all,
        "sent to the original destination (passthrough)",
    )
    assert (
        explained(scenario, f"http://web.dp.local:{WEB_PORT}/modelled")[1] == f"cds_egress_{mesh}_web_http_{WEB_PORT}"
    )

    appmesh.update_mesh(meshName=mesh, spec={"egressFilter": {"type": "DROP_ALL"}})
    envoy.wait_synced()
    modelled, unknown, tls = calls()
    assert modelled["status"] == 200  # the mesh's own traffic is unaffected
    assert unknown["status"] == 404  # no route for that Host: Envoy's NR
    assert "error" in tls, tls  # no filter chain for a non-AWS name on 443: the connection is closed
    assert web.count("/unknown") == 1 and external.count("/tls") == 1  # nothing more reached them
    assert explained(scenario, f"http://{web_address}:{WEB_PORT}/unknown", "unknown.example")[2].startswith("404")


def explained(scenario, url: str, host: str | None = None) -> tuple[str | None, str | None, str]:
    """(virtual host, cluster, outcome) of the last hop `explain` walks for the client's request."""
    inspector = scenario.lab.server.server.inspector
    assert inspector is not None
    headers = {"Host": host} if host else {}
    hop = inspector.explain(ACCOUNT, REGION, scenario.mesh, "virtualNode", "client", url, "GET", headers).final
    cluster = hop.clusters[0].name if hop.clusters else None
    return hop.virtual_host, cluster, hop.outcome
