"""Cloud Map service discovery → EDS endpoints (docs/reference.md#egress-clusters, #ip-preference, #uncertain).

App Mesh's control plane called DiscoverInstances for every virtual node whose service
discovery is `awsCloudMap` and pushed the result as the ClusterLoadAssignment of the
clients' egress clusters for that node. The translator stays pure: the lookup is a
function handed in (`CloudMapLookup`, in the server `appmesh_local.neighbours.discover`),
whose answer becomes part of the memo key, so a changed instance list re-translates only
the proxies that reach that node. Without a lookup (offline `translate`, `export`) the
assignment is empty, as it is for a Cloud Map service with no instances.

Endpoint port: the target node's listener port, not the instance's AWS_INSTANCE_PORT.
App Mesh routed "to the virtual node on its listener port" (the sidecar intercepts that
port), registrations made for App Mesh often carried no port, and a node with several
listeners shares one registration.
"""

from __future__ import annotations

from typing import Any, Mapping, Protocol, Sequence

from appmesh_local.ir import Endpoint


class CloudMapInstance(Protocol):
    """What the translator needs of one discovered instance (`neighbours.cloudmap.Instance`)."""

    @property
    def instance_id(self) -> str: ...

    @property
    def ipv4(self) -> str | None: ...

    @property
    def ipv6(self) -> str | None: ...


class CloudMapLookup(Protocol):
    """Cloud Map's DiscoverInstances, as App Mesh's control plane called it for `awsCloudMap` nodes.

    Takes (account, region, namespace name, service name, attributes that must all match) and
    returns the discoverable instances: filtered by those attributes and by health (HEALTHY or
    UNKNOWN, DiscoverInstances' default), sorted by instance id, empty when the namespace or
    service does not exist. Called on the reconciler's thread during a translation; raising
    fails that translation (the last good config stays).
    """

    def __call__(
        self, account: str, region: str, namespace: str, service: str, attributes: Mapping[str, str], /
    ) -> Sequence[CloudMapInstance]: ...


Discovered = tuple[tuple[str, str | None, str | None], ...]  # (instance id, ipv4, ipv6) per instance


def wanted_attributes(discovery: Mapping[str, Any]) -> dict[str, str]:
    """The awsCloudMap `attributes` list as the key/value filter DiscoverInstances takes."""
    return {
        str(item["key"]): str(item["value"])
        for item in discovery.get("attributes") or ()
        if item and item.get("key") is not None
    }


def discover(lookup: CloudMapLookup | None, account: str, region: str, discovery: Mapping[str, Any]) -> Discovered:
    """The instances of the Cloud Map service `discovery` names, as plain hashable data.

    A lookup that raises fails the translation, so the reconciler keeps the last good config.
    """
    if lookup is None:
        return ()
    found = lookup(
        account,
        region,
        str(discovery.get("namespaceName", "")),
        str(discovery.get("serviceName", "")),
        wanted_attributes(discovery),
    )
    return tuple((item.instance_id, item.ipv4, item.ipv6) for item in found)


def instance_address(ipv4: str | None, ipv6: str | None, ip_preference: str | None) -> str | None:
    """The address App Mesh used under `ipPreference` (docs/reference.md#ip-preference); None: no endpoint.

    Unset and IPv4_PREFERRED: IPv4 first. IPv6_PREFERRED: IPv6 first. *_ONLY: that family only.
    """
    if ip_preference == "IPv4_ONLY":
        return ipv4
    if ip_preference == "IPv6_ONLY":
        return ipv6
    if ip_preference == "IPv6_PREFERRED":
        return ipv6 or ipv4
    return ipv4 or ipv6


def cloud_map_endpoints(instances: Discovered, port: int, ip_preference: str | None) -> tuple[Endpoint, ...]:
    """EDS endpoints of a Cloud Map target node's listener on `port`, one per usable address."""
    endpoints: dict[str, Endpoint] = {}
    for _, ipv4, ipv6 in instances:
        address = instance_address(ipv4, ipv6, ip_preference)
        if address and address not in endpoints:
            endpoints[address] = Endpoint(address, port)
    return tuple(endpoints.values())
