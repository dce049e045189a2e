"""The server-side view behind the console, `explain` and `lint`: the live mesh, its Envoy
resources as the bridge serves them, and what each connected proxy reports.

One object, built by the composition root (`server.py`) from the store, the snapshot cache,
the xDS status and the ACM source, so every answer comes from the same state the proxies get.
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from typing import Any, Mapping, Protocol, Sequence

from google.protobuf.message import Message

from appmesh_local.insight import lint as lint_rules
from appmesh_local.insight.envoy_match import parse_request
from appmesh_local.insight.explain import Explanation, explain
from appmesh_local.insight.topology import build_topology
from appmesh_local.store.records import MeshSnapshot
from appmesh_local.xds.cache import SnapshotCache
from appmesh_local.xds.node_id import ProxyRef
from appmesh_local.xds.status import Status

STATS_TIMEOUT_S = 0.5  # a stuck Envoy admin must not hold the console's request
_CLUSTER_STAT = re.compile(r"^cluster\.(cds_(?:egress|ingress)_.+)\.(upstream_rq_total|upstream_rq_5xx)$")


class MeshReader(Protocol):
    def mesh_snapshot(self, account: str, region: str, mesh: str) -> MeshSnapshot | None: ...
    def mesh_keys(self) -> Sequence[tuple[str, str, str]]: ...


class CertificateSource(Protocol):
    def certificate(self, account: str, region: str, arn: str) -> tuple[str, str] | None: ...


class UnknownProxy(LookupError):
    """The mesh or the proxy has no configuration in the bridge (yet)."""


class Inspector:
    def __init__(
        self,
        store: MeshReader,
        cache: SnapshotCache | None = None,
        status: Status | None = None,
        certificates: CertificateSource | None = None,
    ) -> None:
        self.store = store
        self.cache = cache
        self.status = status
        self.certificates = certificates

    # ---- what exists ------------------------------------------------------------------------------
    def inventory(self, account: str | None = None) -> list[dict[str, str]]:
        return [
            {"account": key[0], "region": key[1], "mesh": key[2]}
            for key in sorted(self.store.mesh_keys())
            if account is None or key[0] == account
        ]

    def snapshot(self, account: str, region: str, mesh: str) -> MeshSnapshot:
        found = self.store.mesh_snapshot(account, region, mesh)
        if found is None:
            raise UnknownProxy(f"mesh {mesh} does not exist in {account}/{region}")
        return found

    def proxy_resources(
        self, account: str, region: str, mesh: str
    ) -> dict[tuple[str, str], dict[str, dict[str, Message]]]:
        """Every proxy's resources as served now: (kind, name) → type URL → name → message."""
        if self.cache is None:
            return {}
        out: dict[tuple[str, str], dict[str, dict[str, Message]]] = {}
        for ref in self.cache.proxies():
            if ref.mesh_key != (account, region, mesh):
                continue
            snapshot = self.cache.get(ref)
            if snapshot is None:
                continue
            out[(ref.kind, ref.name)] = {
                type_url: {name: resource.message for name, resource in typed.resources.items()}
                for type_url, typed in snapshot.types.items()
            }
        return out

    def proxies_status(self, account: str, region: str, mesh: str) -> list[dict[str, Any]]:
        if self.status is None:
            return []
        return [
            entry
            for entry in self.status.snapshot()["proxies"]
            if (entry.get("account"), entry.get("region"), entry.get("mesh")) == (account, region, mesh)
        ]

    def translation(self, account: str, region: str, mesh: str) -> dict[str, Any]:
        if self.status is None:
            return {}
        for entry in self.status.snapshot()["meshes"]:
            if (entry["account"], entry["region"], entry["mesh"]) == (account, region, mesh):
                return entry
        return {}

    # ---- explain, lint, topology ----------------------------------------------------------------
    def explain(
        self,
        account: str,
        region: str,
        mesh: str,
        kind: str,
        name: str,
        url: str,
        method: str = "GET",
        headers: Mapping[str, str] | None = None,
    ) -> Explanation:
        self.snapshot(account, region, mesh)
        if self.cache is None:
            raise UnknownProxy("the xDS bridge is off (serve --no-xds): nothing to explain")
        snapshot = self.cache.get(ProxyRef(account, region, mesh, kind, name))
        if snapshot is None:
            raise UnknownProxy(f"{kind} {name} has no configuration in mesh {mesh}")
        resources = {
            type_url: {key: resource.message for key, resource in typed.resources.items()}
            for type_url, typed in snapshot.types.items()
        }
        request = parse_request(url, method, headers)
        return explain(resources, request, f"{kind}/{name}", outbound=kind == "virtualNode")

    def lint(self, account: str, region: str, mesh: str) -> list[lint_rules.Finding]:
        snapshot = self.snapshot(account, region, mesh)
        translation = self.translation(account, region, mesh)
        problems = list(translation.get("problems") or [])
        if translation.get("error"):
            problems.append(str(translation["error"]))
        return lint_rules.lint_mesh(
            snapshot,
            self.proxy_resources(account, region, mesh),
            self.proxies_status(account, region, mesh),
            problems,
            lambda certificate: self._certificate_pem(account, region, certificate),
        )

    def topology(self, account: str, region: str, mesh: str, with_stats: bool = True) -> dict[str, Any]:
        snapshot = self.snapshot(account, region, mesh)
        proxies = self.proxies_status(account, region, mesh)
        stats = {
            f"{entry['kind']}/{entry['name']}": read_cluster_stats(_admin_address(entry))
            for entry in proxies
            if with_stats and entry.get("admin")
        }
        return build_topology(snapshot, proxies, self.translation(account, region, mesh), stats)

    def _certificate_pem(self, account: str, region: str, certificate: Mapping[str, Any]) -> str | None:
        arn = (certificate.get("acm") or {}).get("certificateArn")
        if arn and self.certificates is not None:
            found = self.certificates.certificate(account, region, arn)
            return found[0] if found else None
        return lint_rules.read_file_certificate(certificate)


def _admin_address(entry: Mapping[str, Any]) -> str:
    """The admin address to scrape: an unspecified bind address means "where the proxy connects from"."""
    admin = str(entry.get("admin") or "")
    host, _, port = admin.rpartition(":")
    if host in ("0.0.0.0", "::", "[::]", ""):
        peer = str(entry.get("peer") or "")
        match = re.match(r"ipv4:([\d.]+):\d+$", peer)
        host = match.group(1) if match else "127.0.0.1"
    return f"{host}:{port}"


def read_cluster_stats(admin: str) -> dict[str, dict[str, int]]:
    """Per cluster: upstream_rq_total and upstream_rq_5xx from one Envoy's admin (empty if unreachable)."""
    url = f"http://{admin}/stats?format=json&filter=" + urllib.request.quote(
        r"^cluster\.cds_.*\.upstream_rq_(total|5xx)$"
    )
    try:
        with urllib.request.urlopen(url, timeout=STATS_TIMEOUT_S) as response:
            data = json.loads(response.read())
    except (urllib.error.URLError, OSError, ValueError):
        return {}
    out: dict[str, dict[str, int]] = {}
    for stat in data.get("stats") or ():
        match = _CLUSTER_STAT.match(str(stat.get("name", "")))
        if match and isinstance(stat.get("value"), int):
            out.setdefault(match.group(1), {})[match.group(2)] = stat["value"]
    return out
