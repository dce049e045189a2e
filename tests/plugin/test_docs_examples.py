"""The CI guide's examples run as written: the example test module and the workflow's shell steps."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.plugin.test_fixtures import free_port

pytestmark = pytest.mark.timeout(240)
EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "examples"
WORKFLOW = EXAMPLES / "github-actions-appmesh.yml"


def job(name: str) -> dict:
    return yaml.safe_load(WORKFLOW.read_text())["jobs"][name]


def runnable_steps(steps: list[dict]) -> list[dict]:
    """The `run:` steps except installs (the test environment has everything installed)."""
    return [s for s in steps if "run" in s and not s.get("name", "").startswith("Install")]


def test_pytest_job_runs_the_example_module(tmp_path):
    integration = tmp_path / "tests" / "integration"
    integration.mkdir(parents=True)
    shutil.copy(EXAMPLES / "test_appmesh_example.py", integration)
    [step] = runnable_steps(job("pytest")["steps"])
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", step["run"]], cwd=tmp_path, capture_output=True, text=True, timeout=200
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 passed" in result.stdout


@pytest.fixture
def step_groups():
    """Process groups of the steps' shells: what a step left running (the server) is stopped after the test."""
    groups: list[int] = []
    yield groups
    for group in groups:
        try:
            os.killpg(group, signal.SIGTERM)
        except ProcessLookupError:
            pass


def test_cli_job_steps_run_as_written(tmp_path, step_groups):
    spec = job("cli")
    env = {**os.environ, **{k: str(v) for k, v in spec["env"].items()}}
    api, xds = free_port(), free_port()  # the workflow's fixed ports could be taken on a shared machine
    env.update(APPMESH_PORT=str(api), APPMESH_XDS_PORT=str(xds), AWS_ENDPOINT_URL_APP_MESH=f"http://127.0.0.1:{api}")
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL"):
        env.pop(name, None)
    env["AWS_CONFIG_FILE"] = env["AWS_SHARED_CREDENTIALS_FILE"] = str(tmp_path / "no-aws-config")
    output = []
    for step in runnable_steps(spec["steps"]):
        # As GitHub runs a `run:` step: its own bash, -e and pipefail; background processes outlive it.
        shell = subprocess.Popen(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        step_groups.append(shell.pid)
        out, _ = shell.communicate(timeout=120)
        output.append(out)
        assert shell.returncode == 0, f"step {step.get('name')!r} failed:\n{out}"
    exported = sorted(p.name for p in (tmp_path / "envoy-config").iterdir())
    assert exported == ["virtual-gateway-gw.yaml", "virtual-node-app.yaml"]
    assert '"meshes"' in output[-1]  # the status step printed the bridge's report
