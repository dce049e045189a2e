"""Cloud Map service discovery → EDS endpoints.

Instances are not resolved yet: the cluster is EDS over ADS with an empty
ClusterLoadAssignment. Filling it means returning the instances here (filtered by the
node's `attributes`, HEALTHY/UNKNOWN only, address family by ipPreference, reference
§3.6 and §6) and letting the endpoints flow into `Cluster.endpoints`.
"""
from __future__ import annotations

from typing import Any, Mapping

from appmesh_local.ir import Endpoint


def cloud_map_endpoints(discovery: Mapping[str, Any], port: int, ip_preference: str | None) -> tuple[Endpoint, ...]:
    """Endpoints of the Cloud Map service named by `discovery` (awsCloudMap spec) on `port`."""
    return ()
