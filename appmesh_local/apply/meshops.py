"""App Mesh resources created, compared, updated and deleted through the API, as any client would.

Both readers (CloudFormation and Kubernetes) end here with the same thing: a kind and the
parameters of its Create call (`meshName`, the parent's name, the resource's name, `spec`,
`tags`). A resource is unchanged when the spec the server would store (its documented
defaults applied, `service.defaults`) and the tags equal what Describe and
ListTagsForResource return, so a re-apply of the same input makes no call that writes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from botocore import xform_name
from botocore.exceptions import ClientError

from ..api_models.model import service_model
from ..api_models.validation import validate_input
from ..service import kinds
from ..service.defaults import as_described

KINDS_IN_ORDER = (
    kinds.MESH,
    kinds.VIRTUAL_NODE,
    kinds.VIRTUAL_ROUTER,
    kinds.ROUTE,
    kinds.VIRTUAL_SERVICE,
    kinds.VIRTUAL_GATEWAY,
    kinds.GATEWAY_ROUTE,
)


class MeshCallError(Exception):
    """The API refused a call: `code` is its error code, the message AWS's own."""

    def __init__(self, operation: str, code: str, message: str) -> None:
        super().__init__(f"{operation}: {code}: {message}")
        self.operation, self.code, self.detail = operation, code, message


@dataclass(frozen=True)
class MeshResource:
    """One App Mesh resource as a Create call would make it."""

    kind: kinds.Kind
    params: Mapping[str, Any]  # Create* input: names, spec, tags (meshOwner where given)

    @property
    def mesh(self) -> str:
        return str(self.params["meshName"])

    @property
    def name(self) -> str:
        return str(self.params[self.kind.name_param])

    @property
    def parent(self) -> str:
        return str(self.params[self.kind.parent.name_param]) if self.kind.parent else ""

    @property
    def identity(self) -> dict[str, str]:
        """The parameters that find it (Describe/Update/Delete)."""
        found = {"meshName": self.mesh, self.kind.name_param: self.name}
        if self.kind.parent is not None:
            found[self.kind.parent.name_param] = self.parent
        if self.params.get("meshOwner") and self.kind is not kinds.MESH:
            found["meshOwner"] = str(self.params["meshOwner"])
        return found

    @property
    def label(self) -> str:
        """`VirtualNode colorteller-blue` / `Route colorteller-vr/route` (in mesh M)."""
        where = f"{self.parent}/" if self.parent else ""
        return f"{self.kind.title} {where}{self.name}" + ("" if self.kind is kinds.MESH else f" (mesh {self.mesh})")

    @property
    def tags(self) -> dict[str, str]:
        return {t["key"]: t.get("value", "") for t in self.params.get("tags") or []}

    @property
    def spec(self) -> dict[str, Any]:
        return dict(as_described(self.kind.kind, dict(self.params.get("spec") or {})))


def create_operation(kind: kinds.Kind) -> str:
    return f"Create{kind.title}"


def create_input_shape(kind: kinds.Kind) -> Any:
    return service_model().operation_model(create_operation(kind)).input_shape


def validate(resource: MeshResource) -> None:
    """The API's own validation of the Create call (raises api_models.errors.BadRequest)."""
    validate_input(create_operation(resource.kind), dict(resource.params))


def _call(client: Any, operation: str, **params: Any) -> dict[str, Any]:
    try:
        return getattr(client, xform_name(operation))(**params)
    except ClientError as exc:
        error = exc.response.get("Error", {})
        raise MeshCallError(operation, str(error.get("Code")), str(error.get("Message"))) from None


def describe(client: Any, resource: MeshResource) -> dict[str, Any] | None:
    """The resource's Describe data (with its tags under `tags`), or None when it does not exist."""
    try:
        data = _call(client, f"Describe{resource.kind.title}", **resource.identity)[resource.kind.output_member]
    except MeshCallError as exc:
        if exc.code == "NotFoundException":
            return None
        raise
    arn = data["metadata"]["arn"]
    tags = [
        tag for page in client.get_paginator("list_tags_for_resource").paginate(resourceArn=arn) for tag in page["tags"]
    ]
    return {**data, "tags": {t["key"]: t.get("value", "") for t in tags}}


def differs(resource: MeshResource, live: Mapping[str, Any]) -> list[str]:
    """What an update would change: `spec`, `tags` (empty: nothing)."""
    changes = []
    if resource.spec != (live.get("spec") or {}):
        changes.append("spec")
    if resource.tags != live.get("tags", {}):
        changes.append("tags")
    return changes


def create(client: Any, resource: MeshResource) -> dict[str, Any]:
    return _call(client, create_operation(resource.kind), **resource.params)[resource.kind.output_member]


def update(client: Any, resource: MeshResource, live: Mapping[str, Any]) -> dict[str, Any]:
    """Update the spec and/or tags to the desired ones; return the new Describe data."""
    data = dict(live)
    changes = differs(resource, live)
    if "spec" in changes:
        data = _call(
            client, f"Update{resource.kind.title}", **resource.identity, spec=dict(resource.params.get("spec") or {})
        )[resource.kind.output_member]
    if "tags" in changes:
        arn = live["metadata"]["arn"]
        current, wanted = live.get("tags", {}), resource.tags
        stale = [key for key in current if key not in wanted]
        if stale:
            _call(client, "UntagResource", resourceArn=arn, tagKeys=stale)
        fresh = [{"key": k, "value": v} for k, v in wanted.items() if current.get(k) != v]
        if fresh:
            _call(client, "TagResource", resourceArn=arn, tags=fresh)
    return data


def delete(client: Any, resource: MeshResource) -> bool:
    """Delete it; False when it was already gone."""
    try:
        _call(client, f"Delete{resource.kind.title}", **resource.identity)
    except MeshCallError as exc:
        if exc.code == "NotFoundException":
            return False
        raise
    return True


def attributes(kind: kinds.Kind, data: Mapping[str, Any], resource: MeshResource) -> dict[str, Any]:
    """CloudFormation's return values for an App Mesh resource (Ref = Id = the ARN)."""
    metadata = data.get("metadata", {})
    found: dict[str, Any] = {
        "Arn": metadata.get("arn"),
        "Id": metadata.get("arn"),
        "Uid": metadata.get("uid"),
        "MeshName": resource.mesh,
        "MeshOwner": metadata.get("meshOwner"),
        "ResourceOwner": metadata.get("resourceOwner"),
    }
    found[kind.name_param[:1].upper() + kind.name_param[1:]] = resource.name
    if kind.parent is not None:
        found[kind.parent.name_param[:1].upper() + kind.parent.name_param[1:]] = resource.parent
    return found
