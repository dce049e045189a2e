"""Run the API (an asyncio HTTP server, web/serving.py) and the xDS bridge in one process."""

from __future__ import annotations

import logging
import signal
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .insight.inspector import Inspector
from .service import AppMeshService, Quotas
from .store import Store
from .web import credentials
from .web.app import ADMIN_PREFIX, create_app
from .web.errors import is_aws_json
from .web.host_check import AllowedHosts, HostCheck
from .web.limits import Limits
from .web.serving import HttpServer
from .web.sigv4 import RequireSigV4, SigV4Verifier

log = logging.getLogger(__name__)


@dataclass
class ServerConfig:
    host: str
    port: int
    xds_host: str
    xds_port: int | None  # None: API only
    state_dir: Path | None  # None: ephemeral (in memory)
    quotas: Quotas = field(default_factory=Quotas)
    threads: int = 8
    xds_extra_hosts: tuple[str, ...] = ()
    xds_socket: str | None = None  # also serve xDS on this unix socket (Envoys in network namespaces)
    listener_bind_address: str = "0.0.0.0"  # where Envoys' generated listeners bind (App Mesh: all IPv4)
    limits: Limits = field(default_factory=Limits)  # per-connection sizes and times of the API port
    require_sigv4: bool = False  # refuse API calls without a valid signature from a configured key
    credentials_file: Path | None = None  # keys for require_sigv4 (AWS credentials format), plus the environment
    allowed_hosts: tuple[str, ...] = ()  # Host names accepted besides bound addresses and localhost ("*": any)


class AppMeshServer:
    """The whole appmesh-local server: store, API, xDS bridge. Start, then stop."""

    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        verifier = self._verifier() if config.require_sigv4 else None  # a missing key fails before any state opens
        self.store = Store.open_dir(config.state_dir) if config.state_dir else Store()
        self.service = AppMeshService(self.store, config.quotas)
        self.xds: Any = None
        status = None
        inspector: Inspector | None = None
        if config.xds_port is not None:
            from .bridge.reconciler import MemoTranslator  # the bridge is optional for API-only use
            from .bridge.runtime import XdsRuntime
            from .neighbours.sources import InProcessAcm, in_process_cloud_map

            build = MemoTranslator(cloud_map=in_process_cloud_map, secrets=InProcessAcm())
            self.xds = XdsRuntime(
                self.store,
                config.xds_host,
                config.xds_port,
                extra_hosts=config.xds_extra_hosts,
                bind_address=config.listener_bind_address,
                unix_socket=config.xds_socket,
                build=build,
            )
            status = self.xds.status_snapshot
            inspector = Inspector(self.store, self.xds.cache, self.xds.status, certificates=InProcessAcm())
        self.inspector = inspector
        self.app = create_app(self.service, status, inspector)
        self.wsgi = self._with_neighbours(self.app)
        if verifier is not None:
            self.wsgi = RequireSigV4(self.wsgi, verifier, open_paths=frozenset({f"{ADMIN_PREFIX}/health"}))
        self.wsgi = HostCheck(self.wsgi, AllowedHosts([config.host], config.allowed_hosts))
        self.http = HttpServer(
            self.wsgi, config.host, config.port, threads=config.threads, limits=config.limits, inline=_inline
        )

    def _verifier(self) -> SigV4Verifier:
        """Keys from the credentials file and the environment; signing names of the neighbours' targets."""
        from .neighbours.middleware import APIS

        keys = credentials.load(self.config.credentials_file)
        return SigV4Verifier(keys, {api.target_prefix: api.host for api in APIS})

    def _with_neighbours(self, app: Any) -> Any:
        """Cloud Map, ACM and ACM PCA answer on the same port; their changes re-translate meshes."""
        from .bridge.neighbour_events import mark_region_dirty
        from .neighbours import NeighbourApis

        reconciler = getattr(self.xds, "reconciler", None)
        listener = mark_region_dirty(self.store, reconciler) if reconciler is not None else None
        state_file = self.config.state_dir / "neighbours.pickle" if self.config.state_dir else None
        return NeighbourApis(app, on_change=listener, on_tls_change=listener, state_file=state_file)

    @property
    def api_port(self) -> int:
        return self.http.effective_port

    @property
    def endpoint(self) -> str:
        return f"http://{self.config.host}:{self.api_port}"

    def start_background(self) -> AppMeshServer:
        """Serve from daemon threads (used by in-process and embedded use)."""
        if self.xds is not None:
            self.xds.start()
        self.http.start()
        return self

    def serve_forever(self) -> None:
        """Serve until SIGINT/SIGTERM; the main thread only waits for the signal."""

        def stop(signum: int, frame: object) -> None:
            raise KeyboardInterrupt

        signal.signal(signal.SIGTERM, stop)
        log.info("App Mesh API on %s (state: %s)", self.endpoint, self.store.path)
        try:
            self.start_background()
            threading.Event().wait()
        except KeyboardInterrupt:
            pass
        finally:
            self.stop()

    def stop(self) -> None:
        """Close both ports and end every server thread (HTTP loop and workers, xDS, reconciler)."""
        self.http.stop()
        if self.xds is not None:
            self.xds.stop()
        self.store.close()


def _inline(environ: dict[str, Any]) -> bool:
    """App Mesh calls run on the event loop; Cloud Map / ACM / ACM PCA calls (moto: slower,
    and ACM PCA generates keys) on worker threads, so they never hold up other clients."""
    return not is_aws_json(environ)
