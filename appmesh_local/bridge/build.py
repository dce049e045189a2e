"""Mesh snapshot → MeshConfig: translate to IR, then build each proxy's Envoy resources.

`MeshConfigBuilder` keeps memos across builds of one mesh: the translator returns the
identical ProxyIR for unchanged proxies (their ProxyConfig is reused as is), and within a
changed proxy every resource whose IR compares equal keeps its previous message object.
Messages are shared between builds and must be treated as immutable.
"""

from __future__ import annotations

import json
import weakref
from typing import Any, Callable

from envoy.config.route.v3 import route_pb2
from google.protobuf import json_format
from google.protobuf.message import Message

from appmesh_local.bridge.secrets import SecretResolver, SecretSource
from appmesh_local.envoy.cluster import build_cluster
from appmesh_local.envoy.endpoint import build_load_assignment
from appmesh_local.envoy.listener import build_listener
from appmesh_local.envoy.route import build_route, encode_route_configuration, encode_virtual_host
from appmesh_local.ir import ProxyIR
from appmesh_local.ir.names import DEFAULT_BIND_ADDRESS
from appmesh_local.store.records import MeshSnapshot
from appmesh_local.translate import TranslateOptions, Translator
from appmesh_local.translate.cloudmap import CloudMapLookup
from appmesh_local.translate.failure import ResourceFailure, describe
from appmesh_local.xds.proxy_config import (
    CLUSTER,
    CLUSTER_LOAD_ASSIGNMENT,
    LISTENER,
    ROUTE_CONFIGURATION,
    SECRET,
    MeshConfig,
    ProxyConfig,
)
from appmesh_local.xds.snapshot import EncodedMessage, EncodedMessages

_ResourceKey = tuple[str, str]  # type URL, resource name


class _IdentityMemo:
    """Built messages (or encodings) keyed by the identity of their IR input, alive while that IR object is.

    IR routes, egress virtual hosts and clusters are shared by every proxy that reaches the
    same service, so one build serves them all; entries vanish when the translator's memo drops the IR.
    """

    def __init__(self, build: Callable[[Any], Any]) -> None:
        self._build = build
        self._entries: dict[int, tuple[weakref.ref, Any]] = {}

    def __call__(self, ir: Any) -> Any:
        key = id(ir)
        entry = self._entries.get(key)
        if entry is not None and entry[0]() is ir:
            return entry[1]
        message = self._build(ir)
        entries = self._entries
        self._entries[key] = (weakref.ref(ir, lambda _ref, k=key: entries.pop(k, None)), message)
        return message

    def __len__(self) -> int:
        return len(self._entries)


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
        self._proxies: dict[tuple[str, str], tuple[ProxyIR, ProxyConfig]] = {}
        # Per proxy: (type URL, resource name) → (IR input, built message or EncodedMessage).
        self._resources: dict[tuple[str, str], dict[_ResourceKey, tuple[Any, Any]]] = {}
        self._routes = _IdentityMemo(build_route)
        self._clusters = _IdentityMemo(build_cluster)
        # An egress virtual host is shared by every client of its service: a failure names it (the service).
        self._vhosts = _IdentityMemo(
            lambda v: _attributed(
                f"virtual host {v.name}" if v.name != "*" else None, lambda: encode_virtual_host(v, self._routes)
            )
        )

    def build(self, snapshot: MeshSnapshot) -> MeshConfig:
        """Every proxy's config. A proxy that cannot be translated or built keeps its last good
        config (if it had one) and is reported in `failures`; the others are built as usual."""
        mesh_ir = self.translator.translate(snapshot)
        proxies: dict[tuple[str, str], ProxyConfig] = {}
        problems = list(mesh_ir.problems)
        failures = {(f.kind, f.name): f.reason for f in mesh_ir.failures}
        for proxy in mesh_ir.proxies:
            ident = (proxy.kind, proxy.name)
            try:
                cached = self._proxies.get(ident)
                if cached is None or cached[0] is not proxy:
                    cached = (proxy, self._build_proxy(proxy))
                if self._secrets is not None:
                    # ACM material can change (renewal, import) while the mesh does not: resolved every build.
                    secrets, missing = self._secrets.resolve(proxy, snapshot.account, snapshot.region)
                    problems.extend(missing)
                    cached = (proxy, _with_secrets(cached[1], secrets))
            except Exception as error:  # noqa: BLE001 - one proxy's failure is not the mesh's
                failures[ident] = ResourceFailure.wrap(f"{proxy.kind} {proxy.name}", error).reason
                continue
            self._proxies[ident] = cached
            proxies[ident] = cached[1]
        for ident in failures:
            last_good = self._proxies.get(ident)
            if last_good is not None:
                proxies[ident] = last_good[1]
        for ident in [k for k in self._proxies if k not in proxies]:
            del self._proxies[ident]
            self._resources.pop(ident, None)
        return MeshConfig(
            account=snapshot.account,
            region=snapshot.region,
            mesh=snapshot.name,
            revision=snapshot.revision,
            proxies=proxies,
            problems=tuple(dict.fromkeys(problems)),
            failures=failures,
        )

    def _build_proxy(self, proxy: ProxyIR) -> ProxyConfig:
        resources: dict[str, Any] = {t: {} for t in (LISTENER, CLUSTER, CLUSTER_LOAD_ASSIGNMENT)}
        route_configs = resources[ROUTE_CONFIGURATION] = EncodedMessages()
        previous = self._resources.get((proxy.kind, proxy.name), {})
        current: dict[_ResourceKey, tuple[Any, Any]] = {}

        def reuse(type_url: str, name: str, ir: Any) -> tuple[Any, Any] | None:
            cached = previous.get((type_url, name))
            return cached if cached is not None and (cached[0] is ir or cached[0] == ir) else None

        def put(type_url: str, name: str, ir: Any, build: Callable[[], Message]) -> None:
            cached = reuse(type_url, name, ir) or (ir, _building(proxy, type_url, name, build))
            current[(type_url, name)] = cached
            resources[type_url][name] = cached[1]

        for listener in proxy.listeners:
            put(LISTENER, listener.name, listener, lambda spec=listener: build_listener(spec))
        for route_config in proxy.route_configs:
            # Assembled from each virtual host's encoding (shared ones are encoded once for all
            # proxies); the message is parsed from those bytes only if someone reads it.
            cached = reuse(ROUTE_CONFIGURATION, route_config.name, route_config)
            if cached is None:
                data = _building(
                    proxy,
                    ROUTE_CONFIGURATION,
                    route_config.name,
                    lambda spec=route_config: encode_route_configuration(spec, self._vhosts),
                )
                cached = (route_config, EncodedMessage(route_pb2.RouteConfiguration, data))
            current[(ROUTE_CONFIGURATION, route_config.name)] = cached
            route_configs.encoded[route_config.name] = cached[1]
        for cluster in proxy.clusters:
            put(CLUSTER, cluster.name, cluster, lambda c=cluster: self._clusters(c))
            if cluster.discovery == "eds":
                put(
                    CLUSTER_LOAD_ASSIGNMENT,
                    cluster.name,
                    cluster.endpoints,
                    lambda c=cluster: build_load_assignment(c.name, c.endpoints),
                )
        self._resources[(proxy.kind, proxy.name)] = current
        before = self._proxies.get((proxy.kind, proxy.name))
        if before is not None:
            # An unchanged type keeps its previous mapping object: the cache then skips it whole.
            for type_url, by_name in resources.items():
                old = before[1].resources.get(type_url)
                if old is not None and type(old) is type(by_name) and _same_objects(old, by_name):
                    resources[type_url] = old
        return ProxyConfig(kind=proxy.kind, name=proxy.name, resources={t: v for t, v in resources.items() if v})


def _building(proxy: ProxyIR, type_url: str, name: str, build: Callable[[], Any]) -> Any:
    """`build()`, a failure named after the proxy and the Envoy resource (App Mesh's name for it).

    Values the API accepted but Envoy's types cannot hold (a 2^70 s timeout, 2^40 connections)
    fail here, in protobuf; the proxy then keeps its last good config and status says why.
    """
    try:
        return build()
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
    snapshot: MeshSnapshot, bind_address: str = DEFAULT_BIND_ADDRESS, builder: MeshConfigBuilder | None = None
) -> MeshConfig:
    """Translate `snapshot` and build every proxy's Envoy resources.

    Without `builder` this is a pure one-shot build. The reconciler should keep one
    MeshConfigBuilder per mesh and pass it, so unchanged resources are not rebuilt
    (`bind_address` is then the builder's own option).
    """
    if builder is None:
        builder = MeshConfigBuilder(TranslateOptions(bind_address=bind_address))
    return builder.build(snapshot)


def dump_proxy_config(proxy: ProxyConfig) -> dict[str, Any]:
    """A proxy's resources as plain JSON-style data: {type short name: {resource name: dict}}."""
    return {
        type_url.rsplit(".", 1)[-1]: {
            name: json.loads(json_format.MessageToJson(message, sort_keys=True)) for name, message in by_name.items()
        }
        for type_url, by_name in proxy.resources.items()
    }


def dump_mesh_config(config: MeshConfig) -> dict[str, Any]:
    """Every proxy's resources (and the problems, and failures if any) as plain data, for golden files and `translate`."""
    data: dict[str, Any] = {
        "proxies": {
            f"{kind}/{name}": dump_proxy_config(proxy) for (kind, name), proxy in sorted(config.proxies.items())
        },
        "problems": list(config.problems),
    }
    if config.failures:
        data["failures"] = {f"{kind}/{name}": reason for (kind, name), reason in sorted(config.failures.items())}
    return data
