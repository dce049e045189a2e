"""Cloud Map over HTTP (boto3) and what `discover` makes of it; change events."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from appmesh_local.neighbours import Instance, discover

pytestmark = pytest.mark.timeout(60)


def make_service(sd, namespace: str = "apps.local", service: str = "backend") -> str:
    sd.create_http_namespace(Name=namespace)
    namespace_id = next(ns["Id"] for ns in sd.list_namespaces()["Namespaces"] if ns["Name"] == namespace)
    return sd.create_service(Name=service, NamespaceId=namespace_id)["Service"]["Id"]


def register(sd, service_id: str, instance_id: str, **attributes: str) -> None:
    sd.register_instance(ServiceId=service_id, InstanceId=instance_id, Attributes=attributes)


def test_discover_reads_address_port_and_attributes(harness, account):
    sd = harness.client("servicediscovery", account)
    service_id = make_service(sd)
    register(sd, service_id, "b", AWS_INSTANCE_IPV4="10.0.0.2", AWS_INSTANCE_PORT="8080", stage="prod")
    register(sd, service_id, "a", AWS_INSTANCE_IPV6="2001:db8::1", AWS_INSTANCE_PORT="9090")
    register(sd, service_id, "c", AWS_INSTANCE_IPV4="10.0.0.3", AWS_INSTANCE_IPV6="2001:db8::3")

    found = discover(account, "us-east-1", "apps.local", "backend")

    assert [i.instance_id for i in found] == ["a", "b", "c"]  # sorted: stable translations
    assert len(set(found)) == 3  # hashable, for the translator's memo keys
    assert found[0] == Instance(
        "a", None, "2001:db8::1", 9090, {"AWS_INSTANCE_IPV6": "2001:db8::1", "AWS_INSTANCE_PORT": "9090"}, "HEALTHY"
    )
    assert (found[1].ipv4, found[1].ipv6, found[1].port, found[1].attributes["stage"]) == (
        "10.0.0.2",
        None,
        8080,
        "prod",
    )
    assert (found[2].ipv4, found[2].ipv6, found[2].port) == ("10.0.0.3", "2001:db8::3", None)


@pytest.mark.parametrize(
    "preference,expected",
    [
        (None, ["10.0.0.1", "10.0.0.2", "2001:db8::3"]),
        ("IPv4_PREFERRED", ["10.0.0.1", "10.0.0.2", "2001:db8::3"]),
        ("IPv6_PREFERRED", ["10.0.0.1", "2001:db8::2", "2001:db8::3"]),
        ("IPv4_ONLY", ["10.0.0.1", "10.0.0.2", None]),
        ("IPv6_ONLY", [None, "2001:db8::2", "2001:db8::3"]),
    ],
)
def test_address_follows_ip_preference(preference, expected):
    instances = [
        Instance("v4", "10.0.0.1", None, None),
        Instance("dual", "10.0.0.2", "2001:db8::2", None),
        Instance("v6", None, "2001:db8::3", None),
    ]
    assert [i.address(preference) for i in instances] == expected


def test_discover_keeps_only_instances_with_every_listed_attribute(harness, account):
    sd = harness.client("servicediscovery", account)
    service_id = make_service(sd)
    register(sd, service_id, "v1", AWS_INSTANCE_IPV4="10.0.0.1", version="v1", zone="a")
    register(sd, service_id, "v2a", AWS_INSTANCE_IPV4="10.0.0.2", version="v2", zone="a")
    register(sd, service_id, "v2b", AWS_INSTANCE_IPV4="10.0.0.3", version="v2", zone="b")
    register(sd, service_id, "bare", AWS_INSTANCE_IPV4="10.0.0.4")

    def ids(attributes):
        return [i.instance_id for i in discover(account, "us-east-1", "apps.local", "backend", attributes)]

    assert ids(None) == ["bare", "v1", "v2a", "v2b"]
    assert ids({}) == ["bare", "v1", "v2a", "v2b"]
    assert ids({"version": "v2"}) == ["v2a", "v2b"]
    assert ids({"version": "v2", "zone": "b"}) == ["v2b"]
    assert ids({"version": "v3"}) == []


def test_unhealthy_instances_are_not_discovered_until_healthy_again(harness, account):
    sd = harness.client("servicediscovery", account)
    sd.create_http_namespace(Name="apps.local")
    namespace_id = sd.list_namespaces()["Namespaces"][0]["Id"]
    service_id = sd.create_service(
        Name="backend", NamespaceId=namespace_id, HealthCheckCustomConfig={"FailureThreshold": 1}
    )["Service"]["Id"]
    register(sd, service_id, "one", AWS_INSTANCE_IPV4="10.0.0.1")
    register(sd, service_id, "two", AWS_INSTANCE_IPV4="10.0.0.2")

    sd.update_instance_custom_health_status(ServiceId=service_id, InstanceId="one", Status="UNHEALTHY")
    assert [i.instance_id for i in discover(account, "us-east-1", "apps.local", "backend")] == ["two"]
    sd.update_instance_custom_health_status(ServiceId=service_id, InstanceId="one", Status="HEALTHY")
    assert [i.instance_id for i in discover(account, "us-east-1", "apps.local", "backend")] == ["one", "two"]


def test_registering_an_id_again_replaces_it(harness, account):
    sd = harness.client("servicediscovery", account)
    service_id = make_service(sd)
    register(sd, service_id, "one", AWS_INSTANCE_IPV4="10.0.0.1")
    register(sd, service_id, "one", AWS_INSTANCE_IPV4="10.0.0.9")

    assert [(i.instance_id, i.ipv4) for i in discover(account, "us-east-1", "apps.local", "backend")] == [
        ("one", "10.0.0.9")
    ]
    assert [i["Id"] for i in sd.list_instances(ServiceId=service_id)["Instances"]] == ["one"]
    wire = sd.discover_instances(NamespaceName="apps.local", ServiceName="backend")["Instances"]
    assert [(i["InstanceId"], i["Attributes"]["AWS_INSTANCE_IPV4"]) for i in wire] == [("one", "10.0.0.9")]


def test_discover_is_scoped_by_account_region_namespace_and_service(harness, account):
    sd = harness.client("servicediscovery", account)
    service_id = make_service(sd)
    register(sd, service_id, "one", AWS_INSTANCE_IPV4="10.0.0.1")
    other_ns = make_service(sd, namespace="other.local")
    register(sd, other_ns, "elsewhere", AWS_INSTANCE_IPV4="10.9.9.9")

    assert [i.instance_id for i in discover(account, "us-east-1", "apps.local", "backend")] == ["one"]
    assert [i.instance_id for i in discover(account, "us-east-1", "other.local", "backend")] == ["elsewhere"]
    assert discover(account, "us-west-2", "apps.local", "backend") == []
    assert discover("999999999999", "us-east-1", "apps.local", "backend") == []
    assert discover(account, "us-east-1", "apps.local", "missing") == []
    assert discover(account, "us-east-1", "missing.local", "backend") == []
    assert discover(account, "not-a-region", "apps.local", "backend") == []


def test_region_comes_from_the_signature(harness, account):
    sd = harness.client("servicediscovery", account, region="eu-west-1")
    service_id = make_service(sd)
    register(sd, service_id, "one", AWS_INSTANCE_IPV4="10.0.0.1")

    namespace_arn = sd.list_namespaces()["Namespaces"][0]["Arn"]
    assert namespace_arn.startswith(f"arn:aws:servicediscovery:eu-west-1:{account}:namespace/")
    assert [i.instance_id for i in discover(account, "eu-west-1", "apps.local", "backend")] == ["one"]
    assert discover(account, "us-east-1", "apps.local", "backend") == []


def test_on_change_fires_for_instance_changes_only_after_success(harness, account):
    sd = harness.client("servicediscovery", account)
    service_id = make_service(sd)
    assert harness.events_for(account) == []  # creating namespaces and services changes no instances
    change = (account, "us-east-1", "apps.local", "backend")

    register(sd, service_id, "one", AWS_INSTANCE_IPV4="10.0.0.1")
    assert harness.events_for(account) == [change]
    sd.discover_instances(NamespaceName="apps.local", ServiceName="backend")
    sd.list_instances(ServiceId=service_id)
    assert harness.events_for(account) == [change]  # reads change nothing
    sd.deregister_instance(ServiceId=service_id, InstanceId="one")
    assert harness.events_for(account) == [change] * 2
    with pytest.raises(ClientError):
        sd.deregister_instance(ServiceId=service_id, InstanceId="one")
    with pytest.raises(ClientError):
        sd.register_instance(ServiceId="srv-missing", InstanceId="x", Attributes={})
    assert harness.events_for(account) == [change] * 2


def test_on_change_fires_for_health_and_deletions(harness, account):
    sd = harness.client("servicediscovery", account)
    service_id = make_service(sd)
    namespace_id = sd.list_namespaces()["Namespaces"][0]["Id"]
    register(sd, service_id, "one", AWS_INSTANCE_IPV4="10.0.0.1")
    harness.events.clear()
    change = (account, "us-east-1", "apps.local", "backend")

    sd.update_instance_custom_health_status(ServiceId=service_id, InstanceId="one", Status="UNHEALTHY")
    assert harness.events_for(account) == [change]
    with pytest.raises(ClientError, match="ResourceInUse"):
        sd.delete_service(Id=service_id)  # AWS refuses while instances are registered
    with pytest.raises(ClientError, match="ResourceInUse"):
        sd.delete_namespace(Id=namespace_id)  # ... and while the namespace has services
    assert harness.events_for(account) == [change]
    sd.deregister_instance(ServiceId=service_id, InstanceId="one")
    sd.delete_service(Id=service_id)
    assert harness.events_for(account) == [change] * 3
    sd.delete_namespace(Id=namespace_id)
    assert harness.events_for(account) == [change] * 3  # no services left, nothing to re-translate
    assert discover(account, "us-east-1", "apps.local", "backend") == []


def test_names_are_unique_as_in_aws(harness, account):
    sd = harness.client("servicediscovery", account)
    service_id = make_service(sd)
    namespace_id = sd.list_namespaces()["Namespaces"][0]["Id"]

    with pytest.raises(ClientError, match="NamespaceAlreadyExists"):
        sd.create_http_namespace(Name="apps.local")
    with pytest.raises(ClientError, match="ServiceAlreadyExists"):
        sd.create_service(Name="backend", NamespaceId=namespace_id)
    with pytest.raises(ClientError, match="NamespaceNotFound"):
        sd.create_service(Name="backend", NamespaceId="ns-missing")
    with pytest.raises(ClientError, match="ServiceNotFound"):
        sd.delete_service(Id="srv-missing")
    assert [s["Id"] for s in sd.list_services()["Services"]] == [service_id]


def test_private_namespaces_conflict_only_on_the_same_name_in_the_same_vpc(harness, account):
    sd = harness.client("servicediscovery", account)
    sd.create_private_dns_namespace(Name="one.local", Vpc="vpc-1")
    sd.create_private_dns_namespace(Name="two.local", Vpc="vpc-1")
    with pytest.raises(ClientError, match="ConflictingDomainExists"):
        sd.create_private_dns_namespace(Name="one.local", Vpc="vpc-1")

    namespaces = sd.list_namespaces()["Namespaces"]
    assert sorted(ns["Name"] for ns in namespaces) == ["one.local", "two.local"]
    assert {ns["Type"] for ns in namespaces} == {"DNS_PRIVATE"}
    sd.create_private_dns_namespace(Name="three.local", Vpc="vpc-1")  # the hidden VPCs were restored
    with pytest.raises(ClientError, match="ConflictingDomainExists"):
        sd.create_private_dns_namespace(Name="two.local", Vpc="vpc-1")
