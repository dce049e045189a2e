"""The one place that touches moto's process-wide backends, and the lock that guards them.

moto keeps each service's state in a global `BackendDict` (account -> region -> backend)
and is not written for concurrent requests. The HTTP server runs them on several threads and the
xDS reconciler reads from its own, so every call into moto goes through `LOCK`. The lock is
module-level because the state it guards is module-level in moto.
"""

from __future__ import annotations

import threading
from typing import Any

LOCK = threading.RLock()

CLOUD_MAP = "servicediscovery"
ACM = "acm"
ACM_PCA = "acmpca"


def backend(service: str, account: str, region: str) -> Any | None:
    """moto's backend of `service` for (account, region); None for a region moto does not know.

    moto builds backends only for the regions botocore lists for the service, and raises
    KeyError for others; callers turn None into "nothing there" or a client error.
    """
    from moto.backends import get_backend

    per_account = get_backend(service)[account]  # type: ignore[call-overload]  # moto types it per literal name
    if region not in per_account:
        return None
    return per_account[region]
