"""The helpers that keep big inputs from stalling other clients: same results, shared switches.

`jsontext.dumps` must give exactly `json.dumps`'s text whichever encoder it picks, and
`collector.paused` must keep the collector off until the last of overlapping pauses ends
(a large request ending used to re-enable it in the middle of a bridge rebuild).
"""

from __future__ import annotations

import gc
import json
from datetime import UTC, datetime

import pytest

from appmesh_local import collector, jsontext


def _encode(value: object) -> object:
    if isinstance(value, datetime):
        return value.timestamp()
    raise TypeError(type(value).__name__)


def big_spec(listeners: int) -> dict[str, object]:
    return {
        "listeners": [
            {"portMapping": {"port": i, "protocol": "http"}, "healthCheck": {"path": "/é", "enabled": i % 2 == 0}}
            for i in range(listeners)
        ],
        "when": datetime(2026, 1, 1, tzinfo=UTC),
        "ratio": 0.5,
        "none": None,
    }


@pytest.mark.parametrize("listeners", [1, 10, 5_000])
@pytest.mark.parametrize("options", [{}, {"separators": (",", ":")}, {"sort_keys": True}])
def test_the_text_is_json_dumps_text_for_small_and_large_documents(listeners, options):
    document = big_spec(listeners)
    assert jsontext.is_large(document) is (listeners == 5_000)
    assert jsontext.dumps(document, default=_encode, **options) == json.dumps(document, default=_encode, **options)


def test_a_value_json_cannot_encode_is_refused_by_either_encoder():
    for listeners in (1, 5_000):
        with pytest.raises(TypeError):
            jsontext.dumps(big_spec(listeners))


def test_overlapping_pauses_keep_the_collector_off_until_the_last_ends():
    was_enabled = gc.isenabled()
    gc.enable()
    try:
        first = collector.paused()
        second = collector.paused()
        first.__enter__()
        assert not gc.isenabled()
        second.__enter__()
        first.__exit__(None, None, None)  # the earlier pause ends while the later one runs
        assert not gc.isenabled()
        second.__exit__(None, None, None)
        assert gc.isenabled()
    finally:
        gc.enable() if was_enabled else gc.disable()


def test_a_pause_leaves_a_collector_that_was_off_off():
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        with collector.paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    finally:
        gc.enable() if was_enabled else gc.disable()
