"""Mesh snapshot → MeshIR, with a memo so an unchanged part of the mesh yields the same objects.

Memo entries are keyed by resource name and hold the inputs they were computed from;
an entry is reused when the inputs compare equal (dict equality, cheap in C) and every
dependency it looked up is still the identical object. Reuse keeps object identity,
which lets `xds.build` skip rebuilding protobufs for unchanged proxies in O(1).

Given what changed since the previous translation (`MeshChanges`), the translator does not even
look at the rest: the dependency index (`translate.dependencies`), filled while translating,
names the services and proxies a change reaches, and only those are translated again (through
the same memo); every other proxy keeps its previous IR object without a look. The mesh's
problems and failures are kept per service and per proxy and summed incrementally, so a change
costs what it reaches, not what the mesh holds (docs/performance.md).
"""

from __future__ import annotations

import weakref
from bisect import bisect_left, insort
from types import MappingProxyType
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence, overload

from appmesh_local.ir import MeshIR, ProxyFailure, ProxyIR, RetryPolicy, VirtualHost
from appmesh_local.store.records import VIRTUAL_GATEWAY, VIRTUAL_NODE, MeshSnapshot
from appmesh_local.translate.changes import MeshChanges
from appmesh_local.translate.cloudmap import CloudMapLookup, discover
from appmesh_local.translate.dependencies import DependencyIndex, ProxyIdent
from appmesh_local.translate.egress_patch import patched_egress, same_shape
from appmesh_local.translate.failure import ResourceFailure
from appmesh_local.translate.gateway import gateway_proxy, gateway_targets
from appmesh_local.translate.node import (
    EgressRecipe,
    NodeIngress,
    backend_names,
    egress_virtual_host,
    node_ingress,
    node_proxy,
)
from appmesh_local.translate.options import TranslateOptions
from appmesh_local.translate.retries import DEFAULT_RETRY
from appmesh_local.translate.services import ServicePort, ServiceView, node_service, router_service
from appmesh_local.translate.targets import NodeTarget, node_target

# What a memo entry was computed from: compared with `==` (specs are frozen dicts) on the next run.
MemoKey = tuple[object, ...]
# How a backend's view compares with the one a proxy was made from (`_Run._compared`).
_EQUAL, _ROUTES_DIFFER, _DIFFERENT = 0, 1, 2
_KIND_ORDER = {VIRTUAL_NODE: 0, VIRTUAL_GATEWAY: 1}  # MeshIR lists nodes first, then gateways, each by name


def proxy_order(ident: ProxyIdent) -> tuple[int, str]:
    """The position of a proxy in `MeshIR.proxies` (virtual nodes by name, then virtual gateways)."""
    return (_KIND_ORDER.get(ident[0], 2), ident[1])


def _in_proxy_order(idents: Iterable[ProxyIdent]) -> list[ProxyIdent]:
    """`sorted(idents, key=proxy_order)`, the virtual nodes (most) sorted as plain tuples."""
    idents = list(idents)
    return sorted([i for i in idents if i[0] == VIRTUAL_NODE]) + sorted(
        [i for i in idents if i[0] != VIRTUAL_NODE], key=proxy_order
    )


class _ProxyList(Sequence[ProxyIR]):
    """`MeshIR.proxies` in order, made into a tuple only when someone reads it: the bridge reads
    the changed proxies through `Translator.current`, so a 10,000-node mesh's change does not pay
    for listing all of them. It shares the translator's map of proxies; before the next translation
    changes that map, the translator makes a list it still reaches into its own tuple (`settle`),
    so later translations never show through, and a list nobody holds any more costs nothing."""

    def __init__(self, idents: list[ProxyIdent], proxies: dict[ProxyIdent, ProxyIR]) -> None:
        self._idents: list[ProxyIdent] | None = idents
        self._proxies: dict[ProxyIdent, ProxyIR] | None = proxies
        self._items: tuple[ProxyIR, ...] | None = None

    def settle(self) -> None:
        """Stop depending on the translator's map (it is about to change)."""
        self._all()

    def _all(self) -> tuple[ProxyIR, ...]:
        if self._items is None:
            assert self._idents is not None and self._proxies is not None
            self._items = tuple(filter(None, map(self._proxies.get, self._idents)))
            self._idents = self._proxies = None
        return self._items

    @overload
    def __getitem__(self, index: int) -> ProxyIR: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[ProxyIR]: ...

    def __getitem__(self, index: int | slice) -> ProxyIR | Sequence[ProxyIR]:
        return self._all()[index]

    def __len__(self) -> int:
        return len(self._all())

    def __iter__(self) -> Iterator[ProxyIR]:
        return iter(self._all())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, (tuple, _ProxyList)):
            return self._all() == tuple(other)
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self._all())

    def __repr__(self) -> str:
        return repr(self._all())


def _share(
    todo: list[ProxyIdent], first: Callable[[ProxyIdent], bool] | None, budget: int | None
) -> tuple[list[ProxyIdent], set[ProxyIdent]]:
    """(what to translate now, in order; what to leave) for a `budget` (None: everything now; at
    least one proxy is done per call, so rounds always end)."""
    if budget is None or len(todo) <= budget:
        return todo, set()
    budget = max(budget, 1)
    picked = [i for i in todo if first(i)] if first is not None else []
    chosen = set(picked)
    others = [i for i in todo if i not in chosen]
    now = sorted(picked + others[:budget], key=proxy_order)
    return now, set(others[budget:])


class _Outcome:
    """The translator's running answer for one mesh: each proxy's IR or failure, each service's and
    proxy's problems (counted, so the mesh's sorted problem list is recomputed only when it changes),
    and the dependency index. Rebuilt from nothing by a full translation."""

    def __init__(self) -> None:
        self.index = DependencyIndex()
        self.proxies: dict[ProxyIdent, ProxyIR] = {}
        self.failures: dict[ProxyIdent, ProxyFailure] = {}
        # Every proxy translated or failed, per kind, sorted (the same kind sorts by name).
        self.order: dict[str, list[ProxyIdent]] = {VIRTUAL_NODE: [], VIRTUAL_GATEWAY: []}
        self.hosts: dict[str, tuple[str, ...]] = {}
        self.failed_services: set[str] = set()
        self.pending: set[ProxyIdent] = set()  # proxies left for the next translation (a budget)
        self.pending_services: set[str] = set()  # services whose problems are not counted yet
        self._problems_of: dict[object, tuple[str, ...]] = {}  # service name or proxy ident → its problems
        self._counts: dict[str, int] = {}
        self._sorted: tuple[str, ...] | None = ()

    def set_problems(self, owner: object, problems: tuple[str, ...]) -> None:
        old = self._problems_of.get(owner, ())
        if old == problems:
            return
        counts = self._counts
        for problem in dict.fromkeys(old):
            left = counts[problem] - 1
            if left:
                counts[problem] = left
            else:
                del counts[problem]
                self._sorted = None
        for problem in dict.fromkeys(problems):
            if problem not in counts:
                self._sorted = None
            counts[problem] = counts.get(problem, 0) + 1
        if problems:
            self._problems_of[owner] = problems
        else:
            self._problems_of.pop(owner, None)

    def problems(self) -> tuple[str, ...]:
        if self._sorted is None:
            self._sorted = tuple(sorted(self._counts))
        return self._sorted

    def place(self, ident: ProxyIdent) -> None:
        """Put `ident` in `order` if it is not there: it is exactly when it has an IR or a failure."""
        if ident in self.proxies or ident in self.failures:
            return
        order = self.order[ident[0]]
        at = bisect_left(order, ident)
        if at == len(order) or order[at] != ident:
            insort(order, ident)

    def remove(self, ident: ProxyIdent) -> None:
        self.proxies.pop(ident, None)
        self.failures.pop(ident, None)
        self.set_problems(ident, ())
        self.index.proxy_services.discard(ident)
        order = self.order[ident[0]]
        at = bisect_left(order, ident)
        if at < len(order) and order[at] == ident:
            del order[at]

    def idents(self) -> list[ProxyIdent]:
        return self.order[VIRTUAL_NODE] + self.order[VIRTUAL_GATEWAY]


class Translator:
    """Translates successive snapshots of one mesh, reusing results whose inputs did not change."""

    def __init__(self, options: TranslateOptions | None = None, cloud_map: CloudMapLookup | None = None) -> None:
        """`cloud_map` answers DiscoverInstances for Cloud Map nodes (None: no endpoints)."""
        self.options = options or TranslateOptions()
        self.cloud_map = cloud_map
        self._targets: dict[str, tuple[MemoKey, NodeTarget]] = {}
        self._services: dict[str, tuple[MemoKey, tuple[tuple[str, NodeTarget | None], ...], ServiceView]] = {}
        self._proxies: dict[tuple[str, str], tuple[MemoKey, ProxyIR]] = {}
        self._vhosts: dict[str, dict[int, tuple[ServicePort | None, VirtualHost]]] = {}
        self._ingress: dict[str, tuple[MemoKey, NodeIngress]] = {}
        self._recipes: dict[str, EgressRecipe] = {}  # per virtual node: how its egress was assembled
        self._backends: dict[str, tuple[Mapping[str, Any], tuple[str, ...]]] = {}  # node → (spec, backend names)
        self._outcome: _Outcome | None = None  # None: the next translation is a full one
        self._handed: weakref.ref[_ProxyList] | None = None  # the last result's proxies (they share our map)
        # Virtual nodes a change reached whose target view was not computed again since: never trusted.
        self._unverified: set[str] = set()

    @property
    def current(self) -> Mapping[ProxyIdent, ProxyIR]:
        """Each proxy's IR as of the last translation (read-only; valid until the next one)."""
        return MappingProxyType(self._outcome.proxies if self._outcome is not None else {})

    def virtual_host(self, service: str, port: int, sp: ServicePort | None) -> VirtualHost:
        """One shared egress VirtualHost per (service, port) while the service's view is unchanged.

        Every client of a service gets the identical object, so the builder builds and
        encodes it once; `sp` is held by the entry, so the identity check cannot be fooled.
        """
        ports = self._vhosts.get(service)
        if ports is None:
            ports = self._vhosts[service] = {}
        cached = ports.get(port)
        if cached is not None and cached[0] is sp:
            return cached[1]
        vhost = egress_virtual_host(service, port, sp)
        ports[port] = (sp, vhost)
        return vhost

    def translate(
        self,
        snapshot: MeshSnapshot,
        host_instances: Mapping[str, tuple[str, ...]] | None = None,
        changes: MeshChanges | None = None,
        first: Callable[[ProxyIdent], bool] | None = None,
        budget: int | None = None,
    ) -> MeshIR:
        """The mesh's proxies; one that cannot be translated is left out, with the reason, in `failures`.

        `host_instances`: virtual node name → task addresses of its host-mode instances (sorted).
        `changes`: what changed since this translator's previous call for the same mesh (None: unknown,
        translate everything). The result's `changed` names the proxies whose IR or failure may differ
        from the previous result (None after a full translation).

        `budget`: translate at most this many of the proxies to do (beside those `first` picks, which are
        always done) and leave the rest for the next call, which does them whatever its `changes`
        (`MeshIR.incomplete` says some are left). A full translation is split so only on a translator's
        first call (a server starting): the proxies whose Envoys are connected come first."""
        hosts = dict(host_instances or {})
        handed = self._handed() if self._handed is not None else None
        if handed is not None:
            handed.settle()  # someone still holds the last result: it keeps what it saw
        self._handed = None
        outcome = self._outcome
        if outcome is None or changes is None or changes.whole_mesh:
            return self._translate_all(snapshot, hosts, first, budget if outcome is None else None)
        hosts_changed = {n for n in hosts.keys() | outcome.hosts.keys() if hosts.get(n) != outcome.hosts.get(n)}
        services, proxies, nodes = outcome.index.affected(changes, hosts_changed)
        services |= outcome.failed_services
        proxies |= outcome.failures.keys()
        proxies |= outcome.pending
        self._unverified |= nodes
        # Everything else is unchanged by construction: its memo entries are taken without a check.
        run = _Run(self, snapshot, hosts, outcome.index, services)
        outcome.hosts = hosts
        self._forget_deleted(snapshot, nodes, services)
        now, outcome.pending = _share(_in_proxy_order(proxies), first, budget)
        changed: set[ProxyIdent] = set()
        for ident in now:
            if self._translate_proxy(run, outcome, ident):
                changed.add(ident)
        if not outcome.pending:
            services |= outcome.pending_services
            outcome.pending_services = set()
        for vs in sorted(services):
            self._translate_service(run, outcome, vs)
        return self._result(snapshot, outcome, frozenset(changed))

    def _translate_all(
        self,
        snapshot: MeshSnapshot,
        hosts: dict[str, tuple[str, ...]],
        first: Callable[[ProxyIdent], bool] | None = None,
        budget: int | None = None,
    ) -> MeshIR:
        """Everything, from the memo: each proxy, then each service (for the problems of unused ones).
        With a `budget`, only part of it (see `translate`)."""
        outcome = self._outcome = _Outcome()
        outcome.hosts = hosts
        self._backends.clear()  # the index is new: every node relates its backends to it again
        self._unverified.clear()
        run = _Run(self, snapshot, hosts, outcome.index)
        idents = [(VIRTUAL_NODE, n) for n in sorted(snapshot.virtual_nodes)]
        idents += [(VIRTUAL_GATEWAY, n) for n in sorted(snapshot.virtual_gateways)]
        now, outcome.pending = _share(idents, first, budget)
        for ident in now:
            self._translate_proxy(run, outcome, ident)
        if outcome.pending:
            outcome.pending_services = set(snapshot.virtual_services)
        else:
            for vs in sorted(snapshot.virtual_services):
                self._translate_service(run, outcome, vs)
        self._forget(snapshot)
        return self._result(snapshot, outcome, None)

    def _translate_proxy(self, run: _Run, outcome: _Outcome, ident: ProxyIdent) -> bool:
        """Translate one proxy into `outcome`; True when its IR object or its failure changed."""
        kind, name = ident
        specs = run.s.virtual_nodes if kind == VIRTUAL_NODE else run.s.virtual_gateways
        if name not in specs:
            had = ident in outcome.proxies or ident in outcome.failures
            outcome.remove(ident)
            self._proxies.pop(ident, None)
            if kind == VIRTUAL_NODE:
                self._recipes.pop(name, None)
                self._backends.pop(name, None)
            return had
        outcome.place(ident)
        build = run.node_proxy if kind == VIRTUAL_NODE else run.gateway_proxy
        try:
            proxy = build(name)
        except Exception as exc:  # noqa: BLE001 - one bad resource fails its users, not the mesh
            dropped = outcome.proxies.pop(ident, None)
            outcome.set_problems(ident, ())
            failure = ProxyFailure(kind, name, ResourceFailure.wrap(f"{kind} {name}", exc).reason)
            before = outcome.failures.get(ident)
            outcome.failures[ident] = failure
            return dropped is not None or before != failure
        failed = outcome.failures.pop(ident, None)
        proxies = outcome.proxies
        before_ir = proxies.get(ident)
        proxies[ident] = proxy
        outcome.set_problems(ident, proxy.problems)
        return proxy is not before_ir or failed is not None

    def _translate_service(self, run: _Run, outcome: _Outcome, vs: str) -> None:
        """A service's own problems (a service no proxy uses still reports them)."""
        if vs not in run.s.virtual_services:
            outcome.set_problems(vs, ())
            outcome.failed_services.discard(vs)
            return
        try:
            problems = run.service(vs).problems
        except ResourceFailure as failure:
            outcome.failed_services.add(vs)
            outcome.set_problems(vs, (f"cannot translate {failure.reason}",))
            return
        outcome.failed_services.discard(vs)
        outcome.set_problems(vs, problems)

    def _hand_out(self, proxies: _ProxyList) -> _ProxyList:
        self._handed = weakref.ref(proxies)
        return proxies

    def _result(self, snapshot: MeshSnapshot, outcome: _Outcome, changed: frozenset[ProxyIdent] | None) -> MeshIR:
        return MeshIR(
            account=snapshot.account,
            region=snapshot.region,
            mesh=snapshot.name,
            revision=snapshot.revision,
            proxies=self._hand_out(_ProxyList(outcome.idents(), outcome.proxies)),
            problems=outcome.problems(),
            failures=tuple(outcome.failures[i] for i in sorted(outcome.failures, key=proxy_order)),
            changed=changed,
            incomplete=bool(outcome.pending),
        )

    def _forget_deleted(self, snapshot: MeshSnapshot, nodes: Iterable[str], services: Iterable[str]) -> None:
        """Drop memo and index entries of the nodes and services among those a change reached that
        no longer exist (the incremental `_forget`; deleted proxies go in `_translate_proxy`)."""
        assert self._outcome is not None
        index = self._outcome.index
        for name in nodes:
            if name not in snapshot.virtual_nodes:
                self._targets.pop(name, None)
                self._ingress.pop(name, None)
                index.node_cloud_map.discard(name)
        for name in services:
            if name not in snapshot.virtual_services:
                self._services.pop(name, None)
                self._vhosts.pop(name, None)
                index.service_nodes.discard(name)
                index.service_router.discard(name)

    def _forget(self, snapshot: MeshSnapshot) -> None:
        """Drop memo entries of deleted resources so the memo tracks the mesh's size."""
        for name in [n for n in self._targets if n not in snapshot.virtual_nodes]:
            del self._targets[name]
        for name in [n for n in self._services if n not in snapshot.virtual_services]:
            del self._services[name]
        for service in [k for k in self._vhosts if k not in snapshot.virtual_services]:
            del self._vhosts[service]
        for name in [n for n in self._ingress if n not in snapshot.virtual_nodes]:
            del self._ingress[name]
        for name in [n for n in self._recipes if n not in snapshot.virtual_nodes]:
            del self._recipes[name]
        for name in [n for n in self._backends if n not in snapshot.virtual_nodes]:
            del self._backends[name]
        live = {(VIRTUAL_NODE, n) for n in snapshot.virtual_nodes} | {
            (VIRTUAL_GATEWAY, n) for n in snapshot.virtual_gateways
        }
        for ident in [k for k in self._proxies if k not in live]:
            del self._proxies[ident]


class _Run:
    """One translation: per-call caches over the translator's memo."""

    def __init__(
        self,
        translator: Translator,
        snapshot: MeshSnapshot,
        host_instances: Mapping[str, tuple[str, ...]],
        index: DependencyIndex,
        reached: set[str] | None = None,
    ) -> None:
        """`reached`: the services a change reached, in an incremental run; the memo entries of all
        other services, and of the target nodes not in the translator's `_unverified`, are used
        without comparing their inputs (nothing they read changed: the dependency index says so).
        None: check every entry (a full run)."""
        self.t = translator
        self.index = index
        self.reached = reached
        self.s = snapshot
        self.host_instances = host_instances
        self.mesh = snapshot.name
        self.mesh_spec: Mapping[str, Any] = snapshot.spec or {}
        self.default_retry: RetryPolicy | None = DEFAULT_RETRY if translator.options.default_retry_policy else None
        self._targets: dict[str, NodeTarget | None] = {}
        self._services: dict[str, ServiceView] = {}
        self._failed: dict[str, ResourceFailure] = {}  # per run: a shared resource fails once, for all users
        self._comparisons: dict[tuple[int, int], int] = {}  # see _compared

    def target(self, name: str) -> NodeTarget | None:
        if name in self._targets:
            return self._targets[name]
        if self.reached is not None and name not in self.t._unverified:
            cached = self.t._targets.get(name)
            if cached is not None:
                self._targets[name] = cached[1]
                return cached[1]
        try:
            with ResourceFailure.naming(f"virtualNode {name}", self._failed):
                return self._target(name)
        except ResourceFailure:
            self.t._targets.pop(name, None)  # a failed entry is never trusted (nor reused) later
            raise

    def _target(self, name: str) -> NodeTarget | None:
        spec = self.s.virtual_nodes.get(name)
        result = None
        if spec is None:
            self.index.node_cloud_map.discard(name)
        else:
            cloud_map = (spec.get("serviceDiscovery") or {}).get("awsCloudMap")
            self.index.node_cloud_map.relate(
                name,
                [(str(cloud_map.get("namespaceName", "")), str(cloud_map.get("serviceName", "")))] if cloud_map else [],
            )
            instances = discover(self.t.cloud_map, self.s.account, self.s.region, cloud_map) if cloud_map else ()
            hosts = self.host_instances.get(name, ())
            key = (self.mesh, self.mesh_spec, spec, instances, hosts)
            cached = self.t._targets.get(name)
            if cached is not None and cached[0] == key:
                result = cached[1]
            else:
                result = node_target(self.mesh, self.mesh_spec, name, spec, instances, hosts)
                self.t._targets[name] = (key, result)
        self.t._unverified.discard(name)
        self._targets[name] = result
        return result

    def service(self, name: str) -> ServiceView:
        if name in self._services:
            return self._services[name]
        if self.reached is not None and name not in self.reached:
            trusted = self.t._services.get(name)
            if trusted is not None:
                self._services[name] = trusted[2]
                return trusted[2]
        try:
            with ResourceFailure.naming(f"virtualService {name}", self._failed):
                return self._service(name)
        except ResourceFailure:
            self.t._services.pop(name, None)  # a failed entry is never trusted (nor reused) later
            raise

    def _service(self, name: str) -> ServiceView:
        spec = self.s.virtual_services.get(name)
        if spec is None:
            self.index.service_router.discard(name)
            self.index.service_nodes.discard(name)
            view = ServiceView(name=name, exists=False)
            self._services[name] = view
            return view
        provider = spec.get("provider") or {}
        router = (provider.get("virtualRouter") or {}).get("virtualRouterName")
        node = (provider.get("virtualNode") or {}).get("virtualNodeName")
        self.index.service_router.relate(name, [router] if router else [])
        if router:
            key: MemoKey = (
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
            self.index.service_nodes.relate(name, [n for n, _ in cached[1]])
        else:
            seen: dict[str, NodeTarget | None] = {}

            def lookup(node_name: str) -> NodeTarget | None:
                seen[node_name] = None  # read even if it fails: a fix to the node must reach this service
                seen[node_name] = self.target(node_name)
                return seen[node_name]

            try:
                view = self._build_service(name, router, node, lookup)
            finally:
                self.index.service_nodes.relate(name, seen)
            self.t._services[name] = (key, tuple(seen.items()), view)
        self._services[name] = view
        return view

    def _build_service(
        self, name: str, router: str | None, node: str | None, lookup: Callable[[str], NodeTarget | None]
    ) -> ServiceView:
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
        ident = (VIRTUAL_NODE, name)
        known = self.t._backends.get(name)  # emptied by a full translation: the index is new
        if known is not None and known[0] is spec:
            backends = known[1]
        else:
            backends = backend_names(spec)
            self.t._backends[name] = (spec, backends)
            self.index.proxy_services.relate(ident, backends)
        cached = self.t._proxies.get(ident)
        if cached is not None:
            reused = self._reused_node(name, ident, spec, cached)
            if reused is not None:
                return reused
        services = {vs: self.service(vs) for vs in backends}
        key = (self.mesh, self.mesh_spec, spec, self.t.options, tuple(services.items()))
        made: list[EgressRecipe] = []
        proxy = self._proxy(
            ident,
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
                made,
            ),
        )
        if made:
            self.t._recipes[name] = made[0]
        return proxy

    def _reused_node(
        self, name: str, ident: ProxyIdent, spec: Mapping[str, Any], cached: tuple[MemoKey, ProxyIR]
    ) -> ProxyIR | None:
        """The node's previous proxy when nothing it was translated from changed, or that proxy with
        its egress re-routed (`egress_patch`) when only backends' routes did; None: translate it.

        The hot path of a change every node reaches: each view is compared with the one the proxy
        was made from by identity, and distinct pairs (the same two objects for every client of a
        changed service) once per run."""
        recipe = self.t._recipes.get(name)
        old = cached[0]
        if recipe is None or not (
            (old[2] is spec or old[2] == spec)
            and (old[1] is self.mesh_spec or old[1] == self.mesh_spec)
            and old[0] == self.mesh
            and (old[3] is self.t.options or old[3] == self.t.options)
        ):
            return None
        # The spec is equal, so its backends are the ones the old views were read for, in order.
        old_views = old[4]
        assert isinstance(old_views, tuple)
        changed: dict[str, ServiceView] = {}
        views: list[tuple[str, ServiceView]] = []  # the memo key's (name, view) pairs if patched
        services = self._services  # this run's views (`service`), read directly: 5 lookups per node
        for pair in old_views:
            service, view = pair
            current = services.get(service) or self.service(service)
            if current is view:
                views.append(pair)  # the old pair, kept as it is
                continue
            how = self._compared(view, current)
            if how == _DIFFERENT:
                return None  # more than routes changed: its listeners or clusters may differ
            if how == _ROUTES_DIFFER:
                changed[service] = current
            views.append((service, current))
        if not changed:
            return cached[1]
        patched = patched_egress(cached[1], recipe, changed, self.t.virtual_host)
        if patched is not None:
            self.t._proxies[ident] = ((self.mesh, self.mesh_spec, spec, self.t.options, tuple(views)), patched)
        return patched

    def _compared(self, old: ServiceView, new: ServiceView) -> int:
        """_EQUAL, _ROUTES_DIFFER (the `same_shape`) or _DIFFERENT, once per distinct pair in a run."""
        # Both objects stay alive through the run (the memo holds the old, the run the new), so
        # their ids cannot be reused while this cache exists.
        key = (id(old), id(new))
        found = self._comparisons.get(key)
        if found is None:
            found = self._comparisons[key] = (
                _EQUAL if old == new else _ROUTES_DIFFER if same_shape(old, new) else _DIFFERENT
            )
        return found

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
        targets = gateway_targets(routes)
        self.index.proxy_services.relate((VIRTUAL_GATEWAY, name), targets)
        services = {vs: self.service(vs) for vs in targets}
        key = (self.mesh, spec, routes, self.t.options, tuple(services.items()))
        return self._proxy(
            (VIRTUAL_GATEWAY, name),
            key,
            lambda: gateway_proxy(self.mesh, name, spec, routes, services, self.t.options),
        )

    def _proxy(self, ident: tuple[str, str], key: MemoKey, build: Callable[[], ProxyIR]) -> ProxyIR:
        cached = self.t._proxies.get(ident)
        if cached is not None and cached[0] == key:
            return cached[1]
        proxy = build()
        self.t._proxies[ident] = (key, proxy)
        return proxy


def translate_mesh(
    snapshot: MeshSnapshot,
    options: TranslateOptions | None = None,
    cloud_map: CloudMapLookup | None = None,
    host_instances: Mapping[str, tuple[str, ...]] | None = None,
) -> MeshIR:
    """Translate one mesh snapshot to IR (a fresh memo each call)."""
    return Translator(options, cloud_map).translate(snapshot, host_instances)
