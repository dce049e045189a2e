"""Random meshes and random changes to them, for the memo-vs-fresh differential test.

A `World` is the truth: plain JSON specs of one mesh (every kind), the Cloud Map instances and
the ACM material its nodes can refer to, and the host-mode placements wanted. `random_change` picks
one change of any kind (create, update, replace with an equal copy, delete of each resource kind;
Cloud Map register, deregister, health and attribute changes; ACM issue, renew, revoke, CA on and
off; a host-mode Envoy arriving or leaving) and applies it to the world, returning what the store
must do and what the neighbours report. Names come from small pools so references hit (and miss) often;
specs follow the model's shapes, including values the translator has to drop with a problem.
"""

from __future__ import annotations

import copy
import random
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from appmesh_local.store.records import (
    GATEWAY_ROUTE,
    MESH,
    ROUTE,
    VIRTUAL_GATEWAY,
    VIRTUAL_NODE,
    VIRTUAL_ROUTER,
    VIRTUAL_SERVICE,
    MeshSnapshot,
)

ACCOUNT, REGION, MESH_NAME = "123456789012", "us-east-1", "diff"
NODES = ("n0", "n1", "n2", "n3")
ROUTERS = ("r0", "r1")
ROUTES = ("rt0", "rt1", "rt2")
SERVICES = ("s0.local", "s1.local", "s2.local")
GATEWAYS = ("g0", "g1")
GATEWAY_ROUTES = ("gr0", "gr1")
PORTS = (8080, 8081, 9090)
PROTOCOLS = ("http", "http2", "grpc", "tcp")
CLOUD_MAP = (("ns.local", "a"), ("ns.local", "b"))
CERTIFICATES = tuple(f"arn:aws:acm:{REGION}:{ACCOUNT}:certificate/c{i}" for i in range(2))
AUTHORITIES = tuple(f"arn:aws:acm-pca:{REGION}:{ACCOUNT}:certificate-authority/ca{i}" for i in range(2))


@dataclass(frozen=True)
class Instance:
    """A Cloud Map instance as the translator reads it (translate.cloudmap.CloudMapInstance)."""

    instance_id: str
    ipv4: str | None
    ipv6: str | None


@dataclass
class World:
    mesh: dict[str, Any] | None = None
    flat: dict[str, dict[str, dict[str, Any]]] = field(
        default_factory=lambda: {k: {} for k in (VIRTUAL_NODE, VIRTUAL_ROUTER, VIRTUAL_SERVICE, VIRTUAL_GATEWAY)}
    )
    nested: dict[str, dict[str, dict[str, dict[str, Any]]]] = field(
        default_factory=lambda: {ROUTE: {}, GATEWAY_ROUTE: {}}
    )
    # (namespace, service) → instance id → (ipv4, ipv6, attributes, healthy)
    instances: dict[tuple[str, str], dict[str, tuple[str | None, str | None, dict[str, str], bool]]] = field(
        default_factory=dict
    )
    certificates: dict[str, tuple[str, str]] = field(default_factory=dict)  # ARN → (chain, key)
    authorities: dict[str, str] = field(default_factory=dict)  # ACTIVE CA ARN → PEM
    placements: set[tuple[str, str, str]] = field(default_factory=set)  # wanted (kind, name, placement key)
    revision: int = 0

    def snapshot(self) -> MeshSnapshot | None:
        """The mesh as plain, independent dicts (nothing shared with the store's copies)."""
        if self.mesh is None:
            return None
        return MeshSnapshot(
            account=ACCOUNT,
            region=REGION,
            name=MESH_NAME,
            revision=self.revision,
            spec=copy.deepcopy(self.mesh),
            virtual_nodes=copy.deepcopy(self.flat[VIRTUAL_NODE]),
            virtual_routers=copy.deepcopy(self.flat[VIRTUAL_ROUTER]),
            routes=copy.deepcopy(self.nested[ROUTE]),
            virtual_services=copy.deepcopy(self.flat[VIRTUAL_SERVICE]),
            virtual_gateways=copy.deepcopy(self.flat[VIRTUAL_GATEWAY]),
            gateway_routes=copy.deepcopy(self.nested[GATEWAY_ROUTE]),
        )

    # -- the neighbours, as the bridge reads them ---------------------------------------------
    def discover(
        self, account: str, region: str, namespace: str, service: str, attributes: Mapping[str, str], /
    ) -> Sequence[Instance]:
        found = self.instances.get((namespace, service), {})
        return [
            Instance(instance_id, ipv4, ipv6)
            for instance_id, (ipv4, ipv6, attrs, healthy) in sorted(found.items())
            if healthy and all(attrs.get(k) == v for k, v in attributes.items())
        ]

    def certificate(self, account: str, region: str, arn: str, /) -> tuple[str, str] | None:
        return self.certificates.get(arn)

    def ca_bundle(self, account: str, region: str, arns: Any, /) -> str | None:
        return "".join(self.authorities[a] for a in arns if a in self.authorities) or None


# A change the store must make: ("put", kind, parent, name, spec) or ("delete", kind, parent, name);
# ("neighbours", "cloudMap", namespace, service) or ("neighbours", "acm") when only Cloud Map or ACM
# changed, as the neighbours report it; ("placements",) when a host-mode Envoy came or went (the
# bridge rebuilds the same snapshot).
Change = tuple[Any, ...]


def _pem(label: str, rng: random.Random) -> str:
    return f"-----BEGIN CERTIFICATE-----\n{label}{rng.randrange(10**6)}\n-----END CERTIFICATE-----\n"


def _duration(rng: random.Random) -> dict[str, Any]:
    return {"unit": rng.choice(("s", "ms")), "value": rng.choice((0, 1, 5, 250))}


def _tls_listener(rng: random.Random) -> dict[str, Any]:
    certificate = rng.choice(
        (
            {"acm": {"certificateArn": rng.choice(CERTIFICATES)}},
            {"file": {"certificateChain": "/certs/chain.pem", "privateKey": "/certs/key.pem"}},
            {"sds": {"secretName": "spiffe://diff/x"}},
        )
    )
    tls: dict[str, Any] = {"mode": rng.choice(("STRICT", "PERMISSIVE", "DISABLED")), "certificate": certificate}
    if rng.random() < 0.3:
        tls["validation"] = {"trust": {"file": {"certificateChain": "/certs/ca.pem"}}}
    return tls


def _node_listener(rng: random.Random, port: int) -> dict[str, Any]:
    protocol = rng.choice(PROTOCOLS)
    listener: dict[str, Any] = {"portMapping": {"port": port, "protocol": protocol}}
    if rng.random() < 0.3:
        listener["tls"] = _tls_listener(rng)
    if rng.random() < 0.3:
        listener["outlierDetection"] = {
            "maxServerErrors": rng.randint(1, 5),
            "interval": _duration(rng),
            "baseEjectionDuration": _duration(rng),
            "maxEjectionPercent": rng.randint(0, 100),
        }
    if rng.random() < 0.3:
        listener["healthCheck"] = {
            "protocol": rng.choice(PROTOCOLS),
            "healthyThreshold": 2,
            "unhealthyThreshold": 3,
            "intervalMillis": 5000,
            "timeoutMillis": 2000,
            "path": rng.choice(("/", "/health")),
        }
    if rng.random() < 0.3:
        pool = {"tcp": {"maxConnections": 5}, "http": {"maxConnections": 7, "maxPendingRequests": 3}}
        listener["connectionPool"] = {protocol: pool.get(protocol, {"maxRequests": 9})}
    if rng.random() < 0.3:
        key = "tcp" if protocol == "tcp" else protocol
        timeout: dict[str, Any] = {"idle": _duration(rng)}
        if protocol != "tcp":
            timeout["perRequest"] = _duration(rng)
        listener["timeout"] = {key: timeout}
    return listener


def node_spec(rng: random.Random) -> dict[str, Any]:
    spec: dict[str, Any] = {}
    ports = rng.sample(PORTS, rng.choice((0, 1, 1, 2)))
    spec["listeners"] = [_node_listener(rng, p) for p in ports]
    discovery = rng.random()
    preference = rng.choice((None, "IPv4_ONLY", "IPv6_PREFERRED", "IPv4_PREFERRED", "IPv6_ONLY"))
    if discovery < 0.45:
        dns: dict[str, Any] = {"hostname": rng.choice(("a.local", "b.local"))}
        if rng.random() < 0.3:
            dns["responseType"] = rng.choice(("LOADBALANCER", "ENDPOINTS"))
        if preference:
            dns["ipPreference"] = preference
        spec["serviceDiscovery"] = {"dns": dns}
    elif discovery < 0.9:
        namespace, service = rng.choice(CLOUD_MAP)
        cloud_map: dict[str, Any] = {"namespaceName": namespace, "serviceName": service}
        if rng.random() < 0.4:
            cloud_map["attributes"] = [{"key": "stage", "value": rng.choice(("blue", "green"))}]
        if preference:
            cloud_map["ipPreference"] = preference
        spec["serviceDiscovery"] = {"awsCloudMap": cloud_map}
    backends = []
    for service in rng.sample(SERVICES, rng.randint(0, len(SERVICES))):
        backend: dict[str, Any] = {"virtualServiceName": service}
        if rng.random() < 0.25:
            backend["clientPolicy"] = {"tls": _client_policy(rng)}
        backends.append({"virtualService": backend})
    spec["backends"] = backends
    if rng.random() < 0.25:
        spec["backendDefaults"] = {"clientPolicy": {"tls": _client_policy(rng)}}
    if rng.random() < 0.2:
        spec["logging"] = {"accessLog": {"file": {"path": "/dev/stdout"}}}
    return spec


def _client_policy(rng: random.Random) -> dict[str, Any]:
    trust = rng.choice(
        (
            {"acm": {"certificateAuthorityArns": rng.sample(AUTHORITIES, rng.randint(1, 2))}},
            {"file": {"certificateChain": "/certs/ca.pem"}},
        )
    )
    policy: dict[str, Any] = {"validation": {"trust": trust}}
    if rng.random() < 0.3:
        policy["enforce"] = rng.choice((True, False))
    if rng.random() < 0.3:
        policy["ports"] = rng.sample(PORTS, 1)
    return policy


def router_spec(rng: random.Random) -> dict[str, Any]:
    ports = rng.sample(PORTS, rng.choice((1, 1, 2)))
    return {"listeners": [{"portMapping": {"port": p, "protocol": rng.choice(PROTOCOLS)}} for p in ports]}


def route_spec(rng: random.Random) -> dict[str, Any]:
    kind = rng.choice(("httpRoute", "http2Route", "grpcRoute", "tcpRoute"))
    targets = [
        {"virtualNode": node, "weight": rng.choice((0, 1, 50, 100))} for node in rng.sample(NODES, rng.randint(1, 3))
    ]
    if rng.random() < 0.2:
        targets[0]["port"] = rng.choice(PORTS)
    body: dict[str, Any] = {"action": {"weightedTargets": targets}}
    match: dict[str, Any] = {}
    if kind in ("httpRoute", "http2Route"):
        match["prefix"] = rng.choice(("/", "/a", "/b/"))
        if rng.random() < 0.3:
            match["headers"] = [{"name": "X-Canary", "match": {"exact": "1"}}]
        if rng.random() < 0.2:
            match["method"] = "GET"
    elif kind == "grpcRoute":
        if rng.random() < 0.6:
            match["serviceName"] = "pkg.Svc"
            if rng.random() < 0.5:
                match["methodName"] = "Call"
    if rng.random() < 0.3:
        match["port"] = rng.choice(PORTS)
    if match or kind != "tcpRoute":
        body["match"] = match
    if kind != "tcpRoute" and rng.random() < 0.3:
        events = "grpcRetryEvents" if kind == "grpcRoute" else "httpRetryEvents"
        body["retryPolicy"] = {
            "maxRetries": rng.randint(0, 3),
            "perRetryTimeout": _duration(rng),
            events: ["unavailable"] if kind == "grpcRoute" else ["server-error", "gateway-error"],
        }
    if rng.random() < 0.3:
        body["timeout"] = {"idle": _duration(rng)} if kind == "tcpRoute" else {"perRequest": _duration(rng)}
    spec: dict[str, Any] = {kind: body}
    if rng.random() < 0.4:
        spec["priority"] = rng.randint(0, 3)
    return spec


def service_spec(rng: random.Random) -> dict[str, Any]:
    choice = rng.random()
    if choice < 0.45:
        return {"provider": {"virtualRouter": {"virtualRouterName": rng.choice(ROUTERS)}}}
    if choice < 0.85:
        return {"provider": {"virtualNode": {"virtualNodeName": rng.choice(NODES)}}}
    return {}


def gateway_spec(rng: random.Random) -> dict[str, Any]:
    listeners = []
    for port in rng.sample((8088, 8089), rng.choice((1, 1, 2))):
        listener: dict[str, Any] = {"portMapping": {"port": port, "protocol": rng.choice(("http", "http2", "grpc"))}}
        if rng.random() < 0.25:
            listener["tls"] = _tls_listener(rng)
        if rng.random() < 0.2:
            listener["connectionPool"] = {"http": {"maxConnections": 4}}
        listeners.append(listener)
    spec: dict[str, Any] = {"listeners": listeners}
    if rng.random() < 0.25:
        spec["backendDefaults"] = {"clientPolicy": {"tls": _client_policy(rng)}}
    return spec


def gateway_route_spec(rng: random.Random) -> dict[str, Any]:
    kind = rng.choice(("httpRoute", "http2Route", "grpcRoute"))
    target: dict[str, Any] = {"virtualService": {"virtualServiceName": rng.choice(SERVICES)}}
    if rng.random() < 0.2:
        target["port"] = rng.choice(PORTS)
    action: dict[str, Any] = {"target": target}
    match: dict[str, Any] = {}
    if kind == "grpcRoute":
        if rng.random() < 0.5:
            match["serviceName"] = "pkg.Svc"
    else:
        match["prefix"] = rng.choice(("/", "/shop", "/api/"))
        if rng.random() < 0.3:
            match["hostname"] = rng.choice(({"exact": "www.example.com"}, {"suffix": ".example.com"}))
        rewrite: dict[str, Any] = {}
        if rng.random() < 0.3:
            rewrite["hostname"] = {"defaultTargetHostname": rng.choice(("ENABLED", "DISABLED"))}
        if rng.random() < 0.3:
            rewrite["prefix"] = rng.choice(({"defaultPrefix": "DISABLED"}, {"value": "/v2/"}))
        if rewrite:
            action["rewrite"] = rewrite
    if rng.random() < 0.3:
        match["port"] = rng.choice((8088, 8089))
    spec: dict[str, Any] = {kind: {"match": match, "action": action}}
    if rng.random() < 0.3:
        spec["priority"] = rng.randint(0, 3)
    return spec


def mesh_spec(rng: random.Random) -> dict[str, Any]:
    spec: dict[str, Any] = {"egressFilter": {"type": rng.choice(("DROP_ALL", "ALLOW_ALL"))}}
    if rng.random() < 0.3:
        preference = rng.choice(("IPv6_PREFERRED", "IPv4_PREFERRED", "IPv4_ONLY", "IPv6_ONLY"))
        spec["serviceDiscovery"] = {"ipPreference": preference}
    return spec


FLAT = {
    VIRTUAL_NODE: (NODES, node_spec),
    VIRTUAL_ROUTER: (ROUTERS, router_spec),
    VIRTUAL_SERVICE: (SERVICES, service_spec),
    VIRTUAL_GATEWAY: (GATEWAYS, gateway_spec),
}
NESTED = {ROUTE: (ROUTERS, ROUTES, route_spec), GATEWAY_ROUTE: (GATEWAYS, GATEWAY_ROUTES, gateway_route_spec)}
KINDS_OF_CHANGE = (MESH, *FLAT, *NESTED, "cloudMap", "acm", "placement")


def random_change(world: World, rng: random.Random) -> Change:
    """Apply one random change to `world`; return what the store must do to follow."""
    if world.mesh is None:
        world.mesh = mesh_spec(rng)
        world.revision += 1
        return ("put", MESH, "", MESH_NAME, copy.deepcopy(world.mesh))
    what = rng.choice(KINDS_OF_CHANGE)
    if what == MESH:
        if rng.random() < 0.1:  # deleting the mesh leaves its children in the store, as a crash could
            world.mesh = None
            world.revision += 1
            return ("delete", MESH, "", MESH_NAME)
        world.mesh = mesh_spec(rng)
        world.revision += 1
        return ("put", MESH, "", MESH_NAME, copy.deepcopy(world.mesh))
    if what in FLAT:
        names, make = FLAT[what]
        return _change(world, rng, world.flat[what], what, "", rng.choice(names), make)
    if what in NESTED:
        parents, names, make = NESTED[what]
        parent = rng.choice(parents)
        siblings = world.nested[what].setdefault(parent, {})
        change = _change(world, rng, siblings, what, parent, rng.choice(names), make)
        if not siblings:
            del world.nested[what][parent]
        return change
    if what == "cloudMap":
        where = rng.choice(CLOUD_MAP)
        found = world.instances.setdefault(where, {})
        instance_id = f"i{rng.randrange(4)}"
        if instance_id in found and rng.random() < 0.4:
            del found[instance_id]
        else:
            ipv4 = rng.choice((None, "10.0.0.1", "10.0.0.2", "10.0.0.3"))
            ipv6 = rng.choice((None, "fd00::1", "fd00::2"))
            attributes = {"stage": rng.choice(("blue", "green"))}
            found[instance_id] = (ipv4 or (None if ipv6 else "10.0.0.9"), ipv6, attributes, rng.random() < 0.8)
        return ("neighbours", "cloudMap", *where)
    if what == "placement":  # a host-mode Envoy of one proxy arrives or leaves (two address blocks each)
        kind = rng.choice((VIRTUAL_NODE, VIRTUAL_NODE, VIRTUAL_GATEWAY))
        names = NODES if kind == VIRTUAL_NODE else GATEWAYS
        name = rng.choice(names)
        block = 10 * (names.index(name) + (len(NODES) if kind == VIRTUAL_GATEWAY else 0)) + rng.choice((1, 5))
        placement = f"host:127.100.0.{block},127.100.0.{block + 1},127.100.0.{block + 2}"
        world.placements.symmetric_difference_update({(kind, name, placement)})
        return ("placements",)
    if rng.random() < 0.5:
        arn = rng.choice(CERTIFICATES)
        if arn in world.certificates and rng.random() < 0.3:
            del world.certificates[arn]
        else:  # issue or renew: new material
            world.certificates[arn] = (_pem("leaf", rng) + _pem("root", rng), f"KEY{rng.randrange(10**6)}")
    else:
        arn = rng.choice(AUTHORITIES)
        if arn in world.authorities and rng.random() < 0.4:
            del world.authorities[arn]
        else:
            world.authorities[arn] = _pem("ca", rng)
    return ("neighbours", "acm")


def _change(
    world: World,
    rng: random.Random,
    table: dict[str, dict[str, Any]],
    kind: str,
    parent: str,
    name: str,
    make: Any,
) -> Change:
    world.revision += 1
    roll = rng.random()
    if name in table and roll < 0.25:
        del table[name]
        return ("delete", kind, parent, name)
    if name in table and roll < 0.4:
        return ("put", kind, parent, name, copy.deepcopy(table[name]))  # equal content, new objects
    table[name] = make(rng)
    return ("put", kind, parent, name, copy.deepcopy(table[name]))
