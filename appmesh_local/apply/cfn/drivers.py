"""How each applied resource type is created, updated and deleted, and what Ref/GetAtt return.

`AWS::AppMesh::*` go to the App Mesh API; `neighbours.py` has Cloud Map, ACM and ACM PCA.
A driver gets the template's properties with every intrinsic function evaluated and the
stack's record of the resource from an earlier apply (None the first time).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, Mapping, Protocol

from ...api_models.errors import ApiError
from ...service import kinds
from ...service.arns import arn_for
from ...store.records import ResourceKey
from .. import meshops
from ..errors import ApplyError
from ..shapes import ShapeError, to_api
from ..target import Target
from .intrinsics import Unknown


@dataclass
class Run:
    """One apply of one stack: where, as what, and whether anything may change."""

    target: Target
    stack: str
    dry_run: bool
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Applied:
    action: str  # create | update | unchanged
    detail: str
    physical: Any  # what Ref returns
    attributes: Mapping[str, Any]  # what Fn::GetAtt returns


class Driver(Protocol):
    type_name: str

    def apply(
        self, run: Run, logical_id: str, properties: Mapping[str, Any], previous: Mapping[str, Any] | None
    ) -> Applied: ...

    def delete(self, run: Run, logical_id: str, entry: Mapping[str, Any]) -> str: ...


def has_unknown(value: Any) -> bool:
    if isinstance(value, Unknown):
        return True
    if isinstance(value, Mapping):
        return any(has_unknown(v) for v in value.values())
    if isinstance(value, list):
        return any(has_unknown(v) for v in value)
    return False


def generated_name(stack: str, logical_id: str, limit: int = 255) -> str:
    """A physical name for a resource the template leaves unnamed, as CloudFormation makes them:
    `<stack>-<logicalId>-<suffix>`; the suffix comes from both, so every apply finds the same one."""
    suffix = hashlib.sha256(f"{stack}/{logical_id}".encode()).hexdigest()[:12].upper()
    return f"{stack}-{logical_id}"[: limit - 13] + f"-{suffix}"


# ---- App Mesh ---------------------------------------------------------------------------------
APPMESH_TYPES: dict[str, kinds.Kind] = {
    "AWS::AppMesh::Mesh": kinds.MESH,
    "AWS::AppMesh::VirtualNode": kinds.VIRTUAL_NODE,
    "AWS::AppMesh::VirtualRouter": kinds.VIRTUAL_ROUTER,
    "AWS::AppMesh::Route": kinds.ROUTE,
    "AWS::AppMesh::VirtualService": kinds.VIRTUAL_SERVICE,
    "AWS::AppMesh::VirtualGateway": kinds.VIRTUAL_GATEWAY,
    "AWS::AppMesh::GatewayRoute": kinds.GATEWAY_ROUTE,
}


class AppMeshDriver:
    """An `AWS::AppMesh::*` resource: its properties are its Create call in PascalCase."""

    def __init__(self, type_name: str) -> None:
        self.type_name = type_name
        self.kind = APPMESH_TYPES[type_name]

    def resource(self, run: Run, logical_id: str, properties: Mapping[str, Any]) -> meshops.MeshResource:
        props = dict(properties)
        name_property = self.kind.name_param[:1].upper() + self.kind.name_param[1:]
        if not props.get(name_property):  # CloudFormation names what the template does not
            props[name_property] = generated_name(run.stack, logical_id)
        props.pop("MeshOwner", None) if self.kind is kinds.MESH else None  # read-only on a Mesh
        if has_unknown(props):
            raise ApplyError("depends on a value known only after apply")  # dry runs only; caught by the caller
        try:
            params = to_api(props, meshops.create_input_shape(self.kind), "Properties")
        except ShapeError as exc:
            raise ApplyError(exc.detail, field=exc.path) from None
        resource = meshops.MeshResource(self.kind, params)
        try:
            meshops.validate(resource)
        except ApiError as exc:
            raise ApplyError(f"{exc.code}: {exc.message}", field="Properties") from None
        return resource

    def apply(
        self, run: Run, logical_id: str, properties: Mapping[str, Any], previous: Mapping[str, Any] | None
    ) -> Applied:
        if run.dry_run and has_unknown(properties):
            action = "create" if previous is None else "update"
            attributes = dict(previous["attributes"]) if previous else {}
            return Applied(
                action,
                f"{self.kind.title} (values known after apply)",
                attributes.get("Arn", Unknown(f"{logical_id} Arn")),
                _known_after(logical_id, attributes),
            )
        resource = self.resource(run, logical_id, properties)
        live = meshops.describe(run.target.appmesh, resource)
        if previous is None and live is not None:
            raise ApplyError(
                f"{resource.label} already exists and is not part of stack {run.stack} "
                "(CloudFormation: AlreadyExists); delete it or import it by re-creating it "
                "through this stack"
            )
        if live is None:
            action, detail = "create", resource.label
            data = live if run.dry_run else meshops.create(run.target.appmesh, resource)
        else:
            changes = meshops.differs(resource, live)
            action = "update" if changes else "unchanged"
            detail = resource.label + (f" ({', '.join(changes)})" if changes else "")
            data = live if run.dry_run or not changes else meshops.update(run.target.appmesh, resource, live)
        attributes = (
            meshops.attributes(self.kind, data, resource) if data is not None else self.predicted(run, resource)
        )
        return Applied(action, detail, attributes["Arn"], attributes)

    def predicted(self, run: Run, resource: meshops.MeshResource) -> dict[str, Any]:
        """A dry run's return values for a resource not yet created (its Uid is not known)."""
        owner = str(resource.params.get("meshOwner") or run.target.account)
        key = ResourceKey(
            run.target.account, run.target.region, self.kind.kind, resource.mesh, resource.parent, resource.name
        )
        arn = arn_for(key, owner)
        return meshops.attributes(
            self.kind,
            {
                "metadata": {
                    "arn": arn,
                    "uid": Unknown(f"{resource.label} Uid"),
                    "meshOwner": owner,
                    "resourceOwner": run.target.account,
                }
            },
            resource,
        )

    def delete(self, run: Run, logical_id: str, entry: Mapping[str, Any]) -> str:
        resource = self.resource(run, logical_id, entry["properties"])
        if run.dry_run:
            return resource.label
        try:
            gone = not meshops.delete(run.target.appmesh, resource)
        except meshops.MeshCallError as exc:
            raise ApplyError(f"{exc.code}: {exc.detail}", resource=logical_id) from None
        return resource.label + (" (was already gone)" if gone else "")


class _known_after(dict):  # type: ignore[type-arg]
    """Return values in a dry run when the resource's own properties are not known yet."""

    def __init__(self, logical_id: str, known: Mapping[str, Any]) -> None:
        super().__init__(known)
        self.logical_id = logical_id

    def get(self, key: str, default: Any = None) -> Any:  # type: ignore[override]
        return Unknown(f"{self.logical_id}.{key}")


def driver_for(type_name: str) -> Driver | None:
    """The driver of a resource type; None for types `apply` skips (ECS, IAM, EC2, ...)."""
    if type_name in APPMESH_TYPES:
        return AppMeshDriver(type_name)
    from .neighbours import NEIGHBOUR_DRIVERS

    return NEIGHBOUR_DRIVERS.get(type_name)
