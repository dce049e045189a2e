"""Random meshes that the App Mesh API accepts, for "Envoy never refuses what we build".

`random_mesh(seed)` returns a mesh-file document (the `translate/loader.py` shape). Every
resource's spec passes the API's own input validation (the botocore model's shapes, ranges
and enums, via `validate_input`), so each mesh is one a user could have created. Within that,
the generator leans on the corners where a translator goes wrong: weights of 0 and all-zero
target lists, TCP and HTTP on one port, port 443 next to the `*.amazonaws.com` chain, routes
whose port or protocol matches nothing, missing targets, durations of 0 and of centuries,
counts beyond uint32, virtual service names that collide as Envoy domains (`a` / `a:80`,
`Svc` / `svc`, `*`), ALLOW_ALL and every ipPreference.
"""

from __future__ import annotations

import random
from typing import Any

from appmesh_local.api_models.validation import validate_input

PORTS = (80, 443, 8080, 8081, 9000)
PROTOCOLS = ("http", "http2", "grpc", "tcp")
GATEWAY_PROTOCOLS = ("http", "http2", "grpc")
SERVICE_NAMES = ("svc.fz.local", "Svc.fz.local", "a", "a:80", "*", "b.fz.local", "c.fz.local", "*.wild.local")
HOSTNAMES = ("n.fz.local", "127.0.0.1", "localhost", "x.fz.local")
# The largest values the API accepts (api_models/representable.py: what Envoy can hold), the corners here.
MAX_DURATION = {"s": 9_223_372_035, "ms": 9_223_372_035_999}
MAX_UINT32 = 2**32 - 1
IP_PREFERENCES = (None, "IPv6_PREFERRED", "IPv4_PREFERRED", "IPv4_ONLY", "IPv6_ONLY")
CERT = {"file": {"certificateChain": "/certs/server.pem", "privateKey": "/certs/server.key"}}
TRUST = {"trust": {"file": {"certificateChain": "/certs/ca.pem"}}}


class _Gen:
    def __init__(self, seed: int) -> None:
        self.r = random.Random(seed)
        self.seed = seed

    # ---- small values ---------------------------------------------------------------------
    def maybe(self, p: float = 0.5) -> bool:
        return self.r.random() < p

    def duration(self) -> dict[str, Any]:
        unit = self.r.choice(("ms", "s"))
        return {"unit": unit, "value": self.r.choice((0, 1, 250, 15, 300, MAX_DURATION[unit]))}

    def count(self) -> int:
        return self.r.choice((1, 2, 5, 100, 2**31 - 1))

    def long(self) -> int:
        """A retry count: the model's `long`, which the API bounds to Envoy's uint32."""
        return self.r.choice((0, 1, 3, MAX_UINT32))

    # ---- virtual nodes --------------------------------------------------------------------
    def listener(self, port: int) -> dict[str, Any]:
        protocol = self.r.choice(PROTOCOLS)
        listener: dict[str, Any] = {"portMapping": {"port": port, "protocol": protocol}}
        if self.maybe(0.4):
            listener["healthCheck"] = {
                "protocol": self.r.choice(PROTOCOLS),
                "path": self.r.choice(("/", "/health")),
                "healthyThreshold": self.r.randint(2, 10),
                "unhealthyThreshold": self.r.randint(2, 10),
                "intervalMillis": self.r.choice((5000, 300000)),
                "timeoutMillis": self.r.choice((2000, 60000)),
            }
        if self.maybe(0.4):
            listener["outlierDetection"] = {
                "maxServerErrors": self.r.choice((1, 5, MAX_UINT32)),
                "interval": self.duration(),
                "baseEjectionDuration": self.duration(),
                "maxEjectionPercent": self.r.choice((0, 10, 100)),
            }
        if self.maybe(0.3):
            if protocol == "tcp":
                pool = {"tcp": {"maxConnections": self.count()}}
            elif protocol == "http":
                pool = {"http": {"maxConnections": self.count(), "maxPendingRequests": self.count()}}
            else:
                pool = {protocol: {"maxRequests": self.count()}}
            listener["connectionPool"] = pool
        if self.maybe(0.4):
            body = {"idle": self.duration()} if protocol == "tcp" else {"perRequest": self.duration()}
            if protocol != "tcp" and self.maybe():
                body["idle"] = self.duration()
            listener["timeout"] = {protocol: body}
        if self.maybe(0.15):
            tls: dict[str, Any] = {"mode": self.r.choice(("STRICT", "PERMISSIVE", "DISABLED")), "certificate": CERT}
            if self.maybe():
                tls["validation"] = TRUST
            listener["tls"] = tls
        return listener

    def discovery(self, mesh: str) -> dict[str, Any]:
        preference = self.r.choice(IP_PREFERENCES)
        if self.maybe(0.7):
            dns: dict[str, Any] = {"hostname": self.r.choice(HOSTNAMES)}
            if self.maybe(0.3):
                dns["responseType"] = self.r.choice(("LOADBALANCER", "ENDPOINTS"))
            if preference:
                dns["ipPreference"] = preference
            return {"dns": dns}
        cloud_map: dict[str, Any] = {"namespaceName": f"{mesh}.ns", "serviceName": "svc"}
        if preference:
            cloud_map["ipPreference"] = preference
        return {"awsCloudMap": cloud_map}

    def node(self, mesh: str, services: list[str]) -> dict[str, Any]:
        ports = self.r.sample(PORTS, self.r.randint(0, 3))
        spec: dict[str, Any] = {"listeners": [self.listener(p) for p in ports]}
        if ports or self.maybe(0.3):
            spec["serviceDiscovery"] = self.discovery(mesh)
        backends = self.r.sample(services + ["missing.fz.local"], self.r.randint(0, len(services) + 1))
        spec["backends"] = [{"virtualService": {"virtualServiceName": name}} for name in backends]
        if self.maybe(0.15):
            spec["backendDefaults"] = {"clientPolicy": {"tls": {"validation": TRUST, "ports": [self.r.choice(PORTS)]}}}
        if self.maybe(0.2):
            spec["logging"] = {"accessLog": {"file": {"path": "/dev/null"}}}
        return spec

    # ---- routers and routes ---------------------------------------------------------------
    def router(self) -> dict[str, Any]:
        ports = self.r.sample(PORTS, self.r.randint(1, 2))
        return {"listeners": [{"portMapping": {"port": p, "protocol": self.r.choice(PROTOCOLS)}} for p in ports]}

    def targets(self, nodes: list[str]) -> list[dict[str, Any]]:
        targets = []
        for node in self.r.sample(nodes + ["ghost"], self.r.randint(1, min(3, len(nodes) + 1))):
            target: dict[str, Any] = {"virtualNode": node, "weight": self.r.choice((0, 0, 1, 50, 100))}
            if self.maybe(0.4):
                target["port"] = self.r.choice(PORTS)
            targets.append(target)
        if sum(t["weight"] for t in targets) > 100:  # the API's total rule
            for target in targets:
                target["weight"] = min(target["weight"], 100 // len(targets))
        return targets

    def route(self, nodes: list[str], router_ports: list[int]) -> dict[str, Any]:
        kind = self.r.choice(("httpRoute", "http2Route", "grpcRoute", "tcpRoute"))
        body: dict[str, Any] = {"action": {"weightedTargets": self.targets(nodes)}}
        match: dict[str, Any] = {}
        if kind in ("httpRoute", "http2Route"):
            match["prefix"] = self.r.choice(("/", "/a", "/b/"))
            if self.maybe(0.3):
                match["headers"] = [{"name": "x-fz", "match": {"exact": "1"}, "invert": self.maybe()}]
            if self.maybe(0.3):
                body["retryPolicy"] = {
                    "maxRetries": self.long(),
                    "perRetryTimeout": self.duration(),
                    "httpRetryEvents": ["server-error"],
                }
        elif kind == "grpcRoute":
            if self.maybe():
                match["serviceName"] = "fz.Svc"
                if self.maybe():
                    match["methodName"] = "Get"
        if self.maybe(0.7) and router_ports:
            match["port"] = self.r.choice(router_ports + [7])
        if match or kind != "tcpRoute":
            body["match"] = match
        if self.maybe(0.4):
            body["timeout"] = {"idle": self.duration()} if kind == "tcpRoute" else {"perRequest": self.duration()}
        spec: dict[str, Any] = {kind: body}
        if self.maybe(0.3):
            spec["priority"] = self.r.randint(0, 1000)
        return spec

    # ---- gateways -------------------------------------------------------------------------
    def gateway(self) -> dict[str, Any]:
        ports = self.r.sample((8088, 8089, 443), self.r.randint(1, 2))
        return {
            "listeners": [{"portMapping": {"port": p, "protocol": self.r.choice(GATEWAY_PROTOCOLS)}} for p in ports]
        }

    def gateway_route(self, services: list[str], ports: list[int]) -> dict[str, Any]:
        kind = self.r.choice(("httpRoute", "http2Route", "grpcRoute"))
        target: dict[str, Any] = {"virtualService": {"virtualServiceName": self.r.choice(services)}}
        if self.maybe(0.3):
            target["port"] = self.r.choice(PORTS)
        action: dict[str, Any] = {"target": target}
        match: dict[str, Any] = {}
        if kind != "grpcRoute":
            match["prefix"] = self.r.choice(("/", "/p", "/q/"))
            if self.maybe(0.3):
                action["rewrite"] = {"hostname": {"defaultTargetHostname": "DISABLED"}}
        if self.maybe(0.7):
            match["port"] = self.r.choice(ports)
        return {kind: {"match": match, "action": action}}

    # ---- the mesh -------------------------------------------------------------------------
    def mesh(self) -> dict[str, Any]:
        name = f"fz{self.seed}"
        mesh_spec: dict[str, Any] = {}
        if self.maybe(0.7):
            mesh_spec["egressFilter"] = {"type": self.r.choice(("DROP_ALL", "ALLOW_ALL"))}
        preference = self.r.choice(IP_PREFERENCES)
        if preference:
            mesh_spec["serviceDiscovery"] = {"ipPreference": preference}
        services = self.r.sample(SERVICE_NAMES, self.r.randint(2, 6))
        nodes = [f"n{i}" for i in range(self.r.randint(2, 5))]
        routers = [f"r{i}" for i in range(self.r.randint(0, 2))]
        doc: dict[str, Any] = {"mesh": {"meshName": name, "spec": mesh_spec}}
        doc["virtualNodes"] = [{"virtualNodeName": n, "spec": self.node(name, services)} for n in nodes]
        doc["virtualRouters"] = [{"virtualRouterName": r, "spec": self.router()} for r in routers]
        doc["routes"] = []
        for router in doc["virtualRouters"]:
            ports = [listener["portMapping"]["port"] for listener in router["spec"]["listeners"]]
            for index in range(self.r.randint(0, 4)):
                spec = self.route(nodes, ports)
                doc["routes"].append(
                    {"routeName": f"rt{index}", "virtualRouterName": router["virtualRouterName"], "spec": spec}
                )
        doc["virtualServices"] = []
        for service in services:
            choice = self.r.random()
            if choice < 0.45 and routers:
                provider = {"virtualRouter": {"virtualRouterName": self.r.choice(routers + ["gone"])}}
            elif choice < 0.9:
                provider = {"virtualNode": {"virtualNodeName": self.r.choice(nodes + ["gone"])}}
            else:
                provider = None
            doc["virtualServices"].append(
                {"virtualServiceName": service, "spec": {"provider": provider} if provider else {}}
            )
        doc["virtualGateways"], doc["gatewayRoutes"] = [], []
        for index in range(self.r.randint(0, 2)):
            gateway = f"g{index}"
            spec = self.gateway()
            doc["virtualGateways"].append({"virtualGatewayName": gateway, "spec": spec})
            ports = [listener["portMapping"]["port"] for listener in spec["listeners"]]
            for route in range(self.r.randint(0, 3)):
                doc["gatewayRoutes"].append(
                    {
                        "gatewayRouteName": f"gr{route}",
                        "virtualGatewayName": gateway,
                        "spec": self.gateway_route(services, ports),
                    }
                )
        return doc


_OPERATIONS = {
    "virtualNodes": ("CreateVirtualNode", "virtualNodeName"),
    "virtualRouters": ("CreateVirtualRouter", "virtualRouterName"),
    "routes": ("CreateRoute", "routeName"),
    "virtualServices": ("CreateVirtualService", "virtualServiceName"),
    "virtualGateways": ("CreateVirtualGateway", "virtualGatewayName"),
    "gatewayRoutes": ("CreateGatewayRoute", "gatewayRouteName"),
}


def api_valid(doc: dict[str, Any]) -> None:
    """Raise BadRequest if any resource's create request would fail the API's input validation."""
    mesh = doc["mesh"]["meshName"]
    validate_input("CreateMesh", {"meshName": mesh, "spec": doc["mesh"]["spec"]})
    for key, (operation, name_field) in _OPERATIONS.items():
        for item in doc.get(key, []):
            params = {"meshName": mesh, **{k: v for k, v in item.items() if k != "spec"}, "spec": item["spec"]}
            params.setdefault(name_field, item[name_field])
            validate_input(operation, params)


def random_mesh(seed: int) -> dict[str, Any]:
    """A random, API-valid mesh document for `seed` (the same seed gives the same mesh)."""
    doc = _Gen(seed).mesh()
    api_valid(doc)
    return doc
