"""SQLite store: each write one transaction, change events published after commit.

WAL with synchronous=NORMAL: a committed transaction is in the WAL file before
the API answers, so killing the process (even with SIGKILL) loses no
acknowledged write; only an OS crash could lose the last commits. The schema and
its migrations are in schema.py; every record and snapshot handed out is frozen
(frozen.py, docs/contracts.md).
"""

from __future__ import annotations

import json
import sqlite3
import threading
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any, Iterator, Mapping

from .cache import Group, GroupKey, RecordCache, group_of
from .frozen import freeze
from .mirror import Mirrors
from .protocols import MeshKey, Subscriber
from .records import GATEWAY_ROUTE, MESH, ROUTE, ChangeEvent, MeshSnapshot, ResourceKey, ResourceRecord
from .schema import prepare

STATE_FILE = "appmesh-local.sqlite3"

_COLUMNS = (
    "account, region, kind, mesh, parent, name, arn, uid, version, created_at, last_updated_at, "
    "mesh_owner, resource_owner, status, spec, tags, revision"
)
_UPDATE = ", ".join(f"{c}=excluded.{c}" for c in _COLUMNS.split(", ")[6:])

_PARENTED = (ROUTE, GATEWAY_ROUTE)  # kinds whose records sit under a router or gateway


class ArnTaken(Exception):
    """A write would give a second resource an ARN another resource holds (names with `/` from older state)."""


def _record(row: tuple[Any, ...]) -> ResourceRecord:
    key = ResourceKey(*row[:6])
    return ResourceRecord(
        key=key,
        arn=row[6],
        uid=row[7],
        version=row[8],
        created_at=row[9],
        last_updated_at=row[10],
        mesh_owner=row[11],
        resource_owner=row[12],
        status=row[13],
        spec=freeze(json.loads(row[14])),
        tags=tuple((str(k), str(v)) for k, v in json.loads(row[15])),
        revision=row[16],
    )


class Transaction:
    """The write half of the store, valid inside `Store.write()` only."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self.events: list[ChangeEvent] = []
        self.writes: list[tuple[ResourceKey, ResourceRecord | None]] = []  # for the caches, after COMMIT
        self.tokens: list[tuple[str, str, str, str]] = []  # client tokens remembered, for the token index
        self.revision = store.revision + 1

    def put(self, record: ResourceRecord, action: str, encoded_spec: str | None = None) -> ResourceRecord:
        """Insert or replace the resource with `record.key`; never another one (ArnTaken).
        `encoded_spec`: `record.spec` as compact JSON, if the caller has it already."""
        k = record.key
        record = replace(record, spec=freeze(record.spec), revision=self.revision)
        try:
            self._insert_or_update(record, encoded_spec)
        except sqlite3.IntegrityError:
            owner = self._store._db.execute("SELECT kind, name FROM resources WHERE arn=?", (record.arn,)).fetchone()
            if owner is None:
                raise
            raise ArnTaken(f"{record.arn} already names {owner[0]} {owner[1]!r}") from None
        self._event(k, action)
        self.writes.append((k, record))
        return record

    def _insert_or_update(self, record: ResourceRecord, encoded_spec: str | None) -> None:
        k = record.key
        self._store._db.execute(
            f"INSERT INTO resources ({_COLUMNS}) VALUES ({','.join('?' * 17)}) ON CONFLICT "
            f"(account, region, kind, mesh, parent, name) DO UPDATE SET {_UPDATE}",
            (
                k.account,
                k.region,
                k.kind,
                k.mesh,
                k.parent,
                k.name,
                record.arn,
                record.uid,
                record.version,
                record.created_at,
                record.last_updated_at,
                record.mesh_owner,
                record.resource_owner,
                record.status,
                json.dumps(record.spec, separators=(",", ":")) if encoded_spec is None else encoded_spec,
                json.dumps([list(t) for t in record.tags]),
                self.revision,
            ),
        )

    def delete(self, key: ResourceKey) -> None:
        self._store._db.execute(
            "DELETE FROM resources WHERE account=? AND region=? AND kind=? AND mesh=? AND parent=? AND name=?",
            (key.account, key.region, key.kind, key.mesh, key.parent, key.name),
        )
        self._event(key, "delete")
        self.writes.append((key, None))

    def remember_token(
        self, account: str, region: str, operation: str, token: str, fingerprint: str, response: dict[str, Any]
    ) -> None:
        self._store._db.execute(
            "INSERT OR REPLACE INTO client_tokens VALUES (?,?,?,?,?,?)",
            (account, region, operation, token, fingerprint, json.dumps(response)),
        )
        self.tokens.append((account, region, operation, token))

    def _event(self, key: ResourceKey, action: str) -> None:
        self.events.append(
            ChangeEvent(key.account, key.region, key.mesh, key.kind, key.name, key.parent, action, self.revision)
        )


class Store:
    """All resources of all accounts and regions. Thread-safe; one writer at a time."""

    def __init__(self, path: Path | str | None = None) -> None:
        self.path = str(path) if path else ":memory:"
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        try:
            if self.path != ":memory:":
                self._db.execute("PRAGMA journal_mode=WAL")
                self._db.execute("PRAGMA synchronous=NORMAL")
            self.schema_found = prepare(self._db, self.path)  # the version the state had when opened
        except BaseException:
            self._db.close()
            raise
        self._lock = threading.RLock()
        self._subscribers: list[Subscriber] = []
        self._mirrors = Mirrors()
        self._cache = RecordCache()
        self._tx: Transaction | None = None  # the open transaction (reads inside it after a write use SQL)
        # Every stored client token's key, loaded on first use: boto3 sends a fresh token with each
        # create and update, so almost every lookup is a miss that needs no SQL.
        self._token_keys: set[tuple[str, str, str, str]] | None = None
        self.revision: int = self._db.execute("SELECT value FROM meta WHERE key='revision'").fetchone()[0]

    @classmethod
    def open_dir(cls, state_dir: Path) -> Store:
        state_dir.mkdir(parents=True, exist_ok=True)
        return cls(state_dir / STATE_FILE)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def subscribe(self, callback: Subscriber) -> None:
        """`callback(event)` runs after each commit on the writer's thread: it must only enqueue."""
        self._subscribers.append(callback)

    def unsubscribe(self, callback: Subscriber) -> None:
        if callback in self._subscribers:
            self._subscribers.remove(callback)

    @contextmanager
    def write(self) -> Iterator[Transaction]:
        """One atomic transaction: reads inside it see a stable state; events go out after COMMIT."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            tx = self._tx = Transaction(self)
            try:
                yield tx
                if tx.events:
                    self._db.execute("UPDATE meta SET value=? WHERE key='revision'", (tx.revision,))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            finally:
                self._tx = None
            if self._token_keys is not None:
                self._token_keys.update(tx.tokens)
            if tx.events:
                self.revision = tx.revision
                for key, record in tx.writes:
                    self._cache.apply(key, record)
                    self._mirrors.apply(key, record.spec if record is not None else None)
                for event in tx.events:
                    for callback in self._subscribers:
                        callback(event)

    # -- reads ---------------------------------------------------------------------------------
    def _group(self, key: GroupKey) -> Group | None:
        """The cached group (loaded on first use), or None inside a transaction that has written.

        Call with the lock held. A transaction's own writes reach the cache only after
        COMMIT, so a read that follows a write in the same transaction asks SQLite.
        """
        if self._tx is not None and self._tx.writes:
            return None
        group = self._cache.group(key)
        if group is None:
            account, region, kind, mesh, parent = key
            if kind == MESH:
                rows = self._db.execute(
                    f"SELECT {_COLUMNS} FROM resources WHERE account=? AND region=? AND kind=?", (account, region, kind)
                )
            else:
                rows = self._db.execute(
                    f"SELECT {_COLUMNS} FROM resources WHERE account=? AND region=? AND kind=? AND mesh=? AND parent=?",
                    key,
                )
            group = self._cache.load(key, [_record(row) for row in rows])
        return group

    def get(self, key: ResourceKey) -> ResourceRecord | None:
        with self._lock:
            group = self._group(group_of(key))
            if group is not None:
                record = group.records.get(key.name)
                # a mesh is found by its name alone; its key's mesh field must name it too
                return record if record is None or record.key == key else None
            row = self._db.execute(
                f"SELECT {_COLUMNS} FROM resources WHERE account=? AND region=? AND kind=? AND mesh=? AND parent=? AND name=?",
                (key.account, key.region, key.kind, key.mesh, key.parent, key.name),
            ).fetchone()
        return _record(row) if row else None

    def get_by_arn(self, arn: str) -> ResourceRecord | None:
        with self._lock:
            row = self._db.execute(
                "SELECT account, region, kind, mesh, parent, name FROM resources WHERE arn=?", (arn,)
            ).fetchone()
            return self.get(ResourceKey(*row)) if row else None

    def list_records(
        self,
        account: str,
        region: str,
        kind: str,
        mesh: str = "",
        parent: str = "",
        after: str = "",
        limit: int | None = None,
    ) -> list[ResourceRecord]:
        """Resources of one kind under one parent, ordered by name, starting after `after`."""
        if isinstance(after, str) and (limit is None or limit >= 0):
            with self._lock:
                group = self._group(
                    (account, region, MESH, "", "") if kind == MESH else (account, region, kind, mesh, parent)
                )
                if group is not None:
                    return group.page(after, limit)
        sql = f"SELECT {_COLUMNS} FROM resources WHERE account=? AND region=? AND kind=?"
        args: list[str | int] = [account, region, kind]
        if kind != MESH:
            sql += " AND mesh=? AND parent=?"
            args += [mesh, parent]
        sql += " AND name > ? ORDER BY name"
        args.append(after)
        if limit is not None:
            sql += " LIMIT ?"
            args.append(limit)
        with self._lock:
            return [_record(row) for row in self._db.execute(sql, args)]

    def count(self, account: str, region: str, kind: str, mesh: str | None = None, parent: str | None = None) -> int:
        group_key: GroupKey | None = None
        if kind == MESH and mesh is None and parent is None:
            group_key = (account, region, MESH, "", "")
        elif kind != MESH and mesh is not None and (parent is not None or kind not in _PARENTED):
            group_key = (account, region, kind, mesh, parent or "")
        if group_key is not None:
            with self._lock:
                group = self._group(group_key)
                if group is not None:
                    return len(group.records)
        sql = "SELECT COUNT(*) FROM resources WHERE account=? AND region=? AND kind=?"
        args: list[str | int] = [account, region, kind]
        if mesh is not None:
            sql += " AND mesh=?"
            args.append(mesh)
        if parent is not None:
            sql += " AND parent=?"
            args.append(parent)
        with self._lock:
            return int(self._db.execute(sql, args).fetchone()[0])

    def in_mesh(self, account: str, region: str, mesh: str, kind: str) -> list[ResourceRecord]:
        """Every resource of one kind in a mesh, whatever its parent (for reference checks)."""
        with self._lock:
            if kind != MESH and (self._tx is None or not self._tx.writes):
                parents = (
                    [
                        p
                        for (p,) in self._db.execute(
                            "SELECT DISTINCT parent FROM resources WHERE account=? AND region=? AND kind=? AND mesh=? ORDER BY parent",
                            (account, region, kind, mesh),
                        )
                    ]
                    if kind in _PARENTED
                    else [""]
                )
                found: list[ResourceRecord] = []
                for parent in parents:
                    group = self._group((account, region, kind, mesh, parent))
                    found += group.page("", None) if group is not None else []
                return found
            rows = self._db.execute(
                f"SELECT {_COLUMNS} FROM resources WHERE account=? AND region=? AND kind=? AND mesh=? ORDER BY parent, name",
                (account, region, kind, mesh),
            ).fetchall()
        return [_record(row) for row in rows]

    def token(self, account: str, region: str, operation: str, token: str) -> tuple[str, dict[str, Any]] | None:
        with self._lock:
            if self._token_keys is None:
                self._token_keys = {
                    (a, r, o, t)
                    for a, r, o, t in self._db.execute("SELECT account, region, operation, token FROM client_tokens")
                }
            key = (account, region, operation, token)
            if key not in self._token_keys and (self._tx is None or key not in self._tx.tokens):
                return None
            row = self._db.execute(
                "SELECT fingerprint, response FROM client_tokens WHERE account=? AND region=? AND operation=? AND token=?",
                (account, region, operation, token),
            ).fetchone()
        return (row[0], json.loads(row[1])) if row else None

    # -- applied sets: what `appmesh-local apply` made from a stack or a set of manifests ------
    # Kept beside the resources (same file, same durability) but outside their revisions:
    # they describe who made a resource, not the mesh, so writing one re-translates nothing.
    def applied_set(self, account: str, region: str, name: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute(
                "SELECT document FROM applied_sets WHERE account=? AND region=? AND name=?", (account, region, name)
            ).fetchone()
        return json.loads(row[0]) if row else None

    def applied_sets(self, account: str, region: str) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._db.execute(
                "SELECT document FROM applied_sets WHERE account=? AND region=? ORDER BY name", (account, region)
            ).fetchall()
        return [json.loads(document) for (document,) in rows]

    def put_applied_set(self, account: str, region: str, name: str, document: Mapping[str, Any]) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO applied_sets VALUES (?,?,?,?)",
                (account, region, name, json.dumps(document, separators=(",", ":"))),
            )

    def delete_applied_set(self, account: str, region: str, name: str) -> bool:
        with self._lock:
            return (
                self._db.execute(
                    "DELETE FROM applied_sets WHERE account=? AND region=? AND name=?", (account, region, name)
                ).rowcount
                > 0
            )

    def mesh_keys(self) -> list[MeshKey]:
        with self._lock:
            return [
                (account, region, name)
                for account, region, name in self._db.execute(
                    "SELECT account, region, name FROM resources WHERE kind=? ORDER BY account, region, name", (MESH,)
                )
            ]

    def mesh_snapshot(self, account: str, region: str, mesh: str) -> MeshSnapshot | None:
        """Every resource of a mesh at one revision (parsed once, then kept in step by commits)."""
        key = (account, region, mesh)
        with self._lock:
            mirror = self._mirrors.get(key)
            if mirror is None:
                rows = self._db.execute(
                    "SELECT kind, parent, name, spec FROM resources WHERE account=? AND region=? AND mesh=?", key
                ).fetchall()
                if not any(kind == MESH for kind, *_ in rows):
                    return None
                mirror = self._mirrors.load(key, [(k, p, n, freeze(json.loads(spec))) for k, p, n, spec in rows])
            return mirror.snapshot(key, self.revision)
