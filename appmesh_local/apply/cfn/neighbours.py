"""Cloud Map, ACM and ACM PCA resources of a template, applied to appmesh-local's own copies.

Each type's properties are the parameters of the call that creates it (CloudFormation's
names, matched to the botocore model without case). What CloudFormation can change in
place is updated in place (Cloud Map service settings and attributes, tags); a change to
any other property replaces the resource, as the schema's `createOnlyProperties` say or,
for the few updatable properties appmesh-local does not update, as documented in
docs/apply.md.
"""

from __future__ import annotations

import time
from functools import cache
from typing import Any, Mapping

from botocore import xform_name
from botocore.exceptions import ClientError

from ..errors import ApplyError
from ..shapes import ShapeError, to_api
from .drivers import Applied, Run, has_unknown
from .intrinsics import Unknown


@cache
def _input_shape(service: str, operation: str) -> Any:
    import botocore.session

    return botocore.session.get_session().get_service_model(service).operation_model(operation).input_shape


def _params(
    service: str,
    operation: str,
    props: Mapping[str, Any],
    rename: Mapping[str, str] | None = None,
    drop: tuple[str, ...] = (),
) -> dict[str, Any]:
    """Template properties → the operation's input (`rename`: template name → API member)."""
    moved = {(rename or {}).get(k, k): v for k, v in props.items() if k not in drop}
    try:
        return to_api(moved, _input_shape(service, operation), "Properties")
    except ShapeError as exc:
        raise ApplyError(exc.detail, field=exc.path) from None


def _call(run: Run, service: str, operation: str, **params: Any) -> dict[str, Any]:
    try:
        return getattr(run.target.client(service), xform_name(operation))(**params)
    except ClientError as exc:
        error = exc.response.get("Error", {})
        raise ApplyError(f"{service} {operation}: {error.get('Code')}: {error.get('Message')}") from None


def _tags(props: Mapping[str, Any], key: str = "Key", value: str = "Value") -> dict[str, str]:
    return {str(t[key]): str(t.get(value, "")) for t in props.get("Tags") or []}


class NeighbourDriver:
    """Shared shape: create from nothing, keep when unchanged, update what can be, else replace."""

    type_name = ""
    service = ""
    updatable: frozenset[str] = frozenset({"Tags"})

    def create(self, run: Run, props: Mapping[str, Any]) -> tuple[Any, dict[str, Any]]:
        raise NotImplementedError

    def exists(self, run: Run, entry: Mapping[str, Any]) -> bool:
        raise NotImplementedError

    def update(self, run: Run, entry: Mapping[str, Any], props: Mapping[str, Any]) -> dict[str, Any]:
        """Apply changes of `updatable` properties; return the new attributes."""
        old, new = _tags(entry["properties"]), _tags(props)
        if old != new:
            self.retag(run, entry, old, new)
        return dict(entry["attributes"])

    def retag(self, run: Run, entry: Mapping[str, Any], old: dict[str, str], new: dict[str, str]) -> None:
        pass

    def remove(self, run: Run, entry: Mapping[str, Any]) -> None:
        raise NotImplementedError

    def label(self, props: Mapping[str, Any], physical: Any = None) -> str:
        return str(props.get("Name") or props.get("DomainName") or physical or "")

    # ---- the Driver protocol ---------------------------------------------------------------
    def apply(
        self, run: Run, logical_id: str, properties: Mapping[str, Any], previous: Mapping[str, Any] | None
    ) -> Applied:
        if previous is not None and has_unknown(properties):  # dry runs only
            return Applied(
                "update",
                f"{self.label(previous['properties'], previous['physical'])} (values known after apply)",
                previous["physical"],
                previous["attributes"],
            )
        if previous is not None and self.exists(run, previous):
            changed = sorted(
                k
                for k in set(properties) | set(previous["properties"])
                if properties.get(k) != previous["properties"].get(k)
            )
            if not changed:
                return Applied(
                    "unchanged",
                    self.label(properties, previous["physical"]),
                    previous["physical"],
                    previous["attributes"],
                )
            if set(changed) <= self.updatable:
                attributes = dict(previous["attributes"]) if run.dry_run else self.update(run, previous, properties)
                return Applied(
                    "update",
                    f"{self.label(properties, previous['physical'])} ({', '.join(changed)})",
                    previous["physical"],
                    attributes,
                )
            raise _Replace(changed)
        if run.dry_run:
            return Applied(
                "create", self.label(properties), Unknown(f"{logical_id} id"), _UnknownAttributes(logical_id)
            )
        physical, attributes = self.create(run, properties)
        return Applied("create", self.label(properties, physical), physical, attributes)

    def delete(self, run: Run, logical_id: str, entry: Mapping[str, Any]) -> str:
        label = self.label(entry["properties"], entry["physical"])
        if not run.dry_run:
            if not self.exists(run, entry):
                return f"{label} (was already gone)"
            self.remove(run, entry)
        return label


class _Replace(Exception):
    """Properties changed that this type cannot change in place."""

    def __init__(self, changed: list[str]) -> None:
        super().__init__(", ".join(changed))
        self.changed = changed


class _UnknownAttributes(dict):  # type: ignore[type-arg]
    """A dry run's attributes of a resource not created yet: every one known after apply."""

    def __init__(self, logical_id: str) -> None:
        super().__init__()
        self.logical_id = logical_id

    def get(self, key: str, default: Any = None) -> Any:  # type: ignore[override]
        return Unknown(f"{self.logical_id}.{key}")


REPLACE = _Replace


# ---- Cloud Map ---------------------------------------------------------------------------------
def _wait_operation(run: Run, operation_id: str) -> dict[str, Any]:
    """Cloud Map's namespace calls are asynchronous: wait (bounded) for the operation's result."""
    deadline = time.monotonic() + 30
    while True:
        operation = _call(run, "servicediscovery", "GetOperation", OperationId=operation_id)["Operation"]
        if operation["Status"] == "SUCCESS":
            return operation
        if operation["Status"] == "FAIL" or time.monotonic() > deadline:
            raise ApplyError(
                f"Cloud Map operation {operation_id}: {operation.get('ErrorMessage', operation['Status'])}"
            )
        time.sleep(0.1)


class CloudMapNamespace(NeighbourDriver):
    service = "servicediscovery"
    updatable = frozenset({"Tags", "Description", "Properties"})

    def __init__(self, type_name: str, operation: str) -> None:
        self.type_name, self.operation = type_name, operation

    def create(self, run: Run, props: Mapping[str, Any]) -> tuple[Any, dict[str, Any]]:
        params = _params(self.service, self.operation, props)
        operation = _wait_operation(run, _call(run, self.service, self.operation, **params)["OperationId"])
        namespace_id = operation["Targets"]["NAMESPACE"]
        return namespace_id, self._attributes(run, namespace_id)

    def _attributes(self, run: Run, namespace_id: str) -> dict[str, Any]:
        namespace = _call(run, self.service, "GetNamespace", Id=namespace_id)["Namespace"]
        zone = namespace.get("Properties", {}).get("DnsProperties", {}).get("HostedZoneId")
        return {"Id": namespace_id, "Arn": namespace["Arn"], **({"HostedZoneId": zone} if zone else {})}

    def exists(self, run: Run, entry: Mapping[str, Any]) -> bool:
        try:
            run.target.client(self.service).get_namespace(Id=entry["physical"])
        except ClientError:
            return False
        return True

    def update(self, run: Run, entry: Mapping[str, Any], props: Mapping[str, Any]) -> dict[str, Any]:
        old = entry["properties"]
        if props.get("Description") != old.get("Description") or props.get("Properties") != old.get("Properties"):
            change = {k: v for k, v in (("Description", props.get("Description")),) if v is not None}
            operation = self.operation.replace("Create", "Update")
            _wait_operation(
                run, _call(run, self.service, operation, Id=entry["physical"], Namespace=change)["OperationId"]
            )
        return super().update(run, entry, props)

    def retag(self, run: Run, entry: Mapping[str, Any], old: dict[str, str], new: dict[str, str]) -> None:
        _retag_cloud_map(run, entry["attributes"]["Arn"], old, new)

    def remove(self, run: Run, entry: Mapping[str, Any]) -> None:
        _wait_operation(run, _call(run, self.service, "DeleteNamespace", Id=entry["physical"])["OperationId"])


def _retag_cloud_map(run: Run, arn: str, old: dict[str, str], new: dict[str, str]) -> None:
    stale = [k for k in old if k not in new]
    if stale:
        _call(run, "servicediscovery", "UntagResource", ResourceARN=arn, TagKeys=stale)
    fresh = [{"Key": k, "Value": v} for k, v in new.items() if old.get(k) != v]
    if fresh:
        _call(run, "servicediscovery", "TagResource", ResourceARN=arn, Tags=fresh)


class CloudMapService(NeighbourDriver):
    type_name = "AWS::ServiceDiscovery::Service"
    service = "servicediscovery"
    updatable = frozenset({"Tags", "Description", "DnsConfig", "HealthCheckConfig", "ServiceAttributes"})

    def create(self, run: Run, props: Mapping[str, Any]) -> tuple[Any, dict[str, Any]]:
        created = _call(
            run,
            self.service,
            "CreateService",
            **_params(self.service, "CreateService", props, drop=("ServiceAttributes",)),
        )["Service"]
        if props.get("ServiceAttributes"):
            self._attributes(run, created["Id"], props["ServiceAttributes"])
        return created["Id"], {"Id": created["Id"], "Arn": created["Arn"], "Name": created["Name"]}

    def _attributes(self, run: Run, service_id: str, attributes: Any) -> None:
        _call(
            run,
            self.service,
            "UpdateServiceAttributes",
            ServiceId=service_id,
            Attributes={str(k): str(v) for k, v in dict(attributes).items()},
        )

    def exists(self, run: Run, entry: Mapping[str, Any]) -> bool:
        try:
            run.target.client(self.service).get_service(Id=entry["physical"])
        except ClientError:
            return False
        return True

    def update(self, run: Run, entry: Mapping[str, Any], props: Mapping[str, Any]) -> dict[str, Any]:
        old = entry["properties"]
        change: dict[str, Any] = {}
        for name in ("Description", "DnsConfig", "HealthCheckConfig"):
            if props.get(name) != old.get(name) and props.get(name) is not None:
                change[name] = props[name]
        if change:
            if "DnsConfig" in change:  # UpdateService takes only the records of a DnsConfig
                change["DnsConfig"] = {"DnsRecords": change["DnsConfig"].get("DnsRecords", [])}
            shape = _input_shape(self.service, "UpdateService").members["Service"]
            try:
                service_change = to_api(change, shape, "Properties")
            except ShapeError as exc:
                raise ApplyError(exc.detail, field=exc.path) from None
            _wait_operation(
                run,
                _call(run, self.service, "UpdateService", Id=entry["physical"], Service=service_change)["OperationId"],
            )
        if props.get("ServiceAttributes") != old.get("ServiceAttributes") and props.get("ServiceAttributes"):
            self._attributes(run, entry["physical"], props["ServiceAttributes"])
        return super().update(run, entry, props)

    def retag(self, run: Run, entry: Mapping[str, Any], old: dict[str, str], new: dict[str, str]) -> None:
        _retag_cloud_map(run, entry["attributes"]["Arn"], old, new)

    def remove(self, run: Run, entry: Mapping[str, Any]) -> None:
        _call(run, self.service, "DeleteService", Id=entry["physical"])


class CloudMapInstance(NeighbourDriver):
    type_name = "AWS::ServiceDiscovery::Instance"
    service = "servicediscovery"
    updatable = frozenset()

    def create(self, run: Run, props: Mapping[str, Any]) -> tuple[Any, dict[str, Any]]:
        instance_id = str(props.get("InstanceId") or f"{run.stack}-instance-{int(time.time() * 1000)}")
        _wait_operation(
            run,
            _call(
                run,
                self.service,
                "RegisterInstance",
                ServiceId=str(props["ServiceId"]),
                InstanceId=instance_id,
                Attributes={str(k): str(v) for k, v in dict(props["InstanceAttributes"]).items()},
            )["OperationId"],
        )
        return instance_id, {"InstanceId": instance_id, "ServiceId": props["ServiceId"]}

    def exists(self, run: Run, entry: Mapping[str, Any]) -> bool:
        try:
            run.target.client(self.service).get_instance(
                ServiceId=entry["attributes"]["ServiceId"], InstanceId=entry["physical"]
            )
        except ClientError:
            return False
        return True

    def remove(self, run: Run, entry: Mapping[str, Any]) -> None:
        _wait_operation(
            run,
            _call(
                run,
                self.service,
                "DeregisterInstance",
                ServiceId=entry["attributes"]["ServiceId"],
                InstanceId=entry["physical"],
            )["OperationId"],
        )

    def label(self, props: Mapping[str, Any], physical: Any = None) -> str:
        return str(props.get("InstanceId") or physical or "")


# ---- ACM and ACM PCA ---------------------------------------------------------------------------
class AcmCertificate(NeighbourDriver):
    type_name = "AWS::CertificateManager::Certificate"
    service = "acm"

    def create(self, run: Run, props: Mapping[str, Any]) -> tuple[Any, dict[str, Any]]:
        params = _params(
            self.service,
            "RequestCertificate",
            props,
            drop=("CertificateTransparencyLoggingPreference", "CertificateExport"),
        )
        if props.get("CertificateTransparencyLoggingPreference"):
            params["Options"] = {
                "CertificateTransparencyLoggingPreference": str(props["CertificateTransparencyLoggingPreference"])
            }
        arn = _call(run, self.service, "RequestCertificate", **params)["CertificateArn"]
        return arn, {"CertificateArn": arn, "Id": arn}

    def exists(self, run: Run, entry: Mapping[str, Any]) -> bool:
        try:
            run.target.client(self.service).describe_certificate(CertificateArn=entry["physical"])
        except ClientError:
            return False
        return True

    def retag(self, run: Run, entry: Mapping[str, Any], old: dict[str, str], new: dict[str, str]) -> None:
        stale = [{"Key": k, "Value": v} for k, v in old.items() if k not in new]
        if stale:
            _call(run, self.service, "RemoveTagsFromCertificate", CertificateArn=entry["physical"], Tags=stale)
        fresh = [{"Key": k, "Value": v} for k, v in new.items() if old.get(k) != v]
        if fresh:
            _call(run, self.service, "AddTagsToCertificate", CertificateArn=entry["physical"], Tags=fresh)

    def remove(self, run: Run, entry: Mapping[str, Any]) -> None:
        _call(run, self.service, "DeleteCertificate", CertificateArn=entry["physical"])


class PrivateCa(NeighbourDriver):
    type_name = "AWS::ACMPCA::CertificateAuthority"
    service = "acm-pca"
    updatable = frozenset({"Tags", "RevocationConfiguration"})

    def create(self, run: Run, props: Mapping[str, Any]) -> tuple[Any, dict[str, Any]]:
        configuration = {
            k: props[k] for k in ("KeyAlgorithm", "SigningAlgorithm", "Subject", "CsrExtensions") if k in props
        }
        params = _params(
            self.service,
            "CreateCertificateAuthority",
            {
                "CertificateAuthorityConfiguration": configuration,
                "CertificateAuthorityType": props.get("Type"),
                **{
                    k: v
                    for k, v in props.items()
                    if k in ("RevocationConfiguration", "Tags", "KeyStorageSecurityStandard", "UsageMode")
                },
            },
        )
        arn = _call(run, self.service, "CreateCertificateAuthority", **params)["CertificateAuthorityArn"]
        csr = _call(run, self.service, "GetCertificateAuthorityCsr", CertificateAuthorityArn=arn)["Csr"]
        return arn, {"Arn": arn, "CertificateSigningRequest": csr}

    def exists(self, run: Run, entry: Mapping[str, Any]) -> bool:
        try:
            found = run.target.client(self.service).describe_certificate_authority(
                CertificateAuthorityArn=entry["physical"]
            )["CertificateAuthority"]
        except ClientError:
            return False
        return found.get("Status") != "DELETED"

    def update(self, run: Run, entry: Mapping[str, Any], props: Mapping[str, Any]) -> dict[str, Any]:
        if props.get("RevocationConfiguration") != entry["properties"].get("RevocationConfiguration"):
            params = _params(
                self.service,
                "UpdateCertificateAuthority",
                {"RevocationConfiguration": props.get("RevocationConfiguration") or {}},
            )
            _call(run, self.service, "UpdateCertificateAuthority", CertificateAuthorityArn=entry["physical"], **params)
        return super().update(run, entry, props)

    def retag(self, run: Run, entry: Mapping[str, Any], old: dict[str, str], new: dict[str, str]) -> None:
        stale = [{"Key": k, "Value": v} for k, v in old.items() if k not in new]
        if stale:
            _call(run, self.service, "UntagCertificateAuthority", CertificateAuthorityArn=entry["physical"], Tags=stale)
        fresh = [{"Key": k, "Value": v} for k, v in new.items() if old.get(k) != v]
        if fresh:
            _call(run, self.service, "TagCertificateAuthority", CertificateAuthorityArn=entry["physical"], Tags=fresh)

    def remove(self, run: Run, entry: Mapping[str, Any]) -> None:
        """As CloudFormation's handler: disable an active CA, then schedule its deletion."""
        found = _call(run, self.service, "DescribeCertificateAuthority", CertificateAuthorityArn=entry["physical"])[
            "CertificateAuthority"
        ]
        if found.get("Status") == "ACTIVE":
            _call(
                run,
                self.service,
                "UpdateCertificateAuthority",
                CertificateAuthorityArn=entry["physical"],
                Status="DISABLED",
            )
        _call(
            run,
            self.service,
            "DeleteCertificateAuthority",
            CertificateAuthorityArn=entry["physical"],
            PermanentDeletionTimeInDays=7,
        )

    def label(self, props: Mapping[str, Any], physical: Any = None) -> str:
        subject = props.get("Subject") or {}
        return str(subject.get("CommonName") or physical or "")


class PrivateCaCertificate(NeighbourDriver):
    type_name = "AWS::ACMPCA::Certificate"
    service = "acm-pca"
    updatable = frozenset()

    def create(self, run: Run, props: Mapping[str, Any]) -> tuple[Any, dict[str, Any]]:
        params = _params(self.service, "IssueCertificate", props, rename={"CertificateSigningRequest": "Csr"})
        ca = params["CertificateAuthorityArn"]
        arn = _call(run, self.service, "IssueCertificate", **params)["CertificateArn"]
        certificate = _call(run, self.service, "GetCertificate", CertificateAuthorityArn=ca, CertificateArn=arn)[
            "Certificate"
        ]
        return arn, {"Arn": arn, "Certificate": certificate, "CertificateAuthorityArn": ca}

    def exists(self, run: Run, entry: Mapping[str, Any]) -> bool:
        try:
            run.target.client(self.service).get_certificate(
                CertificateAuthorityArn=entry["attributes"]["CertificateAuthorityArn"], CertificateArn=entry["physical"]
            )
        except ClientError:
            return False
        return True

    def remove(self, run: Run, entry: Mapping[str, Any]) -> None:
        pass  # as in CloudFormation: an issued certificate stays until it expires

    def label(self, props: Mapping[str, Any], physical: Any = None) -> str:
        return str(physical or props.get("TemplateArn") or "certificate")


class PrivateCaActivation(NeighbourDriver):
    type_name = "AWS::ACMPCA::CertificateAuthorityActivation"
    service = "acm-pca"
    updatable = frozenset({"Status"})

    def create(self, run: Run, props: Mapping[str, Any]) -> tuple[Any, dict[str, Any]]:
        params = _params(self.service, "ImportCertificateAuthorityCertificate", props, drop=("Status",))
        ca = params["CertificateAuthorityArn"]
        _call(run, self.service, "ImportCertificateAuthorityCertificate", **params)
        if str(props.get("Status", "ACTIVE")) != "ACTIVE":
            _call(
                run, self.service, "UpdateCertificateAuthority", CertificateAuthorityArn=ca, Status=str(props["Status"])
            )
        found = _call(run, self.service, "GetCertificateAuthorityCertificate", CertificateAuthorityArn=ca)
        chain = found["Certificate"] + ("\n" + found["CertificateChain"] if found.get("CertificateChain") else "")
        return ca, {"CompleteCertificateChain": chain}

    def exists(self, run: Run, entry: Mapping[str, Any]) -> bool:
        try:
            found = run.target.client(self.service).describe_certificate_authority(
                CertificateAuthorityArn=entry["physical"]
            )["CertificateAuthority"]
        except ClientError:
            return False
        return found.get("Status") in ("ACTIVE", "DISABLED")

    def update(self, run: Run, entry: Mapping[str, Any], props: Mapping[str, Any]) -> dict[str, Any]:
        _call(
            run,
            self.service,
            "UpdateCertificateAuthority",
            CertificateAuthorityArn=entry["physical"],
            Status=str(props.get("Status", "ACTIVE")),
        )
        return dict(entry["attributes"])

    def remove(self, run: Run, entry: Mapping[str, Any]) -> None:
        _call(
            run,
            self.service,
            "UpdateCertificateAuthority",
            CertificateAuthorityArn=entry["physical"],
            Status="DISABLED",
        )

    def label(self, props: Mapping[str, Any], physical: Any = None) -> str:
        return str(physical or props.get("CertificateAuthorityArn") or "")


def _drivers() -> dict[str, Any]:
    found: dict[str, Any] = {
        "AWS::ServiceDiscovery::HttpNamespace": CloudMapNamespace(
            "AWS::ServiceDiscovery::HttpNamespace", "CreateHttpNamespace"
        ),
        "AWS::ServiceDiscovery::PrivateDnsNamespace": CloudMapNamespace(
            "AWS::ServiceDiscovery::PrivateDnsNamespace", "CreatePrivateDnsNamespace"
        ),
        "AWS::ServiceDiscovery::PublicDnsNamespace": CloudMapNamespace(
            "AWS::ServiceDiscovery::PublicDnsNamespace", "CreatePublicDnsNamespace"
        ),
    }
    for driver in (
        CloudMapService(),
        CloudMapInstance(),
        AcmCertificate(),
        PrivateCa(),
        PrivateCaCertificate(),
        PrivateCaActivation(),
    ):
        found[driver.type_name] = driver
    return found


NEIGHBOUR_DRIVERS: dict[str, Any] = _drivers()
