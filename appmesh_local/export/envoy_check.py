"""Check exported files with Envoy itself (`envoy --mode validate`): an export Envoy refuses is no export.

The translator can produce what Envoy's own constraints reject (a TCP route whose target
has weight 0 becomes a weighted cluster of weight 0; Envoy requires ≥ 1). The API
accepted the mesh, so nothing upstream catches it: the last line of defence is the same
Envoy the file is meant for. Files are checked two at a time (Envoy's validation is
single-threaded, ~0.25 s each).
"""

from __future__ import annotations

import re
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Sequence

_INIT_ERROR = re.compile(r"error initializing configuration '[^']*': ?(.*)")
TIMEOUT_S = 120.0


def envoy_rejections(paths: Sequence[Path], envoy: Path, workers: int = 2) -> dict[Path, str]:
    """{file: Envoy's reason} for every file `envoy --mode validate` refuses."""
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        verdicts = list(pool.map(lambda path: (path, validate(path, envoy)), paths))
    return {path: reason for path, reason in verdicts if reason is not None}


def validate(path: Path, envoy: Path) -> str | None:
    """None when Envoy accepts `path`, else the one line of its output that says why not."""
    try:
        result = subprocess.run(
            [str(envoy), "--mode", "validate", "-c", str(path), "--log-level", "error"],
            capture_output=True,
            text=True,
            timeout=TIMEOUT_S,
        )
    except subprocess.TimeoutExpired:
        return f"envoy --mode validate did not finish within {TIMEOUT_S:.0f}s"
    except OSError as error:
        return f"cannot run {envoy}: {error.strerror or error}"
    if result.returncode == 0:
        return None
    return reason_of(result.stdout + result.stderr)


def reason_of(output: str) -> str:
    """Envoy prints the failing message's text dump between its error line and the reason: keep the reason."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    for line in reversed(lines):
        if line.startswith(": "):  # "...: Proto constraint validation failed (...)" after a message dump
            return line[2:]
    for line in lines:
        found = _INIT_ERROR.search(line)
        if found and found.group(1) and "goo.gle/debugproto" not in found.group(1):
            return found.group(1)
    return lines[-1] if lines else "Envoy refused it without a message"
