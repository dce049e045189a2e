"""Lint a mesh: the misconfigurations App Mesh accepted silently and users found only by outage.

Every finding names the resource and the field, says in one line what will happen, and has a
stable code for CI filters. The checks read the mesh as stored (`MeshSnapshot`), the Envoy
resources the bridge generated from it (route order is Envoy's, so shadowing is judged on what
Envoy will evaluate), the live xDS status (NACKs), and certificate material where it can be
read locally. Why each one matters, with sources, is in docs/console.md ("Lint findings").
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping

from cryptography import x509
from envoy.config.route.v3 import route_components_pb2 as rc
from envoy.config.route.v3 import route_pb2
from google.protobuf.message import Message

from appmesh_local.store.records import MeshSnapshot

ERROR, WARNING = "error", "warning"
SEVERITY_RANK = {WARNING: 1, ERROR: 2}
ROUTE_CONFIGURATION = "type.googleapis.com/envoy.config.route.v3.RouteConfiguration"
ROUTE_KINDS = ("httpRoute", "http2Route", "grpcRoute", "tcpRoute")
ProxyResources = Mapping[tuple[str, str], Mapping[str, Mapping[str, Message]]]  # (kind, name) → type → name → msg
CertificateLookup = Callable[[Mapping[str, Any]], str | None]  # a listener `tls.certificate` → leaf PEM


@dataclass(frozen=True)
class Finding:
    code: str
    severity: str
    resource: str  # e.g. "virtualNode/front", "route/colour/canary"
    field: str  # the spec path, e.g. "spec.backends[0].virtualService.virtualServiceName"
    message: str

    def line(self) -> str:
        return f"{self.severity:<7} {self.code:<22} {self.resource} {self.field}: {self.message}"

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


def lint_mesh(
    snapshot: MeshSnapshot,
    proxies: ProxyResources | None = None,
    proxy_status: Iterable[Mapping[str, Any]] = (),
    translation_problems: Iterable[str] = (),
    certificate_pem: CertificateLookup | None = None,
) -> list[Finding]:
    """Every finding for one mesh, errors first, then by resource."""
    findings = [
        *_missing_references(snapshot),
        *_unreachable_listener_ports(snapshot),
        *_zero_weight_routes(snapshot),
        *_tls_mismatches(snapshot, certificate_pem or read_file_certificate),
        *_shadowed_routes(snapshot, proxies or {}),
        *_nacked_proxies(proxy_status),
    ]
    covered = {item.resource for item in findings}
    for problem in translation_problems:
        resource = problem_resource(problem) or f"mesh/{snapshot.name}"
        if resource not in covered:  # a specific finding already says it better
            findings.append(Finding("translation-problem", WARNING, resource, "spec", problem))
    unique = {(item.code, item.resource, item.field, item.message): item for item in findings}
    return sorted(unique.values(), key=lambda item: (-SEVERITY_RANK[item.severity], item.resource, item.field))


_PROBLEM_SUBJECTS = (
    (re.compile(r"^gateway route ([^/\s]+)/([^:\s]+):"), "gatewayRoute/{0}/{1}"),
    (re.compile(r"^route ([^/\s]+)/([^:\s]+):"), "route/{0}/{1}"),
    (re.compile(r"^virtual node ([^:\s]+)"), "virtualNode/{0}"),
    (re.compile(r"^virtual service ([^:\s]+)"), "virtualService/{0}"),
    (re.compile(r"^virtual gateway ([^:\s]+)"), "virtualGateway/{0}"),
    (re.compile(r"^virtual router ([^:\s]+)"), "virtualRouter/{0}"),
)


def problem_resource(problem: str) -> str | None:
    """The resource a translator problem is about, read from its leading words ("route r/n: ...")."""
    for pattern, template in _PROBLEM_SUBJECTS:
        match = pattern.match(problem)
        if match:
            return template.format(*match.groups())
    return None


def exit_code(findings: Iterable[Finding], fail_on: str = WARNING) -> int:
    """1 when a finding reaches `fail_on` ("warning" | "error"), else 0; "never" always 0."""
    if fail_on == "never":
        return 0
    threshold = SEVERITY_RANK[fail_on]
    return 1 if any(SEVERITY_RANK[item.severity] >= threshold for item in findings) else 0


# ---- references ---------------------------------------------------------------------------------
def _missing_references(snapshot: MeshSnapshot) -> Iterator[Finding]:
    services, nodes, routers = snapshot.virtual_services, snapshot.virtual_nodes, snapshot.virtual_routers
    for node, spec in sorted(snapshot.virtual_nodes.items()):
        for index, backend in enumerate(spec.get("backends") or ()):
            name = (backend.get("virtualService") or {}).get("virtualServiceName")
            if name and name not in services:
                yield Finding(
                    "missing-backend",
                    ERROR,
                    f"virtualNode/{node}",
                    f"spec.backends[{index}].virtualService.virtualServiceName",
                    f"virtual service {name} does not exist: the sidecar has no route for it (404 under DROP_ALL; "
                    "under ALLOW_ALL the call leaves the mesh through mesh-allow-all)",
                )
    for service, spec in sorted(services.items()):
        provider = spec.get("provider") or {}
        router = (provider.get("virtualRouter") or {}).get("virtualRouterName")
        node = (provider.get("virtualNode") or {}).get("virtualNodeName")
        if not provider:
            yield Finding(
                "no-provider",
                WARNING,
                f"virtualService/{service}",
                "spec.provider",
                "no provider: requests to this service get 404 from every client",
            )
        elif router and router not in routers:
            yield Finding(
                "missing-provider",
                ERROR,
                f"virtualService/{service}",
                "spec.provider.virtualRouter.virtualRouterName",
                f"virtual router {router} does not exist",
            )
        elif node and node not in nodes:
            yield Finding(
                "missing-provider",
                ERROR,
                f"virtualService/{service}",
                "spec.provider.virtualNode.virtualNodeName",
                f"virtual node {node} does not exist",
            )
        elif node and not (nodes[node].get("listeners") or ()):
            yield Finding(
                "provider-without-listener",
                ERROR,
                f"virtualService/{service}",
                "spec.provider.virtualNode.virtualNodeName",
                f"virtual node {node} has no listener: nothing can reach this service",
            )
    for router, routes in sorted(snapshot.routes.items()):
        for route, spec in sorted(routes.items()):
            for kind, body in _route_bodies(spec):
                for index, target in enumerate((body.get("action") or {}).get("weightedTargets") or ()):
                    if target.get("virtualNode") not in nodes:
                        yield Finding(
                            "missing-route-target",
                            ERROR,
                            f"route/{router}/{route}",
                            f"spec.{kind}.action.weightedTargets[{index}].virtualNode",
                            f"virtual node {target.get('virtualNode')} does not exist: its share of requests gets 503",
                        )
    for gateway, routes in sorted(snapshot.gateway_routes.items()):
        for route, spec in sorted(routes.items()):
            for kind, body in _route_bodies(spec):
                target = ((body.get("action") or {}).get("target") or {}).get("virtualService") or {}
                name = target.get("virtualServiceName")
                if name and name not in services:
                    yield Finding(
                        "missing-gateway-target",
                        ERROR,
                        f"gatewayRoute/{gateway}/{route}",
                        f"spec.{kind}.action.target.virtualService.virtualServiceName",
                        f"virtual service {name} does not exist",
                    )


def _route_bodies(spec: Mapping[str, Any]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    for kind in ROUTE_KINDS:
        if spec.get(kind):
            yield kind, spec[kind]


def _route_port(body: Mapping[str, Any]) -> int | None:
    port = (body.get("match") or {}).get("port")
    return int(port) if port is not None else None


# ---- ports and weights ----------------------------------------------------------------------------
def _unreachable_listener_ports(snapshot: MeshSnapshot) -> Iterator[Finding]:
    """Router and gateway listener ports that no route (or gateway route) matches."""
    owners = (
        ("virtualRouter", "route", snapshot.virtual_routers, snapshot.routes),
        ("virtualGateway", "gateway route", snapshot.virtual_gateways, snapshot.gateway_routes),
    )
    for kind, route_word, specs, children in owners:
        for owner, spec in sorted(specs.items()):
            routes = [body for route in (children.get(owner) or {}).values() for _, body in _route_bodies(route)]
            for index, item in enumerate(spec.get("listeners") or ()):
                port = (item.get("portMapping") or {}).get("port")
                if not any(_route_port(body) in (None, port) for body in routes):
                    yield Finding(
                        "unrouted-listener-port",
                        WARNING,
                        f"{kind}/{owner}",
                        f"spec.listeners[{index}].portMapping.port",
                        f"no {route_word} matches port {port}: requests on it get 404",
                    )


def _zero_weight_routes(snapshot: MeshSnapshot) -> Iterator[Finding]:
    for router, routes in sorted(snapshot.routes.items()):
        for route, spec in sorted(routes.items()):
            for kind, body in _route_bodies(spec):
                targets = (body.get("action") or {}).get("weightedTargets") or ()
                if targets and not any(int(target.get("weight") or 0) > 0 for target in targets):
                    yield Finding(
                        "all-weights-zero",
                        ERROR,
                        f"route/{router}/{route}",
                        f"spec.{kind}.action.weightedTargets",
                        "every target has weight 0: every request on this route gets 503",
                    )


# ---- TLS ---------------------------------------------------------------------------------------
def read_file_certificate(certificate: Mapping[str, Any]) -> str | None:
    """The leaf PEM of a `file` listener certificate readable on this machine, else None."""
    chain = (certificate.get("file") or {}).get("certificateChain")
    if not chain:
        return None
    try:
        return Path(chain).read_text()
    except OSError:
        return None


def _certificate_names(pem: str) -> tuple[list[str], str] | None:
    try:
        certificate = x509.load_pem_x509_certificate(pem.encode())
    except ValueError:
        return None
    try:
        names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        sans = [str(value) for value in names.get_values_for_type(x509.DNSName)]
        sans += [str(value) for value in names.get_values_for_type(x509.UniformResourceIdentifier)]
    except x509.ExtensionNotFound:
        sans = []
    return sans, certificate.issuer.rfc4514_string()


def _client_validations(spec: Mapping[str, Any]) -> Iterator[tuple[str, str | None, Mapping[str, Any]]]:
    """(field, backend service or None for the defaults, tls client policy) of a virtual node."""
    defaults = ((spec.get("backendDefaults") or {}).get("clientPolicy") or {}).get("tls")
    if defaults:
        yield "spec.backendDefaults.clientPolicy.tls", None, defaults
    for index, backend in enumerate(spec.get("backends") or ()):
        service = backend.get("virtualService") or {}
        tls = (service.get("clientPolicy") or {}).get("tls")
        if tls:
            yield f"spec.backends[{index}].virtualService.clientPolicy.tls", service.get("virtualServiceName"), tls


def _provider_nodes(snapshot: MeshSnapshot, service: str) -> list[str]:
    provider = (snapshot.virtual_services.get(service) or {}).get("provider") or {}
    node = (provider.get("virtualNode") or {}).get("virtualNodeName")
    if node:
        return [node]
    router = (provider.get("virtualRouter") or {}).get("virtualRouterName")
    targets = {
        target.get("virtualNode")
        for route in (snapshot.routes.get(router) or {}).values()
        for _, body in _route_bodies(route)
        for target in (body.get("action") or {}).get("weightedTargets") or ()
    }
    return sorted(name for name in targets if name)


def _san_allowed(san: str, match: Mapping[str, Any]) -> bool:
    return san in (match.get("exact") or ())


def _tls_mismatches(snapshot: MeshSnapshot, certificate_pem: CertificateLookup) -> Iterator[Finding]:
    for client, spec in sorted(snapshot.virtual_nodes.items()):
        backends = [
            (backend.get("virtualService") or {}).get("virtualServiceName") for backend in spec.get("backends") or ()
        ]
        for field, only, policy in _client_validations(spec):
            for service in [only] if only else [name for name in backends if name]:
                for server in _provider_nodes(snapshot, service):
                    yield from _check_server(snapshot, client, field, service, server, policy, certificate_pem)


def _check_server(
    snapshot: MeshSnapshot,
    client: str,
    field: str,
    service: str,
    server: str,
    policy: Mapping[str, Any],
    certificate_pem: CertificateLookup,
) -> Iterator[Finding]:
    for index, listener in enumerate((snapshot.virtual_nodes.get(server) or {}).get("listeners") or ()):
        tls = listener.get("tls") or {}
        if policy.get("enforce", True) and (not tls or tls.get("mode") == "DISABLED"):
            yield Finding(
                "tls-enforced-plaintext",
                ERROR,
                f"virtualNode/{client}",
                f"{field}.enforce",
                f"TLS is enforced towards {service}, but virtual node {server} listener "
                f"{(listener.get('portMapping') or {}).get('port')} does not serve TLS: the handshake fails",
            )
            continue
        match = ((policy.get("validation") or {}).get("subjectAlternativeNames") or {}).get("match")
        pem = certificate_pem(tls.get("certificate") or {}) if tls else None
        names = _certificate_names(pem) if pem else None
        if not match or names is None:
            continue
        sans, _issuer = names
        if not any(_san_allowed(san, match) for san in sans):
            yield Finding(
                "tls-san-mismatch",
                ERROR,
                f"virtualNode/{client}",
                f"{field}.validation.subjectAlternativeNames.match.exact",
                f"virtual node {server} (listener {index}) presents {sans or 'no SANs'}, none of which is allowed "
                f"({list(match.get('exact') or ())}): every TLS connection to {service} fails",
            )


# ---- generated configuration -----------------------------------------------------------------
def _shadowed_routes(snapshot: MeshSnapshot, proxies: ProxyResources) -> Iterator[Finding]:
    """Routes Envoy can never reach: an earlier route in the same virtual host matches all they match."""
    seen: set[tuple[str, str, str]] = set()
    for (kind, proxy), resources in sorted(proxies.items()):
        for config in (resources.get(ROUTE_CONFIGURATION) or {}).values():
            if not isinstance(config, route_pb2.RouteConfiguration):
                continue
            for vhost in config.virtual_hosts:
                for later_index, later in enumerate(vhost.routes):
                    for earlier in vhost.routes[:later_index]:
                        if earlier.name == later.name or not _covers(earlier.match, later.match):
                            continue
                        owner = _route_owner(snapshot, kind, proxy, vhost.name, later.name)
                        if owner is None or (owner[0], later.name, earlier.name) in seen:
                            break
                        seen.add((owner[0], later.name, earlier.name))
                        yield Finding(
                            "shadowed-route",
                            WARNING,
                            owner[0],
                            owner[1],
                            f"never matched: the earlier route {earlier.name} ({_describe(earlier.match)}) "
                            f"matches everything it would ({_describe(later.match)})",
                        )
                        break


def _covers(earlier: rc.RouteMatch, later: rc.RouteMatch) -> bool:
    """Does every request `later` matches also match `earlier`? (conservative: False when unsure)"""
    if earlier.headers or earlier.query_parameters or earlier.HasField("grpc"):
        extra = [header for header in earlier.headers if header not in later.headers]
        extra_query = [query for query in earlier.query_parameters if query not in later.query_parameters]
        if extra or extra_query or (earlier.HasField("grpc") and not later.HasField("grpc")):
            return False
    if earlier.HasField("case_sensitive") != later.HasField("case_sensitive"):
        return False
    kind = earlier.WhichOneof("path_specifier")
    later_kind = later.WhichOneof("path_specifier")
    if kind == "prefix":
        if later_kind == "prefix":
            return later.prefix.startswith(earlier.prefix)
        if later_kind == "path":
            return later.path.startswith(earlier.prefix)
        return earlier.prefix == "/" and later_kind == "safe_regex"
    if kind == "path" and later_kind == "path":
        return earlier.path == later.path
    return False


def _describe(match: rc.RouteMatch) -> str:
    kind = match.WhichOneof("path_specifier")
    value = match.safe_regex.regex if kind == "safe_regex" else getattr(match, str(kind), "")
    extra = " with conditions" if match.headers or match.query_parameters else ""
    return f"{kind} {value!r}{extra}"


def _route_owner(snapshot: MeshSnapshot, kind: str, proxy: str, vhost: str, route: str) -> tuple[str, str] | None:
    """(resource, field) of the App Mesh route that became Envoy route `route` in virtual host `vhost`."""
    if kind == "virtualGateway" and route in (snapshot.gateway_routes.get(proxy) or {}):
        spec = snapshot.gateway_routes[proxy][route]
        field = next((f"spec.{name}.match" for name, _ in _route_bodies(spec)), "spec")
        return f"gatewayRoute/{proxy}/{route}", field
    provider = (snapshot.virtual_services.get(vhost) or {}).get("provider") or {}
    router = (provider.get("virtualRouter") or {}).get("virtualRouterName")
    if router and route in (snapshot.routes.get(router) or {}):
        spec = snapshot.routes[router][route]
        field = next((f"spec.{name}.match" for name, _ in _route_bodies(spec)), "spec")
        return f"route/{router}/{route}", field
    return None


def _nacked_proxies(proxy_status: Iterable[Mapping[str, Any]]) -> Iterator[Finding]:
    """Proxies whose last update Envoy refused: they keep serving their previous configuration."""
    for proxy in proxy_status:
        for short, state in sorted((proxy.get("types") or {}).items()):
            nack = state.get("last_nack")
            if nack and nack.get("version") != state.get("acked_version"):
                yield Finding(
                    "nacked-proxy",
                    ERROR,
                    f"{proxy.get('kind')}/{proxy.get('name')}",
                    short,
                    f"Envoy refused version {nack.get('version')} and still serves "
                    f"{state.get('acked_version') or 'nothing'}: {str(nack.get('message') or '')[:300]}",
                )
