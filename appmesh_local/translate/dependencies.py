"""Who reads what: the dependency index that lets a change touch only the proxies it reaches.

The translator records, while it translates, what each result was computed from:

- a proxy (virtual node or gateway) reads the virtual services it names: a node's backends, a
  gateway's route targets (whether they exist or not, so creating one finds its clients);
- a virtual service reads its provider router (by name, from its own spec) and every virtual node
  it looked up as a provider or route target (found or missing);
- a virtual node's target view (its clients' egress clusters) reads the Cloud Map service its
  `awsCloudMap` discovery names.

Inverting those edges answers "what does this change reach?" in time proportional to the answer:
a route on router R → the services R provides → their clients; a node → its own proxy, plus the
services that target it → their clients; a Cloud Map service → the nodes discovered through it →
as for the node. The index records reads as they happen (never derived separately from the specs),
so it cannot disagree with what the translation actually looked at.
"""

from __future__ import annotations

from typing import Generic, Hashable, Iterable, TypeVar

from appmesh_local.store.records import (
    GATEWAY_ROUTE,
    ROUTE,
    VIRTUAL_GATEWAY,
    VIRTUAL_NODE,
    VIRTUAL_ROUTER,
    VIRTUAL_SERVICE,
)
from appmesh_local.translate.changes import CloudMapName, MeshChanges

K = TypeVar("K", bound=Hashable)
V = TypeVar("V", bound=Hashable)
ProxyIdent = tuple[str, str]  # (kind, name)


class Relation(Generic[K, V]):
    """A many-to-many relation kept in both directions: key → values, and value → keys."""

    def __init__(self) -> None:
        self._forward: dict[K, frozenset[V]] = {}
        self._reverse: dict[V, set[K]] = {}

    def relate(self, key: K, values: Iterable[V]) -> None:
        """`key` now relates to exactly `values`."""
        new = frozenset(values)
        old = self._forward.get(key)
        if old is None:
            if not new:
                return
            old = frozenset()
        elif new == old:
            return
        for value in old - new:
            keys = self._reverse[value]
            keys.discard(key)
            if not keys:
                del self._reverse[value]
        for value in new - old:
            self._reverse.setdefault(value, set()).add(key)
        if new:
            self._forward[key] = new
        else:
            self._forward.pop(key, None)

    def discard(self, key: K) -> None:
        self.relate(key, ())

    def values_of(self, key: K) -> frozenset[V]:
        return self._forward.get(key, frozenset())

    def keys_of(self, value: V) -> set[K]:
        """The keys related to `value` (a live set: copy it before changing the relation)."""
        return self._reverse.get(value, set())

    def __len__(self) -> int:
        return len(self._forward)


class DependencyIndex:
    """The reads recorded by the last translations of one mesh (see the module docstring)."""

    def __init__(self) -> None:
        self.proxy_services: Relation[ProxyIdent, str] = Relation()
        self.service_nodes: Relation[str, str] = Relation()
        self.service_router: Relation[str, str] = Relation()
        self.node_cloud_map: Relation[str, CloudMapName] = Relation()

    def affected(
        self, changes: MeshChanges, hosts_changed: Iterable[str] = ()
    ) -> tuple[set[str], set[ProxyIdent], set[str]]:
        """(virtual services, proxies, virtual nodes as targets) that `changes` may reach.

        `hosts_changed`: virtual nodes whose host-mode instances changed (their clients' clusters).
        Proxies include those whose own resource changed, even if it was created or deleted.
        """
        nodes: set[str] = set(hosts_changed)
        services: set[str] = set()
        proxies: set[ProxyIdent] = set()
        routers: set[str] = set()
        for kind, parent, name in changes.resources:
            if kind == VIRTUAL_NODE:
                nodes.add(name)
                proxies.add((VIRTUAL_NODE, name))
            elif kind == VIRTUAL_SERVICE:
                services.add(name)
            elif kind == VIRTUAL_ROUTER:
                routers.add(name)
            elif kind == ROUTE:
                routers.add(parent)
            elif kind == VIRTUAL_GATEWAY:
                proxies.add((VIRTUAL_GATEWAY, name))
            elif kind == GATEWAY_ROUTE:
                proxies.add((VIRTUAL_GATEWAY, parent))
        for key in changes.cloud_map:
            nodes.update(self.node_cloud_map.keys_of(key))
        for router in routers:
            services.update(self.service_router.keys_of(router))
        for node in nodes:
            services.update(self.service_nodes.keys_of(node))
        for service in services:
            proxies.update(self.proxy_services.keys_of(service))
        return services, proxies, nodes
