"""ACM PCA permissions (CreatePermission, ListPermissions, DeletePermission), answered here: moto has none.

App Mesh's TLS walkthroughs (tls-with-acm, howto-k8s-tls-acm, howto-ingress-gateway) grant
ACM the right to renew the certificates a private CA issues before requesting any:
`aws acm-pca create-permission --actions IssueCertificate GetCertificate ListPermissions
--principal acm.amazonaws.com`. A permission is recorded on moto's CA object, so it is saved
with the rest of the neighbours' state and goes away with the CA. Nothing acts on it
(certificates are issued from the CA whatever it holds, ACM renewal is not emulated); it is
reported back as AWS does. Choices where AWS's record is silent are in docs/aws-behaviour.md.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from typing import Any, Mapping

from ..api_models.validation import input_problems
from . import backends
from .refusal import Refusal

SERVICE = "acm-pca"
OPERATIONS = frozenset({"CreatePermission", "ListPermissions", "DeletePermission"})
ACM_PRINCIPAL = "acm.amazonaws.com"  # the model: "At this time, the only valid principal is acm.amazonaws.com"
_ATTRIBUTE = "appmesh_local_permissions"  # on moto's CertificateAuthority: list of Permission dicts
_DEFAULT_PAGE = 1000  # the model's MaxResults upper bound


def handle(operation: str, account: str, region: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """Run one permission operation for the caller (account, region). Caller holds `backends.LOCK`."""
    problems = input_problems(SERVICE, operation, dict(params))
    if problems:
        raise Refusal("ValidationException", problems)
    arn = params["CertificateAuthorityArn"]
    authority = _authority(account, region, arn)
    permissions: list[dict[str, Any]] = getattr(authority, _ATTRIBUTE, None) or []
    if operation == "ListPermissions":
        return _page(arn, permissions, params)
    principal = params["Principal"]
    if principal != ACM_PRINCIPAL:
        raise Refusal(
            "ValidationException",
            f"1 validation error detected: Value '{principal}' at 'principal' failed to satisfy constraint: "
            f"Member must be {ACM_PRINCIPAL}, the only principal a private CA grants permissions to",
        )
    source = params.get("SourceAccount") or account
    existing = [p for p in permissions if (p["Principal"], p["SourceAccount"]) == (principal, source)]
    if operation == "CreatePermission":
        if existing:
            raise Refusal(
                "PermissionAlreadyExistsException", "The designated permission has already been given to the user."
            )
        actions = list(dict.fromkeys(params["Actions"]))
        permissions.append(
            {
                "CertificateAuthorityArn": arn,
                "CreatedAt": time.time(),
                "Principal": principal,
                "SourceAccount": source,
                "Actions": actions,
                "Policy": _policy(arn, principal, source, actions),
            }
        )
    else:  # DeletePermission
        if not existing:
            raise Refusal(
                "ResourceNotFoundException",
                f"Permission for principal {principal} (account {source}) on {arn} not found",
            )
        permissions.remove(existing[0])
    setattr(authority, _ATTRIBUTE, permissions)
    return {}


def _authority(account: str, region: str, arn: str) -> Any:
    """moto's CA for `arn` in the caller's account and region, in a state that allows permissions."""
    backend = backends.backend(backends.ACM_PCA, account, region)
    authority = backend.certificate_authorities.get(arn) if backend is not None else None
    if authority is None:
        raise Refusal("ResourceNotFoundException", f"Resource {arn} not found")  # moto's wording for other calls
    if authority.status == "DELETED":
        raise Refusal(
            "InvalidStateException", f"The certificate authority {arn} is DELETED: its permissions cannot be used"
        )
    return authority


def _page(arn: str, permissions: list[dict[str, Any]], params: Mapping[str, Any]) -> dict[str, Any]:
    start = _start(arn, params.get("NextToken"))
    size = int(params.get("MaxResults") or _DEFAULT_PAGE)
    page = permissions[start : start + size]
    out: dict[str, Any] = {"Permissions": [dict(p) for p in page]}
    if start + size < len(permissions):
        out["NextToken"] = _token(arn, start + size)
    return out


def _token(arn: str, offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"ca": arn, "offset": offset}).encode()).decode()


def _start(arn: str, token: str | None) -> int:
    if not token:
        return 0
    try:
        data = json.loads(base64.urlsafe_b64decode(token.encode()))
        if data["ca"] == arn and isinstance(data["offset"], int) and data["offset"] >= 0:
            return data["offset"]
    except (binascii.Error, ValueError, KeyError, TypeError):
        pass
    raise Refusal("InvalidNextTokenException", "The token specified in the NextToken argument is not valid.")


def _policy(arn: str, principal: str, source: str, actions: list[str]) -> str:
    """The resource policy the grant amounts to (the model's `Permission.Policy`)."""
    statement = {
        "Effect": "Allow",
        "Principal": {"Service": principal},
        "Action": [f"acm-pca:{action}" for action in actions],
        "Resource": arn,
        "Condition": {"StringEquals": {"aws:SourceAccount": source}},
    }
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]}, separators=(",", ":"))
