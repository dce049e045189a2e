"""TagResource / UntagResource / ListTagsForResource over any resource ARN."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from ..api_models.errors import NotFound, TooManyTags
from ..store import ResourceStore
from ..store.records import ResourceRecord
from . import pagination
from .context import RequestContext

MAX_TAGS = 50


class Tags:
    def __init__(self, store: ResourceStore) -> None:
        self.store = store

    def _record(self, ctx: RequestContext, arn: str) -> ResourceRecord:
        record = self.store.get_by_arn(arn)
        if record is None or (record.key.account, record.key.region) != (ctx.account, ctx.region):
            raise NotFound(f"The resource {arn} is not present for account {ctx.account}")
        return record

    def tag(self, ctx: RequestContext, arn: str, tags: list[dict[str, str]]) -> dict[str, Any]:
        """Add tags; a key that exists gets the new value. Over 50 tags: nothing is applied."""
        with self.store.write() as tx:
            record = self._record(ctx, arn)
            merged = dict(record.tags)
            merged.update((t["key"], t.get("value", "")) for t in tags)
            if len(merged) > MAX_TAGS:
                raise TooManyTags(
                    f"The request exceeds the maximum allowed number of tags; the limit is {MAX_TAGS} user tags per resource"
                )
            tx.put(replace(record, tags=tuple(merged.items())), "tag")
        return {}

    def untag(self, ctx: RequestContext, arn: str, keys: list[str]) -> dict[str, Any]:
        with self.store.write() as tx:
            record = self._record(ctx, arn)
            drop = set(keys)
            tx.put(replace(record, tags=tuple(t for t in record.tags if t[0] not in drop)), "tag")
        return {}

    def list(self, ctx: RequestContext, arn: str, limit: int | None, token: str | None) -> dict[str, Any]:
        tags = self._record(ctx, arn).tags
        start = pagination.decode(token, "offset", int) or 0
        if not isinstance(start, int) or start < 0:
            start = 0
        size = limit or pagination.DEFAULT_PAGE
        result: dict[str, Any] = {"tags": [{"key": k, "value": v} for k, v in tags[start : start + size]]}
        if start + size < len(tags):
            result["nextToken"] = pagination.encode({"offset": start + size})
        return result
