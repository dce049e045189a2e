"""Create / describe / update / delete / list, written once for all seven kinds.

Every write runs inside one store transaction: checks and the write see the
same state, and a failed check leaves nothing behind. Work that needs no stored
state (defaults, the spec's own rules, the idempotency fingerprint) is done before
the transaction, so a huge spec costs its own caller time, never the store's lock
that every other call waits on.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import replace
from typing import Any, Callable

from .. import jsontext
from ..api_models.errors import Conflict, LimitExceeded, NotFound
from ..store import ArnTaken, ResourceStore
from ..store.frozen import freeze
from ..store.records import ResourceKey, ResourceRecord
from . import kinds, pagination, references, spec_rules
from .arns import arn_for
from .context import RequestContext
from .defaults import stored_spec
from .quotas import Quotas
from .views import data_view, ref_view

Check = Callable[[ResourceStore, RequestContext, str, dict[str, Any], ResourceRecord | None], None]
Rules = Callable[[dict[str, Any]], None]  # a spec's own rules: no store, linear in the spec's size


def _no_rules(spec: dict[str, Any]) -> None:
    """Kinds whose spec has no rule beyond the model's constraints."""


def _fingerprint(params: dict[str, Any]) -> str:
    """The request without its token, canonical: a retried token must carry exactly this."""
    return jsontext.dumps(
        {k: v for k, v in params.items() if k != "clientToken"}, sort_keys=True, separators=(",", ":")
    )


class Resources:
    """Generic CRUD over the store, parameterised by `kinds.Kind`."""

    def __init__(self, store: ResourceStore, quotas: Quotas, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.quotas = quotas
        self.clock = clock

    # -- helpers -----------------------------------------------------------------------------
    def mesh(self, ctx: RequestContext, name: str, owner: str | None = None) -> ResourceRecord:
        """The mesh a request names; a mesh owned by another account is invisible (no sharing)."""
        if owner is not None and owner != ctx.account:
            raise NotFound(
                f"Mesh with name {name} is not present for account {owner} or is not shared with account {ctx.account}"
            )
        return references.require(self.store, ctx, kinds.MESH, name, name)

    def _parent(self, ctx: RequestContext, kind: kinds.Kind, params: dict[str, Any]) -> str:
        """Check mesh (and router/gateway) exist; return the parent name ("" if none)."""
        mesh = params["meshName"]
        if kind is not kinds.MESH:
            self.mesh(ctx, mesh, params.get("meshOwner"))
        if kind.parent is None:
            return ""
        parent: str = params[kind.parent.name_param]
        references.require(self.store, ctx, kind.parent, mesh, parent)
        return parent

    def _key(self, ctx: RequestContext, kind: kinds.Kind, params: dict[str, Any], parent: str) -> ResourceKey:
        name = params[kind.name_param]
        return ResourceKey(ctx.account, ctx.region, kind.kind, params["meshName"], parent, str(name))

    def _replay(
        self, ctx: RequestContext, operation: str, params: dict[str, Any], fingerprint: str | None
    ) -> dict[str, Any] | None:
        """The stored answer for a retried clientToken, or Conflict if the request differs."""
        token = params.get("clientToken")
        if not token:
            return None
        seen = self.store.token(ctx.account, ctx.region, operation, token)
        if seen is None:
            return None
        stored, response = seen
        if stored != fingerprint:
            raise Conflict(
                "The request contains a client token that was used for a previous update resource call with different specifications"
            )
        return response

    def _check_quota(self, ctx: RequestContext, kind: kinds.Kind, mesh: str, parent: str) -> None:
        if kind is kinds.MESH:
            limit, count, what = (
                self.quotas.meshesPerAccount,
                self.store.count(ctx.account, ctx.region, kind.kind),
                "Meshes per account",
            )
        elif kind.parent is not None:
            limit = getattr(self.quotas, f"{kind.kind}sPer{kind.parent.title}")
            count, what = (
                self.store.count(ctx.account, ctx.region, kind.kind, mesh, parent),
                f"{kind.title}s per {kind.parent.title}",
            )
        else:
            limit, count, what = (
                self.quotas.per_mesh(kind.kind),
                self.store.count(ctx.account, ctx.region, kind.kind, mesh),
                f"{kind.title}s per Mesh",
            )
        if count >= limit:
            raise LimitExceeded(f"Exceeded the limit of {limit} {what}")

    # -- operations --------------------------------------------------------------------------
    def _write(
        self,
        ctx: RequestContext,
        operation: str,
        kind: kinds.Kind,
        params: dict[str, Any],
        make: Callable[[ResourceKey, str], tuple[ResourceRecord, str]],
        spec: Any,
    ) -> dict[str, Any]:
        """The shared shape of Create/Update: replay a token, resolve parents, write, remember the answer.

        `spec` (the record's, frozen) is encoded before the store's lock is taken: every read waits
        for that lock, and a spec with thousands of listeners takes ~100 ms to encode."""
        fingerprint = _fingerprint(params) if params.get("clientToken") else None
        encoded = jsontext.dumps(spec, separators=(",", ":"))
        with self.store.write() as tx:
            replay = self._replay(ctx, operation, params, fingerprint)
            if replay is not None:
                return replay
            parent = self._parent(ctx, kind, params)
            record, action = make(self._key(ctx, kind, params, parent), parent)
            try:
                record = tx.put(record, action, encoded if record.spec is spec else None)
            except ArnTaken as taken:
                raise Conflict(f"{kind.title} with name {record.key.name} cannot be stored: its ARN {taken}") from None
            response = {kind.output_member: data_view(kind, record)}
            if fingerprint is not None:
                tx.remember_token(ctx.account, ctx.region, operation, params["clientToken"], fingerprint, response)
            return response

    def create(
        self,
        ctx: RequestContext,
        operation: str,
        kind: kinds.Kind,
        params: dict[str, Any],
        check: Check,
        rules: Rules = _no_rules,
    ) -> dict[str, Any]:
        spec_rules.check_name(kind.name_param, params[kind.name_param])
        spec = freeze(stored_spec(kind.kind, params.get("spec")))
        rules(spec)

        def make(key: ResourceKey, parent: str) -> tuple[ResourceRecord, str]:
            if self.store.get(key) is not None:
                where = "" if kind is kinds.MESH else f" in mesh {key.mesh}"
                raise Conflict(f"{kind.title} with name {key.name} already exists{where}")
            self._check_quota(ctx, kind, key.mesh, parent)
            check(self.store, ctx, key.mesh, spec, None)
            now = self.clock()
            record = ResourceRecord(
                key=key,
                arn=arn_for(key, ctx.account),
                uid=str(uuid.uuid4()),
                version=1,
                created_at=now,
                last_updated_at=now,
                mesh_owner=ctx.account,
                resource_owner=ctx.account,
                status="ACTIVE",
                spec=spec,
                tags=tuple((t["key"], t.get("value", "")) for t in params.get("tags") or []),
            )
            return record, "create"

        return self._write(ctx, operation, kind, params, make, spec)

    def describe(self, ctx: RequestContext, kind: kinds.Kind, params: dict[str, Any]) -> dict[str, Any]:
        parent = params.get(kind.parent.name_param, "") if kind.parent else ""
        if kind is not kinds.MESH:
            self.mesh(ctx, params["meshName"], params.get("meshOwner"))
        elif params.get("meshOwner") not in (None, ctx.account):
            self.mesh(ctx, params["meshName"], params["meshOwner"])
        record = references.require(self.store, ctx, kind, params["meshName"], params[kind.name_param], parent)
        return {kind.output_member: data_view(kind, record, described=True)}

    def update(
        self,
        ctx: RequestContext,
        operation: str,
        kind: kinds.Kind,
        params: dict[str, Any],
        check: Check,
        rules: Rules = _no_rules,
    ) -> dict[str, Any]:
        spec = freeze(stored_spec(kind.kind, params.get("spec")))
        rules(spec)

        def make(key: ResourceKey, parent: str) -> tuple[ResourceRecord, str]:
            current = references.require(self.store, ctx, kind, key.mesh, key.name, parent)
            check(self.store, ctx, key.mesh, spec, current)
            return replace(
                current, version=current.version + 1, last_updated_at=self.clock(), status="ACTIVE", spec=spec
            ), "update"

        return self._write(ctx, operation, kind, params, make, spec)

    def delete(
        self,
        ctx: RequestContext,
        kind: kinds.Kind,
        params: dict[str, Any],
        in_use: Callable[[ResourceStore, RequestContext, str, str], None],
    ) -> dict[str, Any]:
        with self.store.write() as tx:
            parent = self._parent(ctx, kind, params)
            key = self._key(ctx, kind, params, parent)
            record = references.require(self.store, ctx, kind, key.mesh, key.name, parent)
            in_use(self.store, ctx, key.mesh, key.name)
            tx.delete(key)
            return {kind.output_member: data_view(kind, record, status="DELETED", described=True)}

    def list(self, ctx: RequestContext, kind: kinds.Kind, params: dict[str, Any]) -> dict[str, Any]:
        parent = self._parent(ctx, kind, params) if kind is not kinds.MESH else ""
        limit = params.get("limit") or pagination.DEFAULT_PAGE
        after = pagination.decode(params.get("nextToken"), "after") or ""
        records = self.store.list_records(
            ctx.account, ctx.region, kind.kind, params.get("meshName", ""), parent, after, limit + 1
        )
        page = records[:limit]
        result: dict[str, Any] = {kind.list_member: [ref_view(kind, r) for r in page]}
        if len(records) > limit:
            result["nextToken"] = pagination.encode({"after": page[-1].key.name})
        return result
