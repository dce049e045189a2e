"""The codebase's own contracts, checked by the same command as the behaviour: lint, format, import layers, types.

They run here (not only in a separate CI step) so that the README's single test command proves them,
on a developer's machine as in CI. Each check is the tool's own exit status; its output is the message.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def run_tool(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=600)


def tool(name: str) -> str:
    """A console script installed beside this interpreter (the test extra installs them all)."""
    found = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed: pip install -c constraints.txt -e '.[test]'")
    return found


def test_ruff_lint_is_clean() -> None:
    done = run_tool(tool("ruff"), "check", ".")
    assert done.returncode == 0, done.stdout + done.stderr


def test_ruff_format_is_applied() -> None:
    done = run_tool(tool("ruff"), "format", "--check", ".")
    assert done.returncode == 0, "run `ruff format .`\n" + done.stdout + done.stderr


def test_imports_follow_the_data_flow() -> None:
    done = run_tool(tool("lint-imports"), "--no-cache")
    assert done.returncode == 0, done.stdout + done.stderr


def test_types_check() -> None:
    """mypy with the configuration in pyproject.toml ([tool.mypy]: strict for the data model)."""
    done = run_tool(tool("mypy"))
    assert done.returncode == 0, done.stdout + done.stderr
