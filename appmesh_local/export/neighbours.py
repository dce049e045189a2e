"""Cloud Map instances and ACM material for an export, read the way the bridge reads them.

The bridge fills Cloud Map nodes' endpoints from DiscoverInstances and ACM certificates
from ACM / ACM PCA (appmesh_local.neighbours, in the server's process). An export that
reads the mesh through the API asks the same server through the same APIs, so its files
carry the endpoints and secrets the bridge would push. From a state directory, the saved
Cloud Map/ACM state is loaded into this process and read in-process, as the server does.
"""

from __future__ import annotations

import secrets as random_secrets
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

from appmesh_local.neighbours.acm import USABLE_TYPES
from appmesh_local.neighbours.cloudmap import DISCOVERABLE_HEALTH, IPV4, IPV6
from appmesh_local.neighbours.private_ca import parse_arn

ClientFactory = Callable[[str, str, str], Any]  # (service, account, region) → botocore client


@dataclass(frozen=True)
class DiscoveredInstance:
    """What the translator reads of a Cloud Map instance (translate.cloudmap.CloudMapInstance)."""

    instance_id: str
    ipv4: str | None
    ipv6: str | None


class ApiCloudMap:
    """DiscoverInstances through the API (filters as the bridge: attributes, HEALTHY/UNKNOWN)."""

    def __init__(self, clients: ClientFactory) -> None:
        self.clients = clients

    def __call__(
        self, account: str, region: str, namespace: str, service: str, attributes: Mapping[str, str]
    ) -> Sequence[DiscoveredInstance]:
        from botocore.exceptions import ClientError

        client = self.clients("servicediscovery", account, region)
        params: dict[str, Any] = {
            "NamespaceName": namespace,
            "ServiceName": service,
            "HealthStatus": "ALL",
            "MaxResults": 1000,
        }
        if attributes:
            params["QueryParameters"] = dict(attributes)
        try:
            found = client.discover_instances(**params)["Instances"]
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NamespaceNotFound", "ServiceNotFound"):
                return []  # as the bridge: a missing namespace or service has no instances
            raise
        instances = [
            DiscoveredInstance(
                item["InstanceId"],
                (item.get("Attributes") or {}).get(IPV4) or None,
                (item.get("Attributes") or {}).get(IPV6) or None,
            )
            for item in found
            if item.get("HealthStatus", "UNKNOWN") in DISCOVERABLE_HEALTH
        ]
        return sorted(instances, key=lambda instance: instance.instance_id)


class ApiAcm:
    """ACM certificates (ExportCertificate) and ACM PCA roots through the API (bridge.secrets.SecretSource)."""

    def __init__(self, clients: ClientFactory) -> None:
        self.clients = clients

    def certificate(self, account: str, region: str, arn: str) -> tuple[str, str] | None:
        from botocore.exceptions import ClientError
        from cryptography.hazmat.primitives import serialization

        from appmesh_local.neighbours.acm import without_moto_root

        owner, where = parse_arn(arn) or (account, region)
        acm = self.clients("acm", owner, where)
        try:
            described = acm.describe_certificate(CertificateArn=arn)["Certificate"]
            if described.get("Status") != "ISSUED" or described.get("Type") not in USABLE_TYPES:
                return None
            passphrase = random_secrets.token_urlsafe(24).encode()
            exported = acm.export_certificate(CertificateArn=arn, Passphrase=passphrase)
        except ClientError:
            return None  # unknown, or not exportable: the bridge cannot deliver it either
        key = serialization.load_pem_private_key(exported["PrivateKey"].encode(), password=passphrase)
        key_pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
        ).decode()
        chain = without_moto_root(exported.get("CertificateChain", "").encode())
        return exported["Certificate"].strip() + "\n" + chain, key_pem

    def ca_bundle(self, account: str, region: str, arns: Iterable[str]) -> str | None:
        from botocore.exceptions import ClientError

        pems: list[str] = []
        for arn in arns:
            where = parse_arn(arn)
            if where is None:
                continue
            pca = self.clients("acm-pca", *where)
            try:
                authority = pca.describe_certificate_authority(CertificateAuthorityArn=arn)["CertificateAuthority"]
                if authority.get("Status") != "ACTIVE":
                    continue
                material = pca.get_certificate_authority_certificate(CertificateAuthorityArn=arn)
            except ClientError:
                continue
            pems.append(material["Certificate"].strip() + "\n")
            if material.get("CertificateChain"):
                pems.append(material["CertificateChain"].strip() + "\n")
        return "".join(pems) or None


def in_process_neighbours(state_dir: Path) -> tuple[Any, Any]:
    """(Cloud Map lookup, ACM source) over the state directory's saved Cloud Map/ACM state."""
    from appmesh_local.export.sources import SourceError
    from appmesh_local.neighbours.persistence import DamagedState, NeighbourState
    from appmesh_local.neighbours.sources import InProcessAcm, in_process_cloud_map
    from appmesh_local.store.state_dir import NEIGHBOURS

    saved = Path(state_dir) / NEIGHBOURS
    if saved.is_file():
        with tempfile.TemporaryDirectory(prefix="appmesh-export-") as scratch:
            copy = Path(scratch) / saved.name
            shutil.copyfile(saved, copy)  # a copy: a running server may replace the file meanwhile
            try:
                NeighbourState(copy).load()
            except DamagedState as error:
                raise SourceError(str(error).replace(str(copy), str(saved))) from None  # name the user's file
    return in_process_cloud_map, InProcessAcm()
