"""Static Envoy configuration for a mesh's proxies: leave App Mesh (or appmesh-local) behind.

`export_mesh` turns a MeshSnapshot into one bootstrap file per virtual node or gateway,
each runnable with plain `envoy -c FILE` and equal to what the xDS bridge serves for
that proxy (same translator, same resources, inlined).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from appmesh_local.bridge.secrets import SecretSource
from appmesh_local.export.sources import SourceError
from appmesh_local.export.static import StaticExportError, static_bootstrap, uses_sds_socket
from appmesh_local.ir.names import DEFAULT_BIND_ADDRESS
from appmesh_local.proxy.image_env import ImageEnv
from appmesh_local.store.records import VIRTUAL_GATEWAY, VIRTUAL_NODE, MeshSnapshot
from appmesh_local.translate.cloudmap import CloudMapLookup
from appmesh_local.xds.proxy_config import MeshConfig, ProxyConfig

_FILE_PREFIX = {VIRTUAL_NODE: "virtual-node", VIRTUAL_GATEWAY: "virtual-gateway"}


class ExportError(Exception):
    """A one-line reason the export cannot be done."""


@dataclass(frozen=True)
class ExportResult:
    files: tuple[Path, ...]
    problems: tuple[str, ...]  # what the translation dropped (as `status` shows them)
    failures: tuple[str, ...] = ()  # proxies that could not be exported, and why


def build_config(
    snapshot: MeshSnapshot,
    bind_address: str,
    cloud_map: CloudMapLookup | None = None,
    secrets: SecretSource | None = None,
) -> MeshConfig:
    """The bridge's own build (mesh → IR → Envoy protos), errors made one line.

    `cloud_map` (translate.cloudmap.CloudMapLookup) and `secrets` (bridge.secrets.SecretSource)
    are the bridge's two outside inputs; without them Cloud Map clusters are empty and
    ACM-backed TLS has no secrets, as in the offline `translate`.
    """
    from appmesh_local.bridge.build import MeshConfigBuilder, build_mesh_config
    from appmesh_local.translate import TranslateOptions

    try:
        builder = MeshConfigBuilder(TranslateOptions(bind_address=bind_address), cloud_map, secrets=secrets)
        return build_mesh_config(snapshot, bind_address, builder=builder)
    except Exception as exc:  # noqa: BLE001 - a translator bug must still end in a clean message
        raise ExportError(f"translating mesh {snapshot.name!r} failed: {type(exc).__name__}: {exc}") from None


def select_proxies(
    config: MeshConfig,
    virtual_nodes: Sequence[str] = (),
    virtual_gateways: Sequence[str] = (),
    everything: bool = False,
) -> list[ProxyConfig]:
    """The proxies asked for, in a stable order; unknown names are an error listing what exists.

    Proxies that could not be translated (`config.failures`) are left out here; `export_mesh`
    reports them as failures.
    """
    if everything:
        return [config.proxies[key] for key in sorted(config.proxies)]
    wanted = [(VIRTUAL_NODE, name) for name in virtual_nodes] + [(VIRTUAL_GATEWAY, name) for name in virtual_gateways]
    if not wanted:
        raise ExportError("nothing to export: give --virtual-node, --virtual-gateway or --all")
    chosen: list[ProxyConfig] = []
    for kind, name in wanted:
        proxy = config.proxies.get((kind, name))
        if proxy is not None:
            chosen.append(proxy)
        elif (kind, name) not in config.failures:
            have = sorted(n for k, n in [*config.proxies, *config.failures] if k == kind) or ["none"]
            raise ExportError(f"{_label(kind)} {name!r} not found in mesh {config.mesh!r} (it has: {', '.join(have)})")
    return chosen


def proxy_file_name(proxy: ProxyConfig) -> str:
    """`virtual-node-<name>.yaml` / `virtual-gateway-<name>.yaml`, safe as a file name."""
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", proxy.name).lstrip(".") or "_"
    return f"{_FILE_PREFIX[proxy.kind]}-{safe}.yaml"


def export_mesh(
    snapshot: MeshSnapshot,
    out_dir: Path,
    *,
    virtual_nodes: Sequence[str] = (),
    virtual_gateways: Sequence[str] = (),
    everything: bool = False,
    bind_address: str = DEFAULT_BIND_ADDRESS,
    admin_port: int | None = None,
    admin_address: str = "127.0.0.1",
    sds_socket_path: str | None = None,
    cloud_map: CloudMapLookup | None = None,
    secrets: SecretSource | None = None,
    image: ImageEnv | None = None,
) -> ExportResult:
    """Write one static bootstrap per selected proxy into `out_dir`; return the files written.

    `image` (proxy.image_env.ImageEnv): the App Mesh Envoy image's variables the files should carry
    (stats tags, tracing, admin port...), as `appmesh-local envoy` would apply them."""
    from appmesh_local.proxy.bootstrap import bootstrap_yaml

    config = build_config(snapshot, bind_address, cloud_map, secrets)
    proxies = select_proxies(config, virtual_nodes, virtual_gateways, everything)
    documents: list[tuple[ProxyConfig, Any]] = []
    failures = [
        f"{_label(kind)} {name}: cannot be translated: {reason}; not written"
        for (kind, name), reason in sorted(config.failures.items())
        if everything or name in (virtual_nodes if kind == VIRTUAL_NODE else virtual_gateways)
    ]
    for proxy in proxies:  # one proxy that cannot be made static does not stop the others
        try:
            documents.append(
                (
                    proxy,
                    static_bootstrap(
                        proxy,
                        snapshot.name,
                        snapshot.account,
                        snapshot.region,
                        admin_port=admin_port,
                        admin_address=admin_address,
                        sds_socket_path=sds_socket_path,
                        image=image,
                    ),
                )
            )
        except StaticExportError as exc:
            failures.append(f"{exc}; not written")
    problems = list(config.problems)
    problems += [
        f"{_label(proxy.kind)} {proxy.name}: uses sds certificates but no --sds-socket was given; "
        f"Envoy will wait for those secrets forever"
        for proxy, document in documents
        if uses_sds_socket(document)
    ]
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        files = []
        for proxy, document in documents:
            path = out_dir / proxy_file_name(proxy)
            path.write_text(bootstrap_yaml(document))
            files.append(path)
    except OSError as exc:
        raise ExportError(f"cannot write to {out_dir}: {exc.strerror or exc}") from None
    return ExportResult(files=tuple(files), problems=tuple(problems), failures=tuple(failures))


def _label(kind: str) -> str:
    return "virtual node" if kind == VIRTUAL_NODE else "virtual gateway"


__all__ = [
    "ExportError",
    "ExportResult",
    "SourceError",
    "build_config",
    "export_mesh",
    "proxy_file_name",
    "select_proxies",
]
