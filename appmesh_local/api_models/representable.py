"""Numeric bounds beyond the model's min/max: what the wire type and Envoy can represent.

The model leaves many numbers open-ended (`MaxConnections` has a min of 1 and no max,
`DurationValue` a min of 0). A value that the API stores but the bridge cannot turn into
Envoy configuration would freeze its whole mesh's translation, so such values are refused
up front with the model's own BadRequest wording, naming the field. Each bound and where
it comes from is listed in docs/aws-behaviour.md ("Numbers Envoy cannot represent").
"""

from __future__ import annotations

from typing import Any

from botocore.model import Shape

# Smithy's number types (the model's `integer` and `long`) are signed 32- and 64-bit:
# a JSON number outside them is not a value of the member's type at all.
TYPE_RANGES: dict[str, tuple[int, int]] = {
    "integer": (-(2**31), 2**31 - 1),
    "long": (-(2**63), 2**63 - 1),
}

UINT32_MAX = 2**32 - 1

# Shapes whose Envoy field is a uint32 (google.protobuf.UInt32Value or uint32):
# RetryPolicy.num_retries and OutlierDetection.consecutive_5xx.
ENVOY_MAXIMUMS: dict[str, int] = {
    "MaxRetries": UINT32_MAX,
    "OutlierDetectionMaxServerErrors": UINT32_MAX,
}

# App Mesh durations become google.protobuf.Duration fields, and Envoy refuses a Duration
# whose seconds reach (2**63 - 1) // 10**9 = 9,223,372,036 (its nanoseconds would overflow a
# signed 64-bit integer; "Duration out-of-range"). Envoy 1.40 in validate mode accepts
# 9,223,372,035.999 s and refuses 9,223,372,036 s (tests/reliability/test_envoy_bounds.py).
# So at most 9,223,372,035,999 ms, about 292 years.
MAX_DURATION_MS = (2**63 - 1) // 10**9 * 1000 - 1
UNIT_MS = {"ms": 1, "s": 1000}
DURATION_SHAPE = "Duration"


def bounds(shape: Shape, envoy: bool = True) -> tuple[int | float | None, int | float | None]:
    """The model's (min, max) for a number shape, narrowed to its type's and (App Mesh) Envoy's range."""
    low, high = shape.metadata.get("min"), shape.metadata.get("max")
    type_range = TYPE_RANGES.get(shape.type_name)
    if type_range is not None:
        low = type_range[0] if low is None else max(low, type_range[0])
        high = type_range[1] if high is None else min(high, type_range[1])
    envoy_max = ENVOY_MAXIMUMS.get(shape.name) if envoy else None
    if envoy_max is not None:
        high = envoy_max if high is None else min(high, envoy_max)
    return low, high


def duration_limit(unit: Any) -> int:
    """The largest `value` a Duration of `unit` may carry (the default unit is ms, as the bridge reads it)."""
    return MAX_DURATION_MS // UNIT_MS.get(unit if isinstance(unit, str) else "ms", 1)


def duration_problem(duration: Any) -> str | None:
    """Coral's wording for a Duration Envoy cannot hold, or None when it fits."""
    if not isinstance(duration, dict):
        return None
    value = duration.get("value")
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    limit = duration_limit(duration.get("unit"))
    if value > limit:
        return f"Member must have value less than or equal to {limit} for unit {duration.get('unit') or 'ms'}"
    return None
