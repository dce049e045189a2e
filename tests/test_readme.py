"""The README's commands are the ones that work: CI runs its test command, its CLI examples run as written.

A user copies these lines onto a fresh machine with no AWS configuration; if they drift
from what CI runs, a green CI says nothing about what the user gets.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def bash_blocks(markdown: str) -> list[str]:
    return re.findall(r"```bash\n(.*?)```", markdown, flags=re.S)


def section(markdown: str, heading: str) -> str:
    start = markdown.index(heading)
    end = markdown.find("\n## ", start + len(heading))
    return markdown[start : end if end > 0 else None]


def test_ci_runs_the_readme_test_command() -> None:
    setup = bash_blocks(section(README, "## Set-up"))
    assert len(setup) == 2, "the set-up section gives two commands: start the server, run the tests"
    ci_lines = [line for line in (ROOT / ".ci/run").read_text().splitlines() if line and not line.startswith("#")]
    assert ci_lines[-1].strip() == setup[1].strip()
    assert "venv --clear" in setup[1], "the tests install into a fresh virtual environment"
    assert "-c constraints.txt" in setup[0] and "-c constraints.txt" in setup[1]


def clean_environment(home: Path) -> dict[str, str]:
    """A machine with no AWS configuration: no AWS_* variables, an empty home."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}
    env.update({"HOME": str(home), "AWS_EC2_METADATA_DISABLED": "true", "AWS_PAGER": ""})
    return env


def run_readme_lines(lines: str, endpoint: str, home: Path) -> subprocess.CompletedProcess:
    # `aws` is the CLI from the test extra; a function keeps the test independent of PATH.
    script = f'aws() {{ "{sys.executable}" -m awscli "$@"; }}\nset -e\n' + lines.replace(
        "http://127.0.0.1:4600", endpoint
    )
    return subprocess.run(
        ["bash", "-c", script], env=clean_environment(home), capture_output=True, text=True, timeout=120
    )


def test_readme_cli_example_runs_on_a_machine_without_aws_configuration(server, tmp_path) -> None:
    block = next(block for block in bash_blocks(README) if "aws appmesh list-meshes" in block)
    done = run_readme_lines(block, server.endpoint, tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.count('"meshes"') == 2, done.stdout  # both spellings of the endpoint answered


def test_readme_cloud_map_example_runs_as_written(server, tmp_path) -> None:
    block = next(block for block in bash_blocks(README) if "create-http-namespace" in block)
    export = next(block for block in bash_blocks(README) if "AWS_ACCESS_KEY_ID=" in block).splitlines()[0]
    first = block.splitlines()[0]
    done = run_readme_lines(f"{export}\n{first}", server.endpoint, tmp_path)
    assert done.returncode == 0, done.stderr
    assert "OperationId" in done.stdout
