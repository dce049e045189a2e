"""Mesh snapshot → MeshConfig: translate to IR, then build each proxy's Envoy resources.

`MeshConfigBuilder` keeps memos across builds of one mesh: the translator returns the
identical ProxyIR for unchanged proxies (their ProxyConfig is reused as is), and within a
changed proxy every resource whose IR compares equal keeps its previous message object.
Messages are shared between builds and must be treated as immutable.

Placements (host mode, docs/host-mode.md) add, for each wanted (kind, name, placement key), the
proxy placed by `translate.host.place_proxy`; the virtual nodes' placements are also their
host-mode instances, which their clients reach (the translator's `host_instances`).
"""

from __future__ import annotations

import json
import weakref
from functools import partial
from types import MappingProxyType
from typing import Any, Callable, Mapping, NamedTuple, Sequence

from envoy.config.route.v3 import route_pb2
from google.protobuf import json_format
from google.protobuf.message import Message

from appmesh_local.bridge.secrets import (
    Reference,
    SecretResolver,
    SecretSource,
    acm_references,
    cluster_references,
    listener_references,
)
from appmesh_local.envoy.cluster import build_cluster
from appmesh_local.envoy.endpoint import build_load_assignment
from appmesh_local.envoy.listener import build_listener
from appmesh_local.envoy.route import (
    build_route,
    encode_virtual_host,
    frame_virtual_host,
    route_configuration_parts,
)
from appmesh_local.ir import HttpRoute, ProxyIR, RouteConfig, VirtualHost
from appmesh_local.ir.names import DEFAULT_BIND_ADDRESS
from appmesh_local.ir.placement import HostPlacement
from appmesh_local.store.records import MeshSnapshot
from appmesh_local.translate import TranslateOptions, Translator
from appmesh_local.translate.changes import MeshChanges
from appmesh_local.translate.cloudmap import CloudMapLookup
from appmesh_local.translate.failure import ResourceFailure, describe
from appmesh_local.translate.host import place_proxy
from appmesh_local.translate.mesh import proxy_order
from appmesh_local.xds.proxy_config import (
    CLUSTER,
    CLUSTER_LOAD_ASSIGNMENT,
    LISTENER,
    ROUTE_CONFIGURATION,
    SECRET,
    ConfigDelta,
    MeshConfig,
    ProxyConfig,
    next_serial,
)
from appmesh_local.xds.snapshot import EncodedMessage, EncodedMessages, content_digest, parts_digest

_ResourceKey = tuple[str, str]  # type URL, resource name
_ProxyKey = tuple[str, str, str]  # kind, name, placement key ("" as App Mesh placed it)
PlacedProxy = tuple[str, str, str]  # a wanted (kind, name, placement key), placement key not empty
_NO_SECRETS: frozenset[str] = frozenset()  # pending ACM secrets of a proxy that names none (most)


def host_instances(placements: Sequence[PlacedProxy]) -> dict[str, tuple[str, ...]]:
    """Virtual node → the task addresses of its host-mode instances (sorted): where clients reach it."""
    found: dict[str, set[str]] = {}
    for kind, name, key in placements:
        placement = HostPlacement.from_key(key)
        if kind == "virtualNode" and placement is not None:
            found.setdefault(name, set()).add(placement.address)
    return {name: tuple(sorted(addresses)) for name, addresses in found.items()}


class _IdentityMemo:
    """Built messages (or encodings) keyed by the identity of their IR input, alive while that IR object is.

    IR routes, egress virtual hosts and clusters are shared by every proxy that reaches the
    same service, so one build serves them all; entries vanish when the translator's memo drops the IR.
    """

    def __init__(self, build: Callable[[Any], Any]) -> None:
        self._build = build
        self._entries: dict[int, tuple[weakref.ref[Any], Any]] = {}

    def __call__(self, ir: Any) -> Any:
        key = id(ir)
        entry = self._entries.get(key)
        if entry is not None and entry[0]() is ir:
            return entry[1]
        message = self._build(ir)
        entries = self._entries
        self._entries[key] = (weakref.ref(ir, lambda _ref: entries.pop(key, None)), message)
        return message

    def __len__(self) -> int:
        return len(self._entries)


class _Built(NamedTuple):
    """One proxy as last built: its IR, the ACM secrets pending then, its config, the ACM
    references its listeners and clusters make (`bridge.secrets.acm_references`)."""

    ir: ProxyIR
    pending: frozenset[str]
    config: ProxyConfig
    refs: tuple[Reference, ...]


class _AssembledRoutes(EncodedMessage):
    """A RouteConfiguration as this builder assembles it: the message the cache takes, and what the
    next build re-assembles it from (the IR it was made of, each virtual host's framed encoding and
    digest, in order). One object serves every proxy whose route configuration holds the same
    virtual hosts (the versions of one service), and each proxy's config holds it directly, so a
    proxy's previous route configurations are read from its previous config."""

    __slots__ = ("spec", "digests")

    def __init__(self, spec: RouteConfig, datas: Sequence[bytes], digests: tuple[str, ...]) -> None:
        super().__init__(
            route_pb2.RouteConfiguration,
            digest=parts_digest(ROUTE_CONFIGURATION, spec.name, digests),
            parts=route_configuration_parts(spec.name, datas),
        )
        self.spec = spec
        self.digests = digests

    @property
    def datas(self) -> tuple[bytes, ...]:
        """Each virtual host's framed encoding, in order: the message's parts after its name field."""
        parts = self._parts
        assert parts is not None  # always made from parts
        return parts[1:] if self.spec.name else parts


def _assembled_routes(config: ProxyConfig) -> Mapping[str, _AssembledRoutes]:
    """The route configurations of a config this builder made: every one is `_AssembledRoutes`."""
    routes = config.resources.get(ROUTE_CONFIGURATION)
    # (not `typing.cast`: a call per proxy on the hot path, for what the type checker alone needs)
    return routes.encoded if type(routes) is EncodedMessages else {}  # type: ignore[return-value]


class MeshConfigBuilder:
    """Builds MeshConfigs for successive snapshots of one mesh, reusing unchanged work."""

    def __init__(
        self,
        options: TranslateOptions | None = None,
        cloud_map: CloudMapLookup | None = None,
        secrets: SecretSource | None = None,
    ) -> None:
        """`secrets` resolves ACM ARNs into ADS-delivered Secrets (None: referenced, never resolved)."""
        self.translator = Translator(options, cloud_map)
        self._secrets = SecretResolver(secrets) if secrets is not None else None
        # Per proxy (and placed copy): how it was last built (`_Built`).
        self._proxies: dict[_ProxyKey, _Built] = {}
        # What the last MeshConfig held (built, or a failing proxy's last good config): App Mesh's
        # placements by (kind, name), placed copies by (kind, name, placement key).
        self._unplaced: dict[tuple[str, str], ProxyConfig] = {}
        self._placed_configs: dict[_ProxyKey, ProxyConfig] = {}
        self._build_failures: dict[_ProxyKey, str] = {}  # proxies the last build could not build
        self._secret_problems: dict[_ProxyKey, tuple[str, ...]] = {}  # ACM material missing, per proxy
        self._acm_users: set[_ProxyKey] = set()  # proxies that name ACM material (rebuilt when it changes)
        self._wanted_placed: frozenset[_ProxyKey] = frozenset()
        self._serial = 0  # of the last MeshConfig built (0: none yet)
        # Within one build: the proxies whose config object changed, and those left with none.
        self._changed: set[_ProxyKey] = set()
        self._removed: set[_ProxyKey] = set()
        # The last MeshConfig handed out: its maps are `_unplaced` and `_placed_configs` themselves
        # (copying 10,000 entries per change would cost more than the change), so the next build
        # copies them first if that config is still held by someone.
        self._handed: weakref.ref[MeshConfig] | None = None
        # Per proxy: (type URL, resource name) → (IR input, built message) of the types other than
        # route configurations (those are in the proxy's config: `_assembled_routes`).
        self._resources: dict[_ProxyKey, dict[_ResourceKey, tuple[Any, Any]]] = {}
        self._placed: dict[_ProxyKey, tuple[ProxyIR, ProxyIR]] = {}  # placed proxy → (its source IR, placed IR)
        self._routes = _IdentityMemo(build_route)
        self._clusters = _IdentityMemo(build_cluster)
        # Within one build: (name, virtual host objects) → the route configuration assembled from them.
        # Nodes with the same backends (the versions of one service: v1, v2) get the very same virtual
        # host objects from the translator, so one assembly, one digest and, in the cache, one packed
        # resource serve them all. Emptied after each build: it holds the virtual hosts.
        self._assembled: dict[tuple[str, tuple[int, ...]], _AssembledRoutes] = {}
        # An egress virtual host is shared by every client of its service: a failure names it (the service).
        self._vhosts = _IdentityMemo(
            lambda v: _attributed(
                f"virtual host {v.name}" if v.name != "*" else None, lambda: _encoded_virtual_host(v, self._routes)
            )
        )

    def build(
        self,
        snapshot: MeshSnapshot,
        placements: Sequence[PlacedProxy] = (),
        changes: MeshChanges | None = None,
        first: Callable[[tuple[str, str]], bool] | None = None,
        budget: int | None = None,
    ) -> MeshConfig:
        """Every proxy's config, and the placed copies wanted now (`placements`, host mode). A proxy that
        cannot be translated or built keeps its last good config (if it had one) and is reported in
        `failures`; the others are built as usual.

        `changes`: what changed since this builder's previous build (None: unknown). Only the proxies
        they reach are translated and built again (plus those whose placements came or went, every
        proxy that uses ACM material when `changes.secrets`, and any that failed last time); the
        result's `delta` names the proxies whose config object changed.

        `first` and `budget` split a big build into rounds (`Translator.translate`): the proxies `first`
        picks (those with a connected Envoy) and at most `budget` others are done now; `incomplete`
        on the result says the next call (whatever its `changes`) goes on with the rest."""
        mesh_ir = self.translator.translate(snapshot, host_instances(placements), changes, first, budget)
        if self._handed is not None and self._handed() is not None:
            self._unplaced, self._placed_configs = dict(self._unplaced), dict(self._placed_configs)
        self._handed = None
        current = self.translator.current
        wanted_placed = frozenset((kind, name, key) for kind, name, key in placements if key)
        if mesh_ir.changed is None or not self._serial:
            todo = {(kind, name, "") for kind, name in current}
            todo |= {(f.kind, f.name, "") for f in mesh_ir.failures}
            todo |= {(kind, name, "") for kind, name in self._unplaced}
            todo |= wanted_placed | self._placed_configs.keys() | self._proxies.keys()
        else:
            touched = set(mesh_ir.changed)
            if changes is not None and changes.secrets:
                touched.update(ident[:2] for ident in self._acm_users)
            touched.update(ident[:2] for ident in self._build_failures)
            touched.update(ident[:2] for ident in wanted_placed ^ self._wanted_placed)
            todo = {(kind, name, "") for kind, name in touched}
            todo.update(ident for ident in wanted_placed | self._wanted_placed if ident[:2] in touched)
        self._wanted_placed = wanted_placed
        self._changed, self._removed = set(), set()  # filled by `_set_config`
        self._build_failures = {}
        built: set[_ProxyKey] = set()
        for ident in sorted(todo):
            if self._build_one(ident, current, wanted_placed, snapshot):
                built.add(ident)
        self._assembled = {}
        failures = {(f.kind, f.name): f.reason for f in mesh_ir.failures}
        failures.update((ident[:2], reason) for ident, reason in self._build_failures.items())
        for ident in todo - built:
            kept = self._proxies.get(ident)
            self._secret_problems.pop(ident, None)
            if kept is not None and ident[:2] in failures and (not ident[2] or ident in wanted_placed):
                self._set_config(ident, kept.config)
                continue
            self._set_config(ident, None)
            self._proxies.pop(ident, None)
            self._resources.pop(ident, None)
            self._placed.pop(ident, None)
            self._acm_users.discard(ident)
        serial = next_serial()
        delta = (
            ConfigDelta(base=self._serial, changed=frozenset(self._changed), removed=frozenset(self._removed))
            if self._serial
            else None
        )
        self._serial = serial
        config = MeshConfig(
            account=snapshot.account,
            region=snapshot.region,
            mesh=snapshot.name,
            revision=snapshot.revision,
            proxies=MappingProxyType(self._unplaced),
            problems=tuple(dict.fromkeys(mesh_ir.problems + self._ordered_secret_problems())),
            failures=failures,
            placed=MappingProxyType(self._placed_configs),
            serial=serial,
            delta=delta,
            incomplete=mesh_ir.incomplete,
        )
        self._handed = weakref.ref(config)
        return config

    def _build_one(
        self,
        ident: _ProxyKey,
        current: Mapping[tuple[str, str], ProxyIR],
        wanted_placed: frozenset[_ProxyKey],
        snapshot: MeshSnapshot,
    ) -> bool:
        """Build one proxy (or placed copy) from its current IR; False when it has none or fails
        (the failure is in `_build_failures`)."""
        kind, name, key = ident
        source = current.get((kind, name))
        if source is None or (key and ident not in wanted_placed):
            return False
        try:
            proxy = self._place(source, ident, snapshot.name) if key else source
            cached = self._proxies.get(ident)
            # Only listeners and clusters name ACM material: a proxy whose listener and cluster tuples
            # are the ones it was built from (its egress re-routed, `translate.egress_patch`) names
            # what it named.
            same_parts = (
                cached is not None and cached.ir.listeners is proxy.listeners and cached.ir.clusters is proxy.clusters
            )
            secrets = self._secrets
            refs = () if secrets is None else cached.refs if same_parts and cached else acm_references(proxy)
            # ACM material can change (renewal, import) while the mesh does not: resolved at each build
            # of the proxy, and for every proxy that names ACM material when ACM changed. A proxy that
            # names none (most) has no secrets: nothing to resolve.
            resolved = secrets.resolve(refs, snapshot.account, snapshot.region, proxy) if secrets and refs else None
            pending = resolved.pending if resolved is not None else _NO_SECRETS
            if cached is None or cached.pending != pending:
                config = self._build_proxy(proxy, ident, pending)
            elif cached.ir is proxy:
                config = cached.config
            elif same_parts:
                config = self._rebuild_routes(proxy, cached)
            else:
                config = self._build_proxy(proxy, ident, pending)
            if resolved is not None:
                config = _with_secrets(config, resolved.secrets)
            cached = _Built(proxy, pending, config, refs)
        except Exception as error:  # noqa: BLE001 - one proxy's failure is not the mesh's
            where = f"{kind} {name}" + (f" ({key})" if key else "")
            self._build_failures[ident] = ResourceFailure.wrap(where, error).reason
            return False
        self._proxies[ident] = cached
        self._set_config(ident, config)
        if resolved is not None and resolved.problems:
            self._secret_problems[ident] = tuple(resolved.problems)
        else:
            self._secret_problems.pop(ident, None)
        if refs:
            self._acm_users.add(ident)
        else:
            self._acm_users.discard(ident)
        return True

    def _set_config(self, ident: _ProxyKey, config: ProxyConfig | None) -> None:
        """What the next MeshConfig holds for `ident` (None: nothing); each proxy is set at most once
        per build, so whether its config object changed is what the build's delta says."""
        by_key: dict[Any, ProxyConfig] = self._placed_configs if ident[2] else self._unplaced
        key: Any = ident if ident[2] else ident[:2]
        if config is None:
            if by_key.pop(key, None) is not None:
                self._removed.add(ident)
        else:
            if by_key.get(key) is not config:
                self._changed.add(ident)
            by_key[key] = config

    def _ordered_secret_problems(self) -> tuple[str, ...]:
        """Problems of ACM material, in proxy order (App Mesh's placements first, then placed copies)."""
        if not self._secret_problems:
            return ()

        def order(ident: _ProxyKey) -> tuple[int, Any]:
            return (1, ident) if ident[2] else (0, proxy_order(ident[:2]))

        return tuple(p for ident in sorted(self._secret_problems, key=order) for p in self._secret_problems[ident])

    def _route_entry(
        self, proxy: ProxyIR, route_config: RouteConfig, last: _AssembledRoutes | None
    ) -> _AssembledRoutes:
        """The route configuration as built: `last` (as built last time, if any) if made of the same object."""
        if last is not None and last.spec is route_config:
            return last
        return _building(proxy, ROUTE_CONFIGURATION, route_config.name, self._route_configuration, route_config, last)

    def _rebuild_routes(self, proxy: ProxyIR, before: _Built) -> ProxyConfig:
        """`_build_proxy` of a proxy whose listeners and clusters are the very tuples it was last built
        from (the translator re-routed its egress only: `translate.egress_patch`): every other type's
        messages and mappings are taken as they were; only route configurations are looked at."""
        previous = _assembled_routes(before.config)
        encoded: dict[str, EncodedMessage] = {}
        same = True  # every route configuration is the message it was
        for route_config in proxy.route_configs:
            name = route_config.name
            last = previous.get(name)
            entry = encoded[name] = self._route_entry(proxy, route_config, last)
            same = same and entry is last
        resources = dict(before.config.resources)
        if not (same and len(previous) == len(encoded)):
            if encoded:
                resources[ROUTE_CONFIGURATION] = EncodedMessages.holding(encoded)
            else:
                resources.pop(ROUTE_CONFIGURATION, None)
        resources.pop(SECRET, None)  # as `_build_proxy` returns it: `_with_secrets` adds them
        return ProxyConfig(proxy.kind, proxy.name, resources)  # positional: one per re-routed proxy

    def _route_configuration(self, spec: RouteConfig, like: _AssembledRoutes | None) -> _AssembledRoutes:
        """The RouteConfiguration's bytes from its virtual hosts' encodings, and its digest from theirs:
        a proxy whose route configuration changed in one virtual host costs a join and a short hash,
        not an encoding and a hash of the whole ~15 KB message. `like`: the entry this route
        configuration had, whose parts are taken for the virtual hosts it still has in place."""
        hosts = spec.virtual_hosts
        key = (spec.name, tuple(map(id, hosts)))
        done = self._assembled.get(key)
        if done is not None:  # it holds those virtual hosts (in its spec): their ids are theirs
            return done
        if like is not None and len(like.spec.virtual_hosts) == len(hosts):
            changed: list[int] = [
                at for at, (old, new) in enumerate(zip(like.spec.virtual_hosts, hosts)) if old is not new
            ]
            if not changed:  # the very virtual hosts (a new RouteConfig object around them): the same message
                return like
            datas, digests = list(like.datas), list(like.digests)
            for at in changed:
                datas[at], digests[at] = self._vhosts(hosts[at])
        else:
            parts = [self._vhosts(v) for v in hosts]
            datas, digests = [part for part, _ in parts], [d for _, d in parts]
        entry = self._assembled[key] = _AssembledRoutes(spec, datas, tuple(digests))
        return entry

    def _place(self, source: ProxyIR, ident: _ProxyKey, mesh: str) -> ProxyIR:
        """The placed IR of `source`, the same object while `source` is (so its config is reused)."""
        cached = self._placed.get(ident)
        if cached is not None and cached[0] is source:
            return cached[1]
        placement = HostPlacement.from_key(ident[2])
        assert placement is not None
        placed = place_proxy(source, placement, mesh)
        self._placed[ident] = (source, placed)
        return placed

    def _build_proxy(self, proxy: ProxyIR, ident: _ProxyKey, pending: frozenset[str] = frozenset()) -> ProxyConfig:
        """`pending`: ACM secrets the proxy names that cannot be delivered yet (`bridge.secrets`)."""
        resources: dict[str, Any] = {t: {} for t in (LISTENER, CLUSTER, CLUSTER_LOAD_ASSIGNMENT)}
        route_configs = resources[ROUTE_CONFIGURATION] = EncodedMessages()
        previous = self._resources.get(ident, {})
        current: dict[_ResourceKey, tuple[Any, Any]] = {}
        before = self._proxies.get(ident)
        previous_routes = _assembled_routes(before.config) if before is not None else {}

        def reuse(type_url: str, name: str, ir: Any) -> tuple[Any, Any] | None:
            cached = previous.get((type_url, name))
            return cached if cached is not None and (cached[0] is ir or cached[0] == ir) else None

        def put(type_url: str, name: str, ir: Any, build: Callable[[], Message]) -> None:
            cached = reuse(type_url, name, ir) or (ir, _building(proxy, type_url, name, build))
            current[(type_url, name)] = cached
            resources[type_url][name] = cached[1]

        for listener in proxy.listeners:
            waits = _pending_in(pending, listener_references(listener)) if pending else frozenset()
            if waits:
                put(LISTENER, listener.name, (listener, waits), partial(build_listener, listener, waits))
            else:
                put(LISTENER, listener.name, listener, partial(build_listener, listener))
        for route_config in proxy.route_configs:
            # Assembled from each virtual host's encoding (shared ones are encoded once for all
            # proxies), and hashed from their digests; the message is parsed from those bytes only
            # if someone reads it.
            name = route_config.name
            route_configs.encoded[name] = self._route_entry(proxy, route_config, previous_routes.get(name))
        for cluster in proxy.clusters:
            waits = _pending_in(pending, cluster_references(cluster)) if pending else frozenset()
            if waits:  # rare and proxy-specific: not shared through the identity memo
                put(CLUSTER, cluster.name, (cluster, waits), partial(build_cluster, cluster, waits))
            else:
                put(CLUSTER, cluster.name, cluster, partial(self._clusters, cluster))
            if cluster.discovery == "eds":
                put(
                    CLUSTER_LOAD_ASSIGNMENT,
                    cluster.name,
                    cluster.endpoints,
                    partial(build_load_assignment, cluster.name, cluster.endpoints),
                )
        self._resources[ident] = current
        if before is not None:
            # An unchanged type keeps its previous mapping object: the cache then skips it whole.
            for type_url, by_name in resources.items():
                old = before.config.resources.get(type_url)
                if old is not None and type(old) is type(by_name) and _same_objects(old, by_name):
                    resources[type_url] = old
        return ProxyConfig(kind=proxy.kind, name=proxy.name, resources={t: v for t, v in resources.items() if v})


def _encoded_virtual_host(spec: VirtualHost, routes: Callable[[HttpRoute], Message]) -> tuple[bytes, str]:
    """A virtual host's deterministic encoding, framed as a RouteConfiguration's `virtual_hosts` field,
    and the digest of its encoding (both computed once per shared virtual host)."""
    data = encode_virtual_host(spec, routes)
    return frame_virtual_host(data), content_digest(data)


def _pending_in(pending: frozenset[str], refs: list[Reference]) -> frozenset[str]:
    return frozenset(name for name, _, _ in refs if name in pending)


def _building(proxy: ProxyIR, type_url: str, name: str, build: Callable[..., Any], *args: Any) -> Any:
    """`build(*args)`, a failure named after the proxy and the Envoy resource (App Mesh's name for it).

    Values the API accepted but Envoy's types cannot hold (a 2^70 s timeout, 2^40 connections)
    fail here, in protobuf; the proxy then keeps its last good config and status says why.
    """
    try:
        return build(*args)
    except Exception as error:  # noqa: BLE001 - isolated to this proxy by MeshConfigBuilder.build
        short = type_url.rsplit(".", 1)[-1]
        cause = error.reason if isinstance(error, ResourceFailure) else describe(error)
        raise ResourceFailure(f"{proxy.kind} {proxy.name}", f"cannot build {short} {name} ({cause})") from error


def _attributed(resource: str | None, build: Callable[[], Any]) -> Any:
    """`build()`, a failure named after `resource` (None: the proxy's own, named by `_building`)."""
    try:
        return build()
    except Exception as error:  # noqa: BLE001 - re-raised, naming the shared part that failed
        if resource is None:
            raise
        raise ResourceFailure.wrap(resource, error) from error


def _same_objects(old: Any, new: Any) -> bool:
    """The two mappings hold the identical objects under the same names (EncodedMessages: unparsed)."""
    if old is new:
        return True
    if isinstance(new, EncodedMessages):
        old, new = old.encoded, new.encoded
    return len(old) == len(new) and all(old.get(n) is m for n, m in new.items())


def _with_secrets(config: ProxyConfig, secrets: dict[str, Message]) -> ProxyConfig:
    """`config` holding exactly `secrets` as its SECRET resources (itself when it already does)."""
    current = config.resources.get(SECRET, {})
    if current.keys() == secrets.keys() and all(current[n] is secrets[n] for n in secrets):
        return config
    resources = {t: v for t, v in config.resources.items() if t != SECRET}
    if secrets:
        resources[SECRET] = dict(secrets)
    return ProxyConfig(kind=config.kind, name=config.name, resources=resources)


def build_mesh_config(
    snapshot: MeshSnapshot,
    bind_address: str = DEFAULT_BIND_ADDRESS,
    builder: MeshConfigBuilder | None = None,
    placements: Sequence[PlacedProxy] = (),
    changes: MeshChanges | None = None,
    first: Callable[[tuple[str, str]], bool] | None = None,
    budget: int | None = None,
) -> MeshConfig:
    """Translate `snapshot` and build every proxy's Envoy resources (and those of `placements`).

    Without `builder` this is a pure one-shot build. The reconciler should keep one
    MeshConfigBuilder per mesh and pass it, so unchanged resources are not rebuilt
    (`bind_address` is then the builder's own option).
    """
    if builder is None:
        builder = MeshConfigBuilder(TranslateOptions(bind_address=bind_address))
    return builder.build(snapshot, placements, changes, first, budget)


def dump_proxy_config(proxy: ProxyConfig) -> dict[str, Any]:
    """A proxy's resources as plain JSON-style data: {type short name: {resource name: dict}}."""
    return {
        type_url.rsplit(".", 1)[-1]: {
            name: json.loads(json_format.MessageToJson(message, sort_keys=True)) for name, message in by_name.items()
        }
        for type_url, by_name in proxy.resources.items()
    }


def dump_mesh_config(config: MeshConfig) -> dict[str, Any]:
    """Every proxy's resources (and the problems, failures and placed proxies if any) as plain data, for
    golden files and `translate`."""
    data: dict[str, Any] = {
        "proxies": {
            f"{kind}/{name}": dump_proxy_config(proxy) for (kind, name), proxy in sorted(config.proxies.items())
        },
        "problems": list(config.problems),
    }
    if config.failures:
        data["failures"] = {f"{kind}/{name}": reason for (kind, name), reason in sorted(config.failures.items())}
    if config.placed:
        data["placed"] = {
            f"{kind}/{name} {key}": dump_proxy_config(proxy)
            for (kind, name, key), proxy in sorted(config.placed.items())
        }
    return data
