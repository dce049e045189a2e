"""Shape stored records into the model's Data and Ref structures."""

from __future__ import annotations

from functools import cache
from typing import Any

from botocore.model import StructureShape

from ..api_models.model import service_model
from ..store.records import ResourceRecord
from .defaults import described_spec
from .kinds import Kind


@cache
def _members(shape_name: str) -> tuple[str, ...]:
    shape = service_model().shape_for(shape_name)
    assert isinstance(shape, StructureShape), shape_name
    return tuple(shape.members)


def _flat(kind: Kind, record: ResourceRecord) -> dict[str, Any]:
    key = record.key
    values: dict[str, Any] = {
        "arn": record.arn,
        "createdAt": record.created_at,
        "lastUpdatedAt": record.last_updated_at,
        "meshOwner": record.mesh_owner,
        "resourceOwner": record.resource_owner,
        "version": record.version,
        "meshName": key.mesh,
        kind.name_param: key.name,
    }
    if kind.parent is not None:
        values[kind.parent.name_param] = key.parent
    return values


def metadata(record: ResourceRecord) -> dict[str, Any]:
    return {
        "arn": record.arn,
        "createdAt": record.created_at,
        "lastUpdatedAt": record.last_updated_at,
        "meshOwner": record.mesh_owner,
        "resourceOwner": record.resource_owner,
        "uid": record.uid,
        "version": record.version,
    }


def data_view(
    kind: Kind, record: ResourceRecord, status: str | None = None, *, described: bool = False
) -> dict[str, Any]:
    """The `XData` structure Create/Update return, or (`described`) Describe/Delete return."""
    values = _flat(kind, record)
    spec = described_spec(kind.kind, record.spec) if described else record.spec
    values.update(spec=spec, metadata=metadata(record), status={"status": status or record.status})
    return {m: values[m] for m in _members(kind.data_shape) if m in values}


def ref_view(kind: Kind, record: ResourceRecord) -> dict[str, Any]:
    """The `XRef` structure List returns (no uid, no spec)."""
    values = _flat(kind, record)
    return {m: values[m] for m in _members(kind.ref_shape) if m in values}
