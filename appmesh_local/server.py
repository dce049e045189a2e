"""Run the API (waitress, a production WSGI server) and the xDS bridge in one process."""

from __future__ import annotations

import logging
import resource
import signal
import sqlite3
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .insight.inspector import Inspector
from .service import AppMeshService, Quotas
from .store import Store
from .store.state_dir import XDS_AUTH_KEY, StateDir, StateDirError, open_state_dir
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
    xds_auth: bool = False  # every ADS stream must present a token or a SigV4 signature (xds.auth)
    xds_auth_key: Path | None = None  # token key file; default <state_dir>/xds-auth.key, in memory if ephemeral
    credentials_file: Path | None = None  # AWS shared-credentials file whose keys may sign xDS streams
    xds_socket_group: int | None = None  # the unix socket is 0660 with this gid, else 0600


def raise_open_file_limit(wanted: int = 65536) -> int:
    """Lift this process's soft RLIMIT_NOFILE towards `wanted` (never above the hard limit); return it.

    Every Envoy holds an xDS connection and every API client a socket: a 1024 soft limit (common
    in CI) would make the server refuse connections long before it is busy. Go's runtime does the
    same for every Go program; the hard limit stays the administrator's choice.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            return target
        except (ValueError, OSError):
            log.debug("cannot raise RLIMIT_NOFILE from %s to %s", soft, target)
    return soft


class AppMeshServer:
    """The whole appmesh-local server: store, API, xDS bridge. Start, then stop."""

    def __init__(self, config: ServerConfig) -> None:
        """Lock and open the state, then build the API and the bridge. A state directory that cannot be
        used raises StateDirError (one line for the user), with whatever was taken released."""
        self.config = config
        self.state_dir: StateDir | None = open_state_dir(config.state_dir) if config.state_dir else None
        self.xds: Any = None
        self._thread: threading.Thread | None = None
        self._neighbour_state: Any = None
        try:
            self._neighbour_state = self._load_neighbours()  # before the database: a bad file creates nothing
            self.store = self._open_store()
        except BaseException:
            if self.state_dir is not None:
                self.state_dir.close()
            raise
        try:
            self._build(config)
        except BaseException:
            self._release_state()
            raise

    def _load_neighbours(self) -> Any:
        """Cloud Map/ACM/ACM PCA state from the directory's snapshot (neighbours.persistence)."""
        if self.state_dir is None:
            return None
        from .neighbours.persistence import NeighbourState

        state = NeighbourState(self.state_dir.neighbours)
        state.load()
        return state

    def _open_store(self) -> Store:
        if self.state_dir is None:
            return Store()
        try:
            return Store(self.state_dir.database)
        except sqlite3.Error as error:
            raise StateDirError(f"cannot open {self.state_dir.database}: {error}") from None

    def _build(self, config: ServerConfig) -> None:
        self.service = AppMeshService(self.store, config.quotas)
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
                auth=self._xds_auth(config) if config.xds_auth else None,
                unix_socket_group=config.xds_socket_group,
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

    def _xds_auth(self, config: ServerConfig) -> Any:
        """Tokens under the key file (made on first use) and SigV4 with the configured credentials."""
        from .bridge.xds_auth import build_xds_auth
        from .service.credentials import CredentialStore
        from .xds.auth import TokenKey

        key_path = config.xds_auth_key or (self.state_dir.path / XDS_AUTH_KEY if self.state_dir else None)
        credentials = CredentialStore.load(config.credentials_file)
        return build_xds_auth(key_path or TokenKey.generate(), credentials if len(credentials) else None)

    def xds_token(self, proxy: Any) -> str | None:
        """The token that opens `proxy`'s (xds.node_id.ProxyRef) stream; None when xDS needs none."""
        auth = getattr(self.xds, "auth", None)
        return auth.tokens.token(proxy) if auth is not None and auth.tokens is not None else None

    def _with_neighbours(self, app: Any) -> Any:
        """Cloud Map, ACM and ACM PCA answer on the same port; their changes re-translate meshes."""
        from .bridge.neighbour_events import mark_region_dirty
        from .neighbours import NeighbourApis

        reconciler = getattr(self.xds, "reconciler", None)
        listener = mark_region_dirty(self.store, reconciler) if reconciler is not None else None
        return NeighbourApis(app, on_change=listener, on_tls_change=listener, state=self._neighbour_state)

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
        self._release_state()

    def _release_state(self) -> None:
        """Close the database, then drop the directory's lock (in that order: no write after the unlock)."""
        self.store.close()
        if self.state_dir is not None:
            self.state_dir.close()
