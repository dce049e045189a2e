"""Cloud Map rules moto does not enforce, run around its calls.

Each guard is a context manager wrapped around one moto call (the caller holds
`backends.LOCK`). It raises `Refusal` before the call to answer as AWS would, or adjusts
what moto sees for the duration of the call. Without these, a long-lived local server
drifts from AWS in ways App Mesh users hit: duplicate names make DiscoverInstances pick
an arbitrary namespace, and deletes silently orphan instances.
"""

from __future__ import annotations

import contextlib
from typing import Any, Callable, ContextManager, Iterator, Mapping

from . import backends
from .refusal import Refusal

Guard = Callable[[str, str, Mapping[str, Any]], ContextManager[None]]


def _backend(account: str, region: str) -> Any:
    return backends.backend(backends.CLOUD_MAP, account, region)


@contextlib.contextmanager
def unique_namespace_name(account: str, region: str, params: Mapping[str, Any]) -> Iterator[None]:
    """CreateHttpNamespace: the name is an HttpName, unique in the account and region."""
    if any(ns.name == params.get("Name") for ns in _backend(account, region).namespaces.values()):
        raise Refusal("NamespaceAlreadyExists", f"Namespace {params.get('Name')} already exists")
    yield


@contextlib.contextmanager
def vpc_conflicts_by_name(account: str, region: str, params: Mapping[str, Any]) -> Iterator[None]:
    """CreatePrivateDnsNamespace: AWS refuses only the same name in the same VPC.

    moto refuses any second namespace in a VPC; other names in that VPC are hidden from its
    check for the duration of the call.
    """
    vpc = params.get("Vpc")
    hidden = [
        ns for ns in _backend(account, region).namespaces.values() if ns.vpc == vpc and ns.name != params.get("Name")
    ]
    for namespace in hidden:
        namespace.vpc = None
    try:
        yield
    finally:
        for namespace in hidden:
            namespace.vpc = vpc


@contextlib.contextmanager
def unique_service_name(account: str, region: str, params: Mapping[str, Any]) -> Iterator[None]:
    """CreateService: a name is unique within its namespace, which must exist."""
    backend = _backend(account, region)
    namespace_id = params.get("NamespaceId") or (params.get("DnsConfig") or {}).get("NamespaceId")
    if namespace_id not in backend.namespaces:
        raise Refusal("NamespaceNotFound", f"Namespace {namespace_id} not found")
    for service in backend.services.values():
        if service.namespace_id == namespace_id and service.name == params.get("Name"):
            raise Refusal("ServiceAlreadyExists", f"Service {service.name} already exists ({service.id})")
    yield


@contextlib.contextmanager
def service_without_instances(account: str, region: str, params: Mapping[str, Any]) -> Iterator[None]:
    """DeleteService: the service must exist and have no registered instances."""
    service = _backend(account, region).services.get(params.get("Id"))
    if service is None:
        raise Refusal("ServiceNotFound", f"Service {params.get('Id')} not found")
    if service.instances:
        raise Refusal("ResourceInUse", f"Service {service.id} still has registered instances")
    yield


@contextlib.contextmanager
def namespace_without_services(account: str, region: str, params: Mapping[str, Any]) -> Iterator[None]:
    """DeleteNamespace: the namespace must have no services."""
    backend = _backend(account, region)
    if any(service.namespace_id == params.get("Id") for service in backend.services.values()):
        raise Refusal("ResourceInUse", f"Namespace {params.get('Id')} still has services")
    yield


GUARDS: dict[str, Guard] = {
    "CreateHttpNamespace": unique_namespace_name,
    "CreatePrivateDnsNamespace": vpc_conflicts_by_name,
    "CreateService": unique_service_name,
    "DeleteService": service_without_instances,
    "DeleteNamespace": namespace_without_services,
}
