"""Re-route a node's egress around changed backends without translating the node again.

When a service every node reaches changes one of its routes, each client's proxy differs only in
the virtual host of that service: its listeners, clusters and problems depend on the service's
ports, protocols, targets and problems, which did not change. Translating each client again (its
five backends' chains, TLS client policies, clusters) is most of a hot change's cost, so the
translator first tries this: if the node's own inputs are equal and every backend view that
differs keeps its shape (everything but its HTTP routes), the new proxy is the old one with the
route configurations that hold those services re-assembled from the translator's shared virtual
hosts (`EgressRecipe` says how they were made). Listeners and clusters stay the identical objects,
which lets the builder and the cache skip them by identity. Anything else is translated in full;
`tests/translate/test_memo_differential.py` holds both paths to a fresh build.
"""

from __future__ import annotations

from typing import Mapping

from appmesh_local.ir import ProxyIR, RouteConfig, VirtualHost
from appmesh_local.translate.node import EgressRecipe, VirtualHostFor
from appmesh_local.translate.services import ServicePort, ServiceView


def same_shape(old: ServiceView, new: ServiceView) -> bool:
    """Equal in everything a client's listeners, clusters and problems read: all but HTTP routes."""
    if old.name != new.name or old.exists != new.exists or old.problems != new.problems:
        return False
    if len(old.ports) != len(new.ports):
        return False
    return all(_same_port_shape(a, b) for a, b in zip(old.ports, new.ports))


def _same_port_shape(a: ServicePort, b: ServicePort) -> bool:
    return (
        a is b
        or a.port == b.port
        and a.protocol == b.protocol
        and a.tcp == b.tcp
        and a.tcp_idle_timeout_ms == b.tcp_idle_timeout_ms
        and a.targets == b.targets
    )


def patched_egress(
    proxy: ProxyIR, recipe: EgressRecipe, changed: Mapping[str, ServiceView], virtual_host: VirtualHostFor
) -> ProxyIR | None:
    """`proxy` with its egress re-assembled for the `changed` backends' new views, or None when the
    recipe cannot be patched (then the node is translated in full).

    The caller has checked that everything else the node was translated from is equal, and that
    each changed view has the `same_shape` as the one the proxy was translated from."""
    if not recipe.patchable:
        return None
    configs = list(proxy.route_configs)
    hosts: dict[int, list[VirtualHost]] = {}
    places = recipe.places
    for service, view in changed.items():
        for index, at, port, position in places.get(service, ()):
            vhosts = hosts.get(index)
            if vhosts is None:
                vhosts = hosts[index] = list(configs[index].virtual_hosts)  # as made: entries, then the fixed ones
            vhosts[at] = virtual_host(service, port, view.ports[position] if position >= 0 else None)
    if not hosts:
        return proxy
    for index, vhosts in hosts.items():
        configs[index] = RouteConfig(configs[index].name, tuple(vhosts))  # (name, virtual hosts)
    # Positional (kind, name, listeners, route configurations, clusters, problems): made for every
    # client of a changed service, and a dataclass's keyword call costs more.
    return ProxyIR(proxy.kind, proxy.name, proxy.listeners, tuple(configs), proxy.clusters, proxy.problems)
