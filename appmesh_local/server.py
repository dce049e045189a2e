"""Run the API (waitress, a production WSGI server) and the xDS bridge in one process."""

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
from .web import create_app
from .web.serving import create_http_server, shutdown_http_server

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
    listener_bind_address: str = "0.0.0.0"  # where Envoys' generated listeners bind (App Mesh: all IPv4)  # e.g. a bridge address, so Envoys in network namespaces reach xDS


class AppMeshServer:
    """The whole appmesh-local server: store, API, xDS bridge. Start, then stop."""

    def __init__(self, config: ServerConfig) -> None:
        self.config = config
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
        self.http = create_http_server(
            self.wsgi,
            host=config.host,
            port=config.port,
            threads=config.threads,
            clear_untrusted_proxy_headers=True,
            ident="appmesh-local",
        )
        self._thread: threading.Thread | None = None

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
        return int(self.http.effective_port)

    @property
    def endpoint(self) -> str:
        return f"http://{self.config.host}:{self.api_port}"

    def start_background(self) -> AppMeshServer:
        """Serve from daemon threads (used by in-process and embedded use)."""
        if self.xds is not None:
            self.xds.start()
        self._thread = threading.Thread(target=self.http.run, name="appmesh-local-http", daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in the calling thread until SIGINT/SIGTERM."""

        def stop(signum: int, frame: object) -> None:
            raise KeyboardInterrupt

        signal.signal(signal.SIGTERM, stop)
        if self.xds is not None:
            self.xds.start()
        log.info("App Mesh API on %s (state: %s)", self.endpoint, self.store.path)
        try:
            self.http.run()
        except KeyboardInterrupt:
            pass
        finally:
            self.stop()

    def stop(self) -> None:
        """Close both ports and end every server thread (HTTP loop and workers, xDS, reconciler)."""
        if self._thread is not None:
            shutdown_http_server(self.http)
        else:
            self.http.close()
            self.http.task_dispatcher.shutdown(cancel_pending=True, timeout=5)
        if self.xds is not None:
            self.xds.stop()
        if self._thread is not None:
            self._thread.join(5)
        self.store.close()
