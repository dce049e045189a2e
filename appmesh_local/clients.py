"""Reaching a running appmesh-local: which endpoint, and botocore clients for it.

Shared by the tools that talk to a server from outside (`export`, `apply`): they find the
endpoint the way botocore's own configuration names it, and never real AWS unless told.
"""

from __future__ import annotations

from typing import Any, Callable

DEFAULT_ENDPOINT = "http://127.0.0.1:4600"
DEFAULT_ACCOUNT = "123456789012"
DEFAULT_REGION = "us-east-1"


def default_endpoint(region: str = DEFAULT_REGION) -> str:
    """The App Mesh endpoint botocore's own configuration names (AWS_ENDPOINT_URL_APP_MESH,
    AWS_ENDPOINT_URL, the profile's `services` section or `endpoint_url`), else the local
    default: an export never reads from real AWS unless told to with --endpoint."""
    import botocore.session

    try:
        client = botocore.session.get_session().create_client(
            "appmesh", region_name=region, aws_access_key_id="unused", aws_secret_access_key="unused"
        )
        configured = client.meta.endpoint_url
    except Exception:  # noqa: BLE001 - an unusable configuration falls back to the local server
        configured = None
    if configured and not any(aws in configured for aws in (".amazonaws.com", ".api.aws", ".amazonaws.com.cn")):
        return configured
    return DEFAULT_ENDPOINT


def api_client(
    endpoint: str, region: str = DEFAULT_REGION, account: str | None = None, service: str = "appmesh"
) -> Any:
    """A botocore client for `endpoint`. `account` becomes the access key id (the server's
    account); without it the usual credential chain is used, else a dummy key."""
    import botocore.session
    from botocore.config import Config

    session = botocore.session.get_session()
    credentials: dict[str, str] = {}
    if account is not None or session.get_credentials() is None:
        credentials = {"aws_access_key_id": account or DEFAULT_ACCOUNT, "aws_secret_access_key": "appmesh-local"}
    # No host prefix: DiscoverInstances would otherwise go to data-servicediscovery.<endpoint host>.
    config = Config(retries={"max_attempts": 1}, connect_timeout=5, read_timeout=30, inject_host_prefix=False)
    return session.create_client(service, endpoint_url=endpoint, region_name=region, config=config, **credentials)


def api_client_factory(endpoint: str) -> Callable[[str, str, str], Any]:
    """(service, account, region) → a cached client for the same server, as that account."""
    made: dict[tuple[str, str, str], Any] = {}

    def client(service: str, account: str, region: str) -> Any:
        key = (service, account, region)
        if key not in made:
            made[key] = api_client(endpoint, region, account, service)
        return made[key]

    return client
