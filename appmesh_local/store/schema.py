"""The state database's schema, its version, and the steps that bring older state up to date.

The version lives in SQLite's own header field (`PRAGMA user_version`), written in the same
transaction as the change it describes. Version 0 is state written before versions existed
(releases up to commit 06d7b97); `SCHEMA_VERSION` is what this code writes. Opening:

- an empty database gets the current schema;
- an older one is copied aside (`<file>.schema-<v>.bak`, a consistent SQLite backup, so an
  older appmesh-local can still be pointed at it) and migrated step by step in one transaction:
  a failure leaves the file exactly as it was;
- a newer one is refused (`StateVersionError`): this code cannot know what it would break.

Adding a version: append a step to `MIGRATIONS` (from version N to N + 1), bump
`SCHEMA_VERSION`, keep `CURRENT_SCHEMA` equal to the result, and add a fixture written by the
release before (tests/store/test_migrations.py).
"""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path
from typing import Callable

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1

# Resources are keyed by (account, region, kind, mesh, parent, name): the kind and every parent
# name are part of the key, so two resources can never share one. Their ARNs are unique too, and a
# write that would give a second resource an existing ARN fails (store/sqlite.py) instead of
# replacing the first (the release before deleted it silently: `INSERT OR REPLACE`).
CURRENT_SCHEMA = """
CREATE TABLE resources (
    account TEXT NOT NULL, region TEXT NOT NULL, kind TEXT NOT NULL,
    mesh TEXT NOT NULL, parent TEXT NOT NULL, name TEXT NOT NULL,
    arn TEXT NOT NULL, uid TEXT NOT NULL, version INTEGER NOT NULL,
    created_at REAL NOT NULL, last_updated_at REAL NOT NULL,
    mesh_owner TEXT NOT NULL, resource_owner TEXT NOT NULL, status TEXT NOT NULL,
    spec TEXT NOT NULL, tags TEXT NOT NULL, revision INTEGER NOT NULL,
    PRIMARY KEY (account, region, kind, mesh, parent, name)
);
CREATE UNIQUE INDEX resources_arn ON resources (arn);
CREATE INDEX resources_mesh ON resources (account, region, mesh);
CREATE TABLE client_tokens (
    account TEXT NOT NULL, region TEXT NOT NULL, operation TEXT NOT NULL, token TEXT NOT NULL,
    fingerprint TEXT NOT NULL, response TEXT NOT NULL,
    PRIMARY KEY (account, region, operation, token)
);
CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
INSERT INTO meta (key, value) VALUES ('revision', 0);
CREATE TABLE applied_sets (
    account TEXT NOT NULL, region TEXT NOT NULL, name TEXT NOT NULL, document TEXT NOT NULL,
    PRIMARY KEY (account, region, name)
);
"""

_RESOURCE_COLUMNS = (
    "account, region, kind, mesh, parent, name, arn, uid, version, created_at, last_updated_at, "
    "mesh_owner, resource_owner, status, spec, tags, revision"
)


class StateVersionError(RuntimeError):
    """The state database was written by a newer appmesh-local (or is not ours): refuse to touch it."""


def _statements() -> list[str]:
    return [statement.strip() for statement in CURRENT_SCHEMA.split(";") if statement.strip()]


def _create(db: sqlite3.Connection, table: str) -> None:
    """`table` and its indexes exactly as CURRENT_SCHEMA writes them, if it is not there yet."""
    for statement in _statements():
        if statement.startswith(f"CREATE TABLE {table} "):
            db.execute(statement.replace("CREATE TABLE", "CREATE TABLE IF NOT EXISTS", 1))
        elif statement.startswith("CREATE") and f" ON {table} " in statement:
            db.execute(statement.replace(" INDEX ", " INDEX IF NOT EXISTS ", 1))


def _from_unversioned(db: sqlite3.Connection) -> None:
    """0 → 1: the resources table gets its ARN index by name and an index for whole-mesh reads.

    The key columns are unchanged, so every resource keeps its key, ARN, uid and version. Names
    with a `/`, which the previous release accepted, are kept (they can still be listed, tagged
    and deleted) and reported; new ones are refused (docs/aws-behaviour.md, "Names"). Tables that
    arrived unversioned after 06d7b97 (`applied_sets`, for `appmesh-local apply`) are made sure of.
    """
    db.execute("ALTER TABLE resources RENAME TO resources_v0")
    _create(db, "resources")
    db.execute(f"INSERT INTO resources ({_RESOURCE_COLUMNS}) SELECT {_RESOURCE_COLUMNS} FROM resources_v0")
    db.execute("DROP TABLE resources_v0")
    for table in ("client_tokens", "meta", "applied_sets"):
        _create(db, table)
    db.execute("INSERT OR IGNORE INTO meta (key, value) VALUES ('revision', 0)")
    slashed = db.execute(
        "SELECT kind, mesh, parent, name FROM resources WHERE instr(name, '/') > 0 OR instr(parent, '/') > 0"
    ).fetchall()
    for kind, mesh, parent, name in slashed:
        where = f"mesh {mesh}" + (f", parent {parent}" if parent else "")
        log.warning("state has %s %r (%s) whose name contains '/': kept, but no longer creatable", kind, name, where)


# Step from version N to N + 1, by N.
MIGRATIONS: dict[int, Callable[[sqlite3.Connection], None]] = {0: _from_unversioned}


def schema_version(db: sqlite3.Connection) -> int:
    return int(db.execute("PRAGMA user_version").fetchone()[0])


def _tables(db: sqlite3.Connection) -> set[str]:
    return {name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}


def _backup(db: sqlite3.Connection, path: str, version: int) -> None:
    """A consistent copy of the state as it is, beside it, before a migration changes it."""
    if path == ":memory:":
        return
    target = Path(f"{path}.schema-{version}.bak")
    with sqlite3.connect(target) as copy:
        db.backup(copy)
    copy.close()
    log.info("state %s (schema version %d) backed up to %s before migrating", path, version, target)


def _newer(path: str, found: int) -> str:
    return (
        f"{path} was written by a newer appmesh-local (state schema version {found}; this version "
        f"reads up to {SCHEMA_VERSION}): upgrade appmesh-local, or use another --state-dir"
    )


def prepare(db: sqlite3.Connection, path: str) -> int:
    """Bring the database at `path` (open as `db`, autocommit) to `SCHEMA_VERSION`; return the version found.

    Raises StateVersionError for state written by a newer version, or a database that is not ours.
    """
    tables, found = _tables(db), schema_version(db)
    if found > SCHEMA_VERSION:
        raise StateVersionError(_newer(path, found))
    if found == SCHEMA_VERSION and "resources" in tables:
        return found  # up to date: no write lock, so a reader (`export --state-dir`) can open a live server's state
    if "resources" in tables:
        _backup(db, path, found)  # SQLite's backup cannot run inside the write transaction
    db.execute("BEGIN IMMEDIATE")  # one writer: two servers starting on one directory do not both migrate
    try:
        tables = _tables(db)
        found = schema_version(db)
        if found > SCHEMA_VERSION:  # another process got there first
            raise StateVersionError(_newer(path, found))
        if not tables:
            for statement in _statements():
                db.execute(statement)
        elif "resources" not in tables:
            raise StateVersionError(f"{path} is an SQLite database but not appmesh-local state (no resources table)")
        elif found < SCHEMA_VERSION:
            for version in range(found, SCHEMA_VERSION):
                MIGRATIONS[version](db)
                log.info("state %s migrated from schema version %d to %d", path, version, version + 1)
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    return found
