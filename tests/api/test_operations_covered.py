"""Meta-test: every App Mesh operation is called by at least one black-box test.

A plain text scan of tests/api/*.py for the boto3 method name followed by `(`; deterministic and
independent of test order. The wire round-trip tests cover all operations by construction and are
deliberately not counted here: this is about calls against the running server.
"""

from __future__ import annotations

from pathlib import Path

import botocore.session
from botocore import xform_name

HERE = Path(__file__).parent
EXCLUDED = {
    "test_operations_covered.py",
    "test_wire_roundtrip.py",
    "model_examples.py",
    "conftest.py",
    "helpers.py",
    "__init__.py",
}


def test_every_operation_has_a_server_test():
    model = botocore.session.get_session().get_service_model("appmesh")
    assert len(model.operation_names) == 38
    sources = "\n".join(path.read_text() for path in sorted(HERE.glob("*.py")) if path.name not in EXCLUDED)
    missing = [name for name in model.operation_names if f".{xform_name(name)}(" not in sources]
    assert not missing, f"operations without a server test: {missing}"
