"""Small builders and assertions shared by the black-box API tests."""

from __future__ import annotations

import contextlib
import datetime as dt
import itertools
import os
import re
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator

import botocore.auth
import botocore.awsrequest
import botocore.credentials
import pytest
from botocore.exceptions import ClientError

_accounts = itertools.count(1)
UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
DEFAULT_ACCOUNT = "123456789012"


def unique(prefix: str) -> str:
    """A name no other test uses (tests share one server)."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def fresh_account() -> str:
    """A 12-digit account id used by no other test in this session: isolates state and quotas."""
    return f"{300000000000 + (os.getpid() % 10000) * 10_000_000 + next(_accounts):012d}"


@contextlib.contextmanager
def api_error(code: str, status: int, *message_parts: str) -> Iterator[pytest.ExceptionInfo]:
    """Expect a modelled App Mesh error: code from x-amzn-ErrorType, HTTP status, message words."""
    with pytest.raises(ClientError) as info:
        yield info
    response = info.value.response
    assert response["Error"]["Code"] == code, response
    assert response["ResponseMetadata"]["HTTPStatusCode"] == status, response
    message = response["Error"].get("Message", "")
    for part in message_parts:
        assert part in message, f"{part!r} not in {message!r}"


def error_of(call, *args, **kwargs) -> dict:
    """Run a call that must fail and return botocore's parsed error response."""
    with pytest.raises(ClientError) as info:
        call(*args, **kwargs)
    return info.value.response


# ---------------------------------------------------------------- specs


def node_spec(
    port: int | None = 8080,
    protocol: str = "http",
    hostname: str = "app.local",
    backends: list[str] = (),
    ports: list[int] | None = None,
) -> dict:
    """A virtual node with DNS discovery, listeners on `ports` (or `port`), optional backends."""
    spec: dict = {}
    listen = ports if ports is not None else ([port] if port else [])
    if listen:
        spec["listeners"] = [{"portMapping": {"port": p, "protocol": protocol}} for p in listen]
        spec["serviceDiscovery"] = {"dns": {"hostname": hostname}}
    if backends:
        spec["backends"] = [{"virtualService": {"virtualServiceName": name}} for name in backends]
    return spec


def router_spec(*ports: int, protocol: str = "http") -> dict:
    return {"listeners": [{"portMapping": {"port": p, "protocol": protocol}} for p in ports or (8080,)]}


def http_route_spec(
    *targets: str,
    prefix: str = "/",
    port: int | None = None,
    weights: list[int] | None = None,
    priority: int | None = None,
) -> dict:
    weights = weights or [1] * len(targets)
    match: dict = {"prefix": prefix}
    if port is not None:
        match["port"] = port
    spec: dict = {
        "httpRoute": {
            "match": match,
            "action": {"weightedTargets": [{"virtualNode": t, "weight": w} for t, w in zip(targets, weights)]},
        }
    }
    if priority is not None:
        spec["priority"] = priority
    return spec


def service_spec(node: str | None = None, router: str | None = None) -> dict:
    if node:
        return {"provider": {"virtualNode": {"virtualNodeName": node}}}
    if router:
        return {"provider": {"virtualRouter": {"virtualRouterName": router}}}
    return {}


def gateway_spec(*ports: int, protocol: str = "http") -> dict:
    return {"listeners": [{"portMapping": {"port": p, "protocol": protocol}} for p in ports or (8088,)]}


def gateway_route_spec(service: str, prefix: str = "/", port: int | None = None) -> dict:
    match: dict = {"prefix": prefix}
    if port is not None:
        match["port"] = port
    return {"httpRoute": {"match": match, "action": {"target": {"virtualService": {"virtualServiceName": service}}}}}


# ---------------------------------------------------------------- metadata


def arn(region: str, account: str, mesh: str, *path: str) -> str:
    suffix = "".join(f"/{part}" for part in path)
    return f"arn:aws:appmesh:{region}:{account}:mesh/{mesh}{suffix}"


def assert_fresh_metadata(metadata: dict, expected_arn: str, account: str) -> None:
    """Metadata of a resource just created: version 1, ACTIVE owner fields, UUID uid, datetimes."""
    assert metadata["arn"] == expected_arn
    assert metadata["version"] == 1
    assert UUID_RE.match(metadata["uid"]), metadata["uid"]
    assert metadata["meshOwner"] == account
    assert metadata["resourceOwner"] == account
    assert isinstance(metadata["createdAt"], dt.datetime)
    assert isinstance(metadata["lastUpdatedAt"], dt.datetime)
    now = dt.datetime.now(dt.UTC)
    assert abs(now - metadata["createdAt"]) < dt.timedelta(minutes=5)
    assert metadata["lastUpdatedAt"] >= metadata["createdAt"]


def assert_updated(before: dict, after: dict) -> None:
    """An update keeps arn/uid/createdAt, bumps version by one and moves lastUpdatedAt."""
    for key in ("arn", "uid", "createdAt", "meshOwner", "resourceOwner"):
        assert after[key] == before[key], key
    assert after["version"] == before["version"] + 1
    assert after["lastUpdatedAt"] > before["lastUpdatedAt"]


REF_KEYS_FORBIDDEN = {"uid", "spec", "status"}


def assert_ref(ref: dict, data: dict) -> None:
    """A List item mirrors the resource's metadata but carries no uid/spec/status."""
    assert not REF_KEYS_FORBIDDEN & set(ref), ref
    metadata = data["metadata"]
    for key in ("arn", "createdAt", "lastUpdatedAt", "meshOwner", "resourceOwner", "version"):
        assert ref[key] == metadata[key], key
    assert ref["meshName"] == data["meshName"]


# ---------------------------------------------------------------- raw HTTP


def send_signed(
    endpoint: str, account: str, region: str, method: str, path: str, body: bytes = b""
) -> tuple[int, dict[str, str], bytes]:
    """A SigV4-signed request with an arbitrary body, for inputs no SDK serializer can produce.

    Returns (status, headers with lower-case names, body).
    """
    request = botocore.awsrequest.AWSRequest(
        method=method, url=f"{endpoint}{path}", data=body, headers={"Content-Type": "application/json"}
    )
    credentials = botocore.credentials.Credentials(account, "testing")
    botocore.auth.SigV4Auth(credentials, "appmesh", region).add_auth(request)
    prepared = request.prepare()
    http_request = urllib.request.Request(
        prepared.url, data=prepared.body, method=method, headers=dict(prepared.headers)
    )
    try:
        with urllib.request.urlopen(http_request, timeout=10) as response:
            return response.status, _lower(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, _lower(error.headers), error.read()


def _lower(headers) -> dict[str, str]:
    return {name.lower(): value for name, value in headers.items()}
