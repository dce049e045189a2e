"""Defaults every entry point shares: loopback addresses, ports, where state lives."""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_HOST = "127.0.0.1"
# Who a request is when its signature names no 12-digit access key id, and its region when none:
# the account and region of every default in the API, the tools and the tests (moto's and LocalStack's).
DEFAULT_ACCOUNT = "123456789012"
DEFAULT_REGION = "us-east-1"
DEFAULT_API_PORT = 4600
DEFAULT_XDS_PORT = 4601
DEFAULT_XDS_SOCKET = "/tmp/appmesh-local/xds.sock"  # namespaces share the filesystem: no bridge needed


def default_state_dir() -> Path:
    """`$APPMESH_LOCAL_STATE_DIR`, else the per-user data directory (XDG)."""
    if os.environ.get("APPMESH_LOCAL_STATE_DIR"):
        return Path(os.environ["APPMESH_LOCAL_STATE_DIR"])
    base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return base / "appmesh-local"


def allowed_hosts_from_env() -> list[str]:
    """`$APPMESH_LOCAL_ALLOWED_HOSTS`: comma-separated Host names `serve` accepts besides its addresses."""
    return [name.strip() for name in os.environ.get("APPMESH_LOCAL_ALLOWED_HOSTS", "").split(",") if name.strip()]
