"""An HTTP/2 (h2c) backend for host mode: a small Envoy answering 200 with the protocol it was spoken to in.

    h2_backend.py ENVOY_BINARY     listens on $APPMESH_LOCAL_APP_HOST:$PORT; every answer carries
                                   `x-seen-protocol: HTTP/2` (or HTTP/1.1) and `x-seen-host`

Python's standard library has no HTTP/2 server; Envoy's connection manager (codec AUTO) is one.
Each request's Host is appended to $APP_LOG by Envoy's access log.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile

HCM = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"
ROUTER = "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"
FILE_LOG = "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog"


def config(host: str, port: int, log: str) -> dict:
    headers = [
        {"header": {"key": "x-seen-protocol", "value": "%PROTOCOL%"}},
        {"header": {"key": "x-seen-host", "value": "%REQ(:AUTHORITY)%"}},
    ]
    manager = {
        "@type": HCM,
        "stat_prefix": "h2_backend",
        "codec_type": "AUTO",
        "access_log": [
            {
                "name": "log",
                "typed_config": {"@type": FILE_LOG, "path": log, "log_format": {"text_format": "%PROTOCOL%\n"}},
            }
        ],
        "route_config": {
            "virtual_hosts": [
                {
                    "name": "all",
                    "domains": ["*"],
                    "routes": [
                        {"match": {"prefix": "/"}, "direct_response": {"status": 200, "body": {"inline_string": "h2"}}}
                    ],
                    "response_headers_to_add": headers,
                }
            ]
        },
        "http_filters": [{"name": "router", "typed_config": {"@type": ROUTER}}],
    }
    return {
        "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": 0}}},
        "static_resources": {
            "listeners": [
                {
                    "name": "h2",
                    "address": {"socket_address": {"address": host, "port_value": port}},
                    "filter_chains": [{"filters": [{"name": "hcm", "typed_config": manager}]}],
                }
            ]
        },
    }


if __name__ == "__main__":
    path = os.path.join(tempfile.mkdtemp(prefix="h2-backend-"), "envoy.json")
    with open(path, "w") as out:
        json.dump(config(os.environ["APPMESH_LOCAL_APP_HOST"], int(os.environ["PORT"]), os.environ["APP_LOG"]), out)
    flags = ["--disable-hot-restart", "--log-level", "error", "--file-flush-interval-msec", "100"]
    os.execv(sys.argv[1], [sys.argv[1], "-c", path, *flags])
