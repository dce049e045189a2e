"""App Mesh's Envoy resource names: the one place that spells them.

Users debug with these names and App Mesh's documented stats depend on them
(docs/reference.md#resource-names). Names always say 0.0.0.0 even when a listener binds elsewhere.
"""

from __future__ import annotations

INGRESS_PORT = 15000
EGRESS_PORT = 15001
NAME_ADDRESS = "0.0.0.0"
DEFAULT_BIND_ADDRESS = "0.0.0.0"
GATEWAY_EGRESS_BIND_ADDRESS = "127.0.0.1"
LOCAL_APP_V4 = "127.0.0.1"
LOCAL_APP_V6 = "::1"
SELF_REDIRECT_VHOST = "self_redirect"
HTTP_PROXY_PORT = EGRESS_PORT  # host mode: the egress address's HTTP proxy (HTTP_PROXY, CONNECT)
HTTP_PROXY_CHAIN = "egress_http_proxy"
HTTP_PROXY_STAT_PREFIX = "egress_http_proxy"
DEFAULT_BACKEND_VHOST = "default_backend"
VIRTUAL_SERVICE_HEADER = "x-app-mesh-virtual-service"
AGGREGATE_STATS_KEY = "aws.appmesh.aggregate_stats"


def ingress_listener(port: int = INGRESS_PORT) -> str:
    return f"lds_ingress_{NAME_ADDRESS}_{port}"


def egress_listener(port: int = EGRESS_PORT) -> str:
    return f"lds_egress_{NAME_ADDRESS}_{port}"


def ingress_route_config(protocol: str, port: int) -> str:
    return f"rds_ingress_{protocol}_{port}"


def egress_route_config(protocol: str, port: int) -> str:
    return f"rds_egress_{protocol}_{port}"


def ingress_cluster(mesh: str, node: str, protocol: str, port: int) -> str:
    return f"cds_ingress_{mesh}_{node}_{protocol}_{port}"


def egress_cluster(mesh: str, node: str, protocol: str, port: int) -> str:
    return f"cds_egress_{mesh}_{node}_{protocol}_{port}"


def self_redirect_cluster(mesh: str, gateway: str, protocol: str, listener_port: int | None) -> str:
    """Gateway → own egress; the listener port appears only with several gateway listeners."""
    middle = "self_redirect" if listener_port is None else f"self_redirect_{listener_port}"
    return f"cds_ingress_{mesh}_{gateway}_{middle}_{protocol}_{EGRESS_PORT}"


def host_redirect_cluster(mesh: str, node: str, port: int) -> str:
    """Host mode: from the HTTP proxy on the egress address's 15001 to the same Envoy's egress on `port`."""
    return f"cds_egress_{mesh}_{node}_self_redirect_{port}"


def amazonaws_cluster(mesh: str) -> str:
    return f"cds_egress_{mesh}_amazonaws"


def allow_all_cluster(mesh: str) -> str:
    return f"cds_egress_{mesh}_mesh-allow-all"
