"""Mesh snapshot → MeshIR, with a memo so an unchanged part of the mesh yields the same objects.

Memo entries are keyed by resource name and hold the inputs they were computed from;
an entry is reused when the inputs compare equal (dict equality, cheap in C) and every
dependency it looked up is still the identical object. Reuse keeps object identity,
which lets `xds.build` skip rebuilding protobufs for unchanged proxies in O(1).
"""

from __future__ import annotations

from typing import Any, Mapping

from appmesh_local.ir import MeshIR, ProxyFailure, ProxyIR, RetryPolicy, VirtualHost
from appmesh_local.store.records import MeshSnapshot
from appmesh_local.translate.cloudmap import CloudMapLookup, discover
from appmesh_local.translate.failure import ResourceFailure
from appmesh_local.translate.gateway import gateway_proxy, gateway_targets
from appmesh_local.translate.node import NodeIngress, backend_names, egress_virtual_host, node_ingress, node_proxy
from appmesh_local.translate.options import TranslateOptions
from appmesh_local.translate.retries import DEFAULT_RETRY
from appmesh_local.translate.services import ServicePort, ServiceView, node_service, router_service
from appmesh_local.translate.targets import NodeTarget, node_target


class Translator:
    """Translates successive snapshots of one mesh, reusing results whose inputs did not change."""

    def __init__(self, options: TranslateOptions | None = None, cloud_map: CloudMapLookup | None = None) -> None:
        """`cloud_map` answers DiscoverInstances for Cloud Map nodes (None: no endpoints)."""
        self.options = options or TranslateOptions()
        self.cloud_map = cloud_map
        self._targets: dict[str, tuple[tuple, NodeTarget]] = {}
        self._services: dict[str, tuple[tuple, tuple[tuple[str, Any], ...], ServiceView]] = {}
        self._proxies: dict[tuple[str, str], tuple[tuple, ProxyIR]] = {}
        self._vhosts: dict[tuple[str, int], tuple[ServicePort | None, VirtualHost]] = {}
        self._ingress: dict[str, tuple[tuple, NodeIngress]] = {}

    def virtual_host(self, service: str, port: int, sp: ServicePort | None) -> VirtualHost:
        """One shared egress VirtualHost per (service, port) while the service's view is unchanged.

        Every client of a service gets the identical object, so the builder builds and
        encodes it once; `sp` is held by the entry, so the identity check cannot be fooled.
        """
        cached = self._vhosts.get((service, port))
        if cached is not None and cached[0] is sp:
            return cached[1]
        vhost = egress_virtual_host(service, port, sp)
        self._vhosts[(service, port)] = (sp, vhost)
        return vhost

    def translate(self, snapshot: MeshSnapshot) -> MeshIR:
        """The mesh's proxies; one that cannot be translated is left out, with the reason, in `failures`."""
        run = _Run(self, snapshot)
        proxies: list[ProxyIR] = []
        failures: list[ProxyFailure] = []
        builds = [("virtualNode", n, run.node_proxy) for n in sorted(snapshot.virtual_nodes)]
        builds += [("virtualGateway", n, run.gateway_proxy) for n in sorted(snapshot.virtual_gateways)]
        for kind, name, build in builds:
            try:
                proxies.append(build(name))
            except Exception as exc:  # noqa: BLE001 - one bad resource fails its users, not the mesh
                failures.append(ProxyFailure(kind, name, ResourceFailure.wrap(f"{kind} {name}", exc).reason))
        problems: dict[str, None] = {}
        for vs in sorted(snapshot.virtual_services):
            try:
                problems.update(dict.fromkeys(run.service(vs).problems))
            except ResourceFailure as failure:
                problems[f"cannot translate {failure.reason}"] = None
        for proxy in proxies:
            problems.update(dict.fromkeys(proxy.problems))
        self._forget(snapshot)
        return MeshIR(
            account=snapshot.account,
            region=snapshot.region,
            mesh=snapshot.name,
            revision=snapshot.revision,
            proxies=tuple(proxies),
            problems=tuple(sorted(problems)),
            failures=tuple(failures),
        )

    def _forget(self, snapshot: MeshSnapshot) -> None:
        """Drop memo entries of deleted resources so the memo tracks the mesh's size."""
        for name in [n for n in self._targets if n not in snapshot.virtual_nodes]:
            del self._targets[name]
        for name in [n for n in self._services if n not in snapshot.virtual_services]:
            del self._services[name]
        for key in [k for k in self._vhosts if k[0] not in snapshot.virtual_services]:
            del self._vhosts[key]
        for name in [n for n in self._ingress if n not in snapshot.virtual_nodes]:
            del self._ingress[name]
        live = {("virtualNode", n) for n in snapshot.virtual_nodes} | {
            ("virtualGateway", n) for n in snapshot.virtual_gateways
        }
        for key in [k for k in self._proxies if k not in live]:
            del self._proxies[key]


class _Run:
    """One translation: per-call caches over the translator's memo."""

    def __init__(self, translator: Translator, snapshot: MeshSnapshot) -> None:
        self.t = translator
        self.s = snapshot
        self.mesh = snapshot.name
        self.mesh_spec: Mapping[str, Any] = snapshot.spec or {}
        self.default_retry: RetryPolicy | None = DEFAULT_RETRY if translator.options.default_retry_policy else None
        self._targets: dict[str, NodeTarget | None] = {}
        self._services: dict[str, ServiceView] = {}
        self._failed: dict[str, ResourceFailure] = {}  # per run: a shared resource fails once, for all users

    def target(self, name: str) -> NodeTarget | None:
        if name in self._targets:
            return self._targets[name]
        with ResourceFailure.naming(f"virtualNode {name}", self._failed):
            return self._target(name)

    def _target(self, name: str) -> NodeTarget | None:
        spec = self.s.virtual_nodes.get(name)
        result = None
        if spec is not None:
            cloud_map = (spec.get("serviceDiscovery") or {}).get("awsCloudMap")
            instances = discover(self.t.cloud_map, self.s.account, self.s.region, cloud_map) if cloud_map else ()
            key = (self.mesh, self.mesh_spec, spec, instances)
            cached = self.t._targets.get(name)
            if cached is not None and cached[0] == key:
                result = cached[1]
            else:
                result = node_target(self.mesh, self.mesh_spec, name, spec, instances)
                self.t._targets[name] = (key, result)
        self._targets[name] = result
        return result

    def service(self, name: str) -> ServiceView:
        if name in self._services:
            return self._services[name]
        with ResourceFailure.naming(f"virtualService {name}", self._failed):
            return self._service(name)

    def _service(self, name: str) -> ServiceView:
        spec = self.s.virtual_services.get(name)
        if spec is None:
            view = ServiceView(name=name, exists=False)
            self._services[name] = view
            return view
        provider = spec.get("provider") or {}
        router = (provider.get("virtualRouter") or {}).get("virtualRouterName")
        node = (provider.get("virtualNode") or {}).get("virtualNodeName")
        if router:
            key: tuple = (
                "router",
                self.mesh,
                spec,
                router,
                self.s.virtual_routers.get(router),
                self.s.routes.get(router) or {},
                self.default_retry,
            )
        else:
            key = ("node", self.mesh, spec, node, self.default_retry)
        cached = self.t._services.get(name)
        if cached is not None and cached[0] == key and all(self.target(n) is t for n, t in cached[1]):
            view = cached[2]
        else:
            seen: dict[str, Any] = {}

            def lookup(node_name: str) -> NodeTarget | None:
                seen[node_name] = self.target(node_name)
                return seen[node_name]

            view = self._build_service(name, router, node, lookup)
            self.t._services[name] = (key, tuple(seen.items()), view)
        self._services[name] = view
        return view

    def _build_service(self, name: str, router: str | None, node: str | None, lookup) -> ServiceView:
        if router:
            router_spec = self.s.virtual_routers.get(router)
            if router_spec is None:
                return ServiceView(
                    name=name,
                    exists=True,
                    problems=(f"virtual service {name}: provider virtual router {router} does not exist",),
                )
            return router_service(
                name, router, router_spec, self.s.routes.get(router) or {}, lookup, self.default_retry
            )
        if node:
            return node_service(name, lookup(node), node, self.default_retry)
        return ServiceView(name=name, exists=True)

    def node_proxy(self, name: str) -> ProxyIR:
        spec = self.s.virtual_nodes[name]
        services = {vs: self.service(vs) for vs in backend_names(spec)}
        key = (self.mesh, self.mesh_spec, spec, self.t.options, tuple(services.items()))
        return self._proxy(
            ("virtualNode", name),
            key,
            lambda: node_proxy(
                self.mesh,
                self.mesh_spec,
                name,
                spec,
                services,
                self.t.options,
                self.t.virtual_host,
                self.node_ingress(name, spec),
            ),
        )

    def node_ingress(self, name: str, spec: Mapping[str, Any]) -> NodeIngress:
        """The node's ingress, reused while its own spec (and the mesh's) is unchanged."""
        key = (self.mesh, self.mesh_spec, spec, self.t.options)
        cached = self.t._ingress.get(name)
        if cached is not None and cached[0] == key:
            return cached[1]
        ingress = node_ingress(self.mesh, self.mesh_spec, name, spec, self.t.options)
        self.t._ingress[name] = (key, ingress)
        return ingress

    def gateway_proxy(self, name: str) -> ProxyIR:
        spec = self.s.virtual_gateways[name]
        routes = self.s.gateway_routes.get(name) or {}
        services = {vs: self.service(vs) for vs in gateway_targets(routes)}
        key = (self.mesh, spec, routes, self.t.options, tuple(services.items()))
        return self._proxy(
            ("virtualGateway", name),
            key,
            lambda: gateway_proxy(self.mesh, name, spec, routes, services, self.t.options),
        )

    def _proxy(self, ident: tuple[str, str], key: tuple, build) -> ProxyIR:
        cached = self.t._proxies.get(ident)
        if cached is not None and cached[0] == key:
            return cached[1]
        proxy = build()
        self.t._proxies[ident] = (key, proxy)
        return proxy


def translate_mesh(
    snapshot: MeshSnapshot, options: TranslateOptions | None = None, cloud_map: CloudMapLookup | None = None
) -> MeshIR:
    """Translate one mesh snapshot to IR (a fresh memo each call)."""
    return Translator(options, cloud_map).translate(snapshot)
