"""AWS Cloud Map as App Mesh saw it: the instances a virtual node's `awsCloudMap` names.

App Mesh's control plane called DiscoverInstances for each Cloud Map virtual node and sent
the result to Envoy as EDS endpoints (docs/reference.md#egress-clusters). `discover` is that call, made
in-process against moto's Cloud Map state: only instances carrying every listed attribute,
only HEALTHY or UNKNOWN ones (DiscoverInstances' default, docs/reference.md#uncertain), address and port
from the standard AWS_INSTANCE_* attributes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from . import backends

IPV4 = "AWS_INSTANCE_IPV4"
IPV6 = "AWS_INSTANCE_IPV6"
PORT = "AWS_INSTANCE_PORT"
DISCOVERABLE_HEALTH = frozenset({"HEALTHY", "UNKNOWN"})

# Calls after which a service's discoverable instances may differ, and the request field
# naming the service (DeleteNamespace is handled apart: it names a namespace).
_INSTANCE_CHANGES = {
    "RegisterInstance": "ServiceId",
    "DeregisterInstance": "ServiceId",
    "UpdateInstanceCustomHealthStatus": "ServiceId",
    "DeleteService": "Id",
}


@dataclass(frozen=True)
class Instance:
    """One registered instance, reduced to what an EDS endpoint needs (plus its attributes).

    `port` is the instance's AWS_INSTANCE_PORT, for information: App Mesh sent traffic to the
    target node's listener port (sidecars intercept it there), and registrations made for App
    Mesh often carry no port at all (the k8s controller added one in 2021 for API Gateway,
    aws-app-mesh-controller-for-k8s #357/#490). Hashable: attributes count in equality only.
    """

    instance_id: str
    ipv4: str | None
    ipv6: str | None
    port: int | None
    attributes: dict[str, str] = field(default_factory=dict, hash=False)
    health: str = "HEALTHY"

    def address(self, ip_preference: str | None) -> str | None:
        """The IP App Mesh would use under a mesh/node `ipPreference` (docs/reference.md#ip-preference).

        Unset, IPv4_PREFERRED: IPv4, else IPv6. IPv6_PREFERRED: the reverse. IPv4_ONLY /
        IPv6_ONLY: that family or nothing (the instance then gives no endpoint).
        """
        if ip_preference == "IPv4_ONLY":
            return self.ipv4
        if ip_preference == "IPv6_ONLY":
            return self.ipv6
        if ip_preference == "IPv6_PREFERRED":
            return self.ipv6 or self.ipv4
        return self.ipv4 or self.ipv6


def discover(
    account: str, region: str, namespace_name: str, service_name: str, attributes: Mapping[str, str] | None = None
) -> list[Instance]:
    """The instances App Mesh would route to, sorted by id; [] if the namespace or service is missing."""
    wanted = dict(attributes or {})
    with backends.LOCK:
        service = _service_named(account, region, namespace_name, service_name)
        if service is None:
            return []
        found = [
            _instance(registered)
            for registered in service.instances
            if registered.health_status in DISCOVERABLE_HEALTH
            and all(registered.attributes.get(key) == value for key, value in wanted.items())
        ]
    return sorted(found, key=lambda instance: instance.instance_id)


def affected_services(account: str, region: str, operation: str, params: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(namespace name, service name) pairs whose instances `operation` would change.

    Called before the operation runs, while a service or namespace about to be deleted
    still exists (AWS, and cloudmap_rules, refuse deleting a service with instances or a
    namespace with services, so deletions report what they emptied). Caller holds `backends.LOCK`.
    """
    backend = backends.backend(backends.CLOUD_MAP, account, region)
    if backend is None:
        return []
    if operation == "DeleteNamespace":
        namespace = backend.namespaces.get(params.get("Id"))
        if namespace is None:
            return []
        return sorted(
            (namespace.name, service.name)
            for service in list(backend.services.values())
            if service.namespace_id == namespace.id
        )
    field_name = _INSTANCE_CHANGES.get(operation)
    service = backend.services.get(params.get(field_name)) if field_name else None
    namespace = backend.namespaces.get(service.namespace_id) if service is not None else None
    return [(namespace.name, service.name)] if service is not None and namespace is not None else []


def keep_latest_registration(account: str, region: str, params: Mapping[str, Any], response: Mapping[str, Any]) -> None:
    """After RegisterInstance: a second registration of an id replaces the first, as in AWS.

    moto appends a duplicate instead, which DiscoverInstances would then return twice.
    Caller holds `backends.LOCK`.
    """
    backend = backends.backend(backends.CLOUD_MAP, account, region)
    service = backend.services.get(params.get("ServiceId")) if backend is not None else None
    if service is None:
        return
    instance_id = params.get("InstanceId")
    same = [registered for registered in service.instances if registered.instance_id == instance_id]
    for stale in same[:-1]:
        service.instances.remove(stale)


def _service_named(account: str, region: str, namespace_name: str, service_name: str) -> Any | None:
    backend = backends.backend(backends.CLOUD_MAP, account, region)
    if backend is None:
        return None
    namespace_ids = {namespace.id for namespace in backend.namespaces.values() if namespace.name == namespace_name}
    for service in backend.services.values():
        if service.name == service_name and service.namespace_id in namespace_ids:
            return service
    return None


def _instance(registered: Any) -> Instance:
    attributes = dict(registered.attributes or {})
    return Instance(
        instance_id=registered.instance_id,
        ipv4=attributes.get(IPV4) or None,
        ipv6=attributes.get(IPV6) or None,
        port=_port(attributes.get(PORT)),
        attributes=attributes,
        health=registered.health_status,
    )


def _port(value: str | None) -> int | None:
    if value is None or not value.isdigit():
        return None
    port = int(value)
    return port if 0 < port < 65536 else None
