"""WSGI middleware: Cloud Map, ACM and ACM PCA answered on the App Mesh endpoint, by moto.

These awsJson1.1 APIs are told apart from App Mesh's rest-json by their X-Amz-Target
header, so one port serves all four and `aws servicediscovery ... --endpoint-url` works
against the same URL as `aws appmesh`. A matching request is handed, in-process, to the
WSGI app moto's own server mode runs for that service (`create_backend_app`); anything else
goes to the wrapped app untouched. Account and region come from the SigV4 header exactly as
for App Mesh (service/identity.py) and reach moto through its documented server-mode inputs: the
`x-moto-account-id` header and the service's regional host name, so both sides always agree.

Going through moto's server app rather than its response classes keeps us off moto's
request internals (moto 5.2.4 changed them and broke a direct `_dispatch` call).
"""

from __future__ import annotations

import contextlib
import functools
import io
import json
import logging
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

from werkzeug.wrappers import Request

from ..service.identity import context_from
from . import backends, cloudmap, cloudmap_rules, private_ca
from .cloudmap_rules import Refusal
from .persistence import NeighbourState, is_mutating

log = logging.getLogger(__name__)

OnChange = Callable[[str, str, str, str], None]  # (account, region, namespace name, service name)
OnTlsChange = Callable[[str, str], None]  # (account, region) whose ACM / ACM PCA state changed
AfterHook = Callable[[str, str, Mapping[str, Any], Mapping[str, Any]], None]
JSON_11 = "application/x-amz-json-1.1"


@dataclass(frozen=True)
class NeighbourApi:
    target_prefix: str  # X-Amz-Target up to the dot
    backend: str  # moto's backend name (backends.CLOUD_MAP, ...)
    host: str  # endpoint prefix: moto reads the region from "<host>.<region>.amazonaws.com"


APIS = (
    NeighbourApi("Route53AutoNaming_v20170314", backends.CLOUD_MAP, "servicediscovery"),
    NeighbourApi("CertificateManager", backends.ACM, "acm"),
    NeighbourApi("ACMPrivateCA", backends.ACM_PCA, "acm-pca"),
)

# Corrections applied after a successful call, under the lock (see each function's doc);
# checks and adjustments around Cloud Map calls are in cloudmap_rules.GUARDS.
AFTER: dict[tuple[str, str], AfterHook] = {
    (backends.CLOUD_MAP, "RegisterInstance"): cloudmap.keep_latest_registration,
    (backends.ACM, "RequestCertificate"): private_ca.issue_from_ca,
}


def api_for(target: str) -> NeighbourApi | None:
    prefix = target.partition(".")[0]
    return next((api for api in APIS if api.target_prefix == prefix), None)


class NeighbourApis:
    """Wrap `app`. Listeners run on the request thread after the call and must only enqueue.

    `on_change(account, region, namespace, service)` follows every call that may change a
    Cloud Map service's discoverable instances; `on_tls_change(account, region)` every
    successful mutating ACM / ACM PCA call (certificate material or trust may differ).
    With `state_file`, the services' state is loaded from it now and saved to it after
    every successful change (persistence.py); without, it lives in memory only.
    """

    def __init__(
        self,
        app: Callable[..., Iterable[bytes]],
        on_change: OnChange | None = None,
        state_file: Path | None = None,
        on_tls_change: OnTlsChange | None = None,
        *,
        state: NeighbourState | None = None,
    ) -> None:
        """`state` is a NeighbourState already loaded by the caller (instead of `state_file`)."""
        self.app = app
        self.on_change = on_change
        self.on_tls_change = on_tls_change
        self.state = state
        if state is None and state_file is not None:
            self.state = NeighbourState(state_file)
            self.state.load()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        api = api_for(environ.get("HTTP_X_AMZ_TARGET", ""))
        if api is None or environ.get("REQUEST_METHOD") != "POST":
            return self.app(environ, start_response)
        request = Request(environ)
        request.get_data()  # buffered: moto reads the same bytes again from the request's environ
        status, headers, body = self.handle(api, request)
        payload = body.encode() if isinstance(body, str) else bytes(body or b"")
        header_list = [
            (name, str(value)) for name, value in headers.items() if name.lower() not in {"status", "content-length"}
        ]
        if not any(name.lower() == "content-type" for name, _ in header_list):
            header_list.append(("Content-Type", JSON_11))
        header_list.append(("Content-Length", str(len(payload))))
        start_response(f"{status} {HTTPStatus(status).phrase}", header_list)
        return [payload]

    def handle(self, api: NeighbourApi, request: Request) -> tuple[int, Mapping[str, Any], Any]:
        """Run one call against moto; fire on_change for the Cloud Map services it touched."""
        context = context_from(request.headers, request.args)
        account, region = context.account, context.region
        operation = request.headers.get("X-Amz-Target", "").partition(".")[2]
        params = _json(request.get_data())
        with backends.LOCK:
            if backends.backend(api.backend, account, region) is None:
                return _error(400, "UnrecognizedClientException", f"no {api.host} in region {region!r}")
            cloud_map = api.backend == backends.CLOUD_MAP
            touched = cloudmap.affected_services(account, region, operation, params) if cloud_map else []
            guard = cloudmap_rules.GUARDS.get(operation) if cloud_map else None
            try:
                with guard(account, region, params) if guard else contextlib.nullcontext():
                    status, headers, body = _call_moto(api, account, region, request)
                if status < 300 and (hook := AFTER.get((api.backend, operation))):
                    hook(account, region, params, _json(body))
            except Refusal as refusal:
                return _error(400, refusal.code, refusal.message)
            except Exception:  # noqa: BLE001 - a moto bug answers 500, never kills the server
                log.exception("%s.%s failed in moto", api.target_prefix, operation)
                return _error(500, "InternalFailure", "internal error in the emulated service")
            if status < 300 and self.state is not None and is_mutating(operation):
                failure = self._save()
                if failure is not None:
                    return failure
        if status < 300:
            self._notify(api, account, region, operation, touched)
        return status, headers, body

    def _notify(
        self, api: NeighbourApi, account: str, region: str, operation: str, touched: list[tuple[str, str]]
    ) -> None:
        calls: list[tuple[Callable[..., None], tuple[str, ...]]] = []
        if self.on_change is not None:
            calls += [(self.on_change, (account, region, namespace, service)) for namespace, service in touched]
        if self.on_tls_change is not None and api.backend != backends.CLOUD_MAP and is_mutating(operation):
            calls.append((self.on_tls_change, (account, region)))
        for listener, args in calls:
            try:
                listener(*args)
            except Exception:  # noqa: BLE001 - a listener's failure is not the caller's
                log.exception("%s change listener failed", api.host)

    def _save(self) -> tuple[int, dict[str, str], str] | None:
        """Write the snapshot before the call is answered; on failure undo the call and answer 503.

        The client was not told the call succeeded, so it must not have: the backends go back to
        what the file holds (the state before this call), and the 503 tells boto3 and the AWS CLI
        to retry. Caller holds `backends.LOCK`.
        """
        state = self.state
        assert state is not None
        try:
            state.save()
            return None
        except Exception as error:  # noqa: BLE001 - disk full, read-only, a vanished directory...
            reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
            log.error(
                "saving Cloud Map/ACM state to %s failed (%s): the call is undone and answered 503", state.path, reason
            )
        try:
            state.restore()
        except Exception:  # noqa: BLE001 - the file went bad too: memory keeps the change, say so
            log.exception("restoring Cloud Map/ACM state from %s failed: memory is ahead of the file", state.path)
        return _error(
            503,
            "ServiceUnavailable",
            f"the change could not be saved ({reason}) and was not applied; retry when the state directory is writable",
        )


@functools.cache
def _moto_app(service: str) -> Callable[..., Iterable[bytes]]:
    """The WSGI app `moto_server` serves for `service` (built once: it maps moto's URL rules)."""
    from moto.moto_server.werkzeug_app import create_backend_app

    return create_backend_app(service)  # type: ignore[arg-type]


def _call_moto(api: NeighbourApi, account: str, region: str, request: Request) -> tuple[int, dict[str, str], bytes]:
    """One call through moto's server app, as a moto server would receive it for (account, region)."""
    body = request.get_data()
    environ = dict(request.environ)
    environ.update(
        {
            "HTTP_HOST": f"{api.host}.{region}.amazonaws.com",
            "SERVER_NAME": f"{api.host}.{region}.amazonaws.com",
            "HTTP_X_MOTO_ACCOUNT_ID": account,
            "wsgi.input": io.BytesIO(body),
            "CONTENT_LENGTH": str(len(body)),
        }
    )
    environ.pop("werkzeug.request", None)
    answer: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[..., Any]:
        answer["status"], answer["headers"] = int(status.split(" ", 1)[0]), dict(headers)
        return lambda _data: None

    chunks = _moto_app(api.backend)(environ, start_response)
    try:
        payload = b"".join(chunks)
    finally:
        getattr(chunks, "close", lambda: None)()
    return answer["status"], answer["headers"], payload


def _json(data: Any) -> dict[str, Any]:
    try:
        value = json.loads(data or b"{}")
    except (TypeError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def _error(status: int, code: str, message: str) -> tuple[int, dict[str, str], str]:
    return status, {"Content-Type": JSON_11}, json.dumps({"__type": code, "message": message})
