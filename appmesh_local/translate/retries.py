"""App Mesh retry policies → IR RetryPolicy (docs/reference.md#retries), including the invisible default."""

from __future__ import annotations

from typing import Any, Mapping

from appmesh_local.ir import RetryPolicy
from appmesh_local.translate.values import duration_ms, opt, uint32

# Applied when a route has no retryPolicy, and to virtual-node-provider services. `reset`
# included as the later docs say (docs/reference.md#uncertain); no per-try timeout (RM#229 snippet).
DEFAULT_RETRY = RetryPolicy(
    retry_on=("reset", "unavailable", "connect-failure", "refused-stream", "retriable-status-codes"),
    num_retries=2,
    retriable_status_codes=(503,),
)

_SERVER_ERROR_CODES = (500, 501, 502, 503, 504, 505, 506, 507, 508, 510, 511)
_HTTP_EVENTS: dict[str, tuple[tuple[str, ...], tuple[int, ...]]] = {
    "server-error": (("reset", "retriable-status-codes"), _SERVER_ERROR_CODES),
    "gateway-error": (("reset", "retriable-status-codes"), (502, 503, 504)),
    "client-error": (("retriable-status-codes",), (409,)),
    "stream-error": (("refused-stream",), ()),
}
_TCP_EVENTS = {"connection-error": "connect-failure"}
_GRPC_EVENTS = ("cancelled", "deadline-exceeded", "internal", "resource-exhausted", "unavailable")
# Token order as observed in App Mesh output: "reset,refused-stream,retriable-status-codes".
_TOKEN_ORDER = ("reset", "connect-failure", "refused-stream", "retriable-status-codes") + _GRPC_EVENTS


def retry_policy(spec: Mapping[str, Any] | None, default: RetryPolicy | None) -> RetryPolicy | None:
    """HttpRetryPolicy / GrpcRetryPolicy → RetryPolicy; `default` when the route has none."""
    if not spec:
        return default
    tokens: set[str] = set()
    codes: list[int] = []
    for event in spec.get("httpRetryEvents") or ():
        event_tokens, event_codes = _HTTP_EVENTS.get(event, ((), ()))
        tokens.update(event_tokens)
        codes.extend(c for c in event_codes if c not in codes)
    for event in spec.get("tcpRetryEvents") or ():
        if event in _TCP_EVENTS:
            tokens.add(_TCP_EVENTS[event])
    for event in spec.get("grpcRetryEvents") or ():
        if event in _GRPC_EVENTS:
            tokens.add(event)
    return RetryPolicy(
        retry_on=tuple(t for t in _TOKEN_ORDER if t in tokens),
        num_retries=uint32(opt(spec, "maxRetries", 0)),
        retriable_status_codes=tuple(codes),
        per_try_timeout_ms=duration_ms(spec.get("perRetryTimeout")),
    )
