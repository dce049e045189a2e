"""This server's Cloud Map and ACM as the bridge reads them: the in-process implementations
of `translate.cloudmap.CloudMapLookup` and `bridge.secrets.SecretSource`.

The bridge never imports these: the composition root (`server.py`) and the offline tools
(`export`) hand them in, so the control plane works, and is tested, without moto.
"""

from __future__ import annotations

from typing import Iterable, Mapping, Sequence

from .acm import ca_bundle, certificate
from .cloudmap import Instance, discover


def in_process_cloud_map(
    account: str, region: str, namespace: str, service: str, attributes: Mapping[str, str]
) -> Sequence[Instance]:
    """DiscoverInstances against the Cloud Map this process serves."""
    return discover(account, region, namespace, service, attributes)


class InProcessAcm:
    """ACM certificates and ACM PCA trust as this process serves them (`bridge.secrets.SecretSource`)."""

    def certificate(self, account: str, region: str, arn: str) -> tuple[str, str] | None:
        return certificate(account, region, arn)

    def ca_bundle(self, account: str, region: str, arns: Iterable[str]) -> str | None:
        return ca_bundle(account, region, list(arns))
