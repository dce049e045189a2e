"""Golden-file support: `pytest --update-golden` (or UPDATE_GOLDEN=1) rewrites expected outputs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from tests.translate.envoy_check import make_certs

GOLDEN_DIR = Path(__file__).parent / "golden"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden",
        action="store_true",
        default=False,
        help="rewrite tests/translate/golden/*.ir.yaml and *.envoy.yaml from current output",
    )


@pytest.fixture
def update_golden(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--update-golden")) or os.environ.get("UPDATE_GOLDEN") == "1"


def golden_cases() -> list[Path]:
    """Input files: every golden/*.yaml that is not itself an expected output."""
    return sorted(p for p in GOLDEN_DIR.glob("*.yaml") if not p.name.endswith((".ir.yaml", ".envoy.yaml")))


def to_yaml(data: object) -> str:
    return yaml.safe_dump(data, sort_keys=False, default_flow_style=False, width=120)


@pytest.fixture(scope="session")
def cert_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CA and two leaf certificates, standing in for the test meshes' /certs files."""
    certs = make_certs(tmp_path_factory.mktemp("certs"))
    if certs is None:
        pytest.skip("openssl not available to make test certificates")
    return certs
