"""State written by the previous release opens and migrates; state from a newer release is refused.

The fixture (tests/store/fixtures/state-06d7b97, made by make_state_fixture.py) is a state directory
written by `appmesh-local serve` at commit 06d7b97, before the schema had a version.
"""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import boto3
import pytest
from botocore.config import Config

from appmesh_local.store import SCHEMA_VERSION, StateVersionError, Store
from appmesh_local.store import schema as schema_module
from appmesh_local.store.records import MESH, ROUTE, VIRTUAL_NODE, VIRTUAL_SERVICE, ResourceKey
from appmesh_local.store.sqlite import STATE_FILE
from tests.support.server import ServerProcess, free_port

FIXTURE = Path(__file__).parent / "fixtures" / "state-06d7b97"
ACCOUNT, REGION = "123456789012", "us-east-1"


@pytest.fixture
def old_state(tmp_path: Path) -> Path:
    state = tmp_path / "state"
    shutil.copytree(FIXTURE, state)
    return state


def user_version(path: Path) -> int:
    with sqlite3.connect(path) as db:
        version = int(db.execute("PRAGMA user_version").fetchone()[0])
    db.close()
    return version


def schema_of(path: Path) -> list[tuple[str, str]]:
    """(name, SQL) of every table and index: what a migration must end up equal to."""
    with sqlite3.connect(path) as db:
        rows = db.execute("SELECT name, sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY name").fetchall()
    db.close()
    return [(name, " ".join(sql.split())) for name, sql in rows]


def test_the_fixture_is_unversioned_state() -> None:
    assert user_version(FIXTURE / STATE_FILE) == 0


def test_opening_old_state_migrates_it_and_keeps_every_resource(old_state: Path) -> None:
    store = Store.open_dir(old_state)
    try:
        assert store.schema_found == 0
        assert [m.key.name for m in store.list_records(ACCOUNT, REGION, MESH)] == ["shop"]
        assert [m.key.name for m in store.list_records("210987654321", "eu-west-1", MESH)] == ["shop"]
        nodes = store.list_records(ACCOUNT, REGION, VIRTUAL_NODE, "shop")
        assert [n.key.name for n in nodes] == ["cart-v1", "cart-v2", "front"]
        assert dict(nodes[0].tags) == {"version": "v1"}
        route = store.get(ResourceKey(ACCOUNT, REGION, ROUTE, "shop", "cart-router", "split"))
        assert route is not None and route.version == 2
        assert [t["weight"] for t in route.spec["httpRoute"]["action"]["weightedTargets"]] == [50, 50]
        assert route.arn == f"arn:aws:appmesh:{REGION}:{ACCOUNT}:mesh/shop/virtualRouter/cart-router/route/split"
        legacy = store.get(ResourceKey(ACCOUNT, REGION, VIRTUAL_SERVICE, "shop", "", "tools/legacy"))
        assert legacy is not None, "a name the previous release accepted is kept"
        snapshot = store.mesh_snapshot(ACCOUNT, REGION, "shop")
        assert snapshot is not None and set(snapshot.virtual_nodes) == {"cart-v1", "cart-v2", "front"}
        assert store.revision == 13
    finally:
        store.close()
    assert user_version(old_state / STATE_FILE) == SCHEMA_VERSION
    backup = old_state / f"{STATE_FILE}.schema-0.bak"
    assert user_version(backup) == 0, "the state as it was is kept beside it"
    assert schema_of(backup) == schema_of(FIXTURE / STATE_FILE)


def test_a_migrated_database_has_exactly_the_schema_of_a_new_one(old_state: Path, tmp_path: Path) -> None:
    Store.open_dir(old_state).close()
    fresh = tmp_path / "fresh"
    Store.open_dir(fresh).close()
    assert schema_of(old_state / STATE_FILE) == schema_of(fresh / STATE_FILE)
    assert user_version(fresh / STATE_FILE) == SCHEMA_VERSION


def test_reopening_migrated_state_does_not_migrate_again(old_state: Path) -> None:
    Store.open_dir(old_state).close()
    store = Store.open_dir(old_state)
    try:
        assert store.schema_found == SCHEMA_VERSION
    finally:
        store.close()


def test_a_failed_migration_leaves_the_state_exactly_as_it_was(
    old_state: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = (old_state / STATE_FILE).read_bytes()

    def half_then_fail(db: sqlite3.Connection) -> None:
        db.execute("ALTER TABLE resources RENAME TO resources_v0")
        raise RuntimeError("disk on fire")

    monkeypatch.setitem(schema_module.MIGRATIONS, 0, half_then_fail)
    with pytest.raises(RuntimeError, match="disk on fire"):
        Store.open_dir(old_state)
    monkeypatch.undo()
    assert user_version(old_state / STATE_FILE) == 0
    store = Store.open_dir(old_state)  # the real migration still works on the untouched file
    try:
        assert store.get(ResourceKey(ACCOUNT, REGION, MESH, "shop", "", "shop")) is not None
    finally:
        store.close()
    assert len(before) > 0


def test_state_from_a_newer_version_is_refused_and_left_alone(old_state: Path) -> None:
    Store.open_dir(old_state).close()
    path = old_state / STATE_FILE
    with sqlite3.connect(path) as db:
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.close()
    before = path.read_bytes()
    with pytest.raises(StateVersionError, match=rf"newer appmesh-local \(state schema version {SCHEMA_VERSION + 1}"):
        Store.open_dir(old_state)
    assert path.read_bytes() == before


def test_a_database_that_is_not_ours_is_refused(tmp_path: Path) -> None:
    path = tmp_path / STATE_FILE
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE something_else (x)")
    db.close()
    with pytest.raises(StateVersionError, match="not appmesh-local state"):
        Store(path)


def client(endpoint: str) -> object:
    return boto3.client(
        "appmesh",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="x",
        config=Config(retries={"max_attempts": 1}),
    )


def test_serve_opens_old_state_and_answers_as_before(old_state: Path) -> None:
    """`appmesh-local serve --state-dir` on the previous release's directory: same resources, same
    ARNs and versions, and a client token remembered before the upgrade still replays."""
    with ServerProcess(state_dir=old_state) as server:
        api = client(server.endpoint)
        node = api.describe_virtual_node(meshName="shop", virtualNodeName="cart-v2")["virtualNode"]
        assert node["metadata"]["version"] == 1
        assert node["metadata"]["arn"].endswith(":mesh/shop/virtualNode/cart-v2")
        spec = {
            "listeners": [{"portMapping": {"port": 8080, "protocol": "http"}}],
            "serviceDiscovery": {"dns": {"hostname": "cart-v2.shop.local"}},
        }
        replay = api.create_virtual_node(
            meshName="shop", virtualNodeName="cart-v2", spec=spec, clientToken="fixture-token-1"
        )["virtualNode"]
        assert replay["metadata"]["uid"] == node["metadata"]["uid"], "the old token's answer, not a conflict"
        route = api.describe_route(meshName="shop", virtualRouterName="cart-router", routeName="split")["route"]
        assert route["metadata"]["version"] == 2
        services = api.list_virtual_services(meshName="shop")["virtualServices"]
        assert sorted(s["virtualServiceName"] for s in services) == ["cart.shop.local", "tools/legacy"]
        api.update_virtual_node(meshName="shop", virtualNodeName="front", spec=spec)  # and it takes writes
    assert user_version(old_state / STATE_FILE) == SCHEMA_VERSION


def test_serve_refuses_newer_state_with_one_line(old_state: Path) -> None:
    path = old_state / STATE_FILE
    with sqlite3.connect(path) as db:
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 7}")
    db.close()
    done = subprocess.run(
        [sys.executable, "-m", "appmesh_local", "serve", "--state-dir", str(old_state)]
        + ["--port", str(free_port()), "--xds-port", str(free_port())],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1  # as for every other state directory that cannot be used
    assert done.stderr.strip().splitlines() == [
        f"appmesh-local: {path} was written by a newer appmesh-local (state schema version {SCHEMA_VERSION + 7}; "
        f"this version reads up to {SCHEMA_VERSION}): upgrade appmesh-local, or use another --state-dir"
    ]


def test_unversioned_state_with_applied_stacks_keeps_them(old_state: Path) -> None:
    """`appmesh-local apply` added a table before versions existed: state that has it migrates too."""
    path = old_state / STATE_FILE
    with sqlite3.connect(path) as db:
        db.execute(
            "CREATE TABLE applied_sets (account TEXT NOT NULL, region TEXT NOT NULL, name TEXT NOT NULL, "
            "document TEXT NOT NULL, PRIMARY KEY (account, region, name))"
        )
        db.execute("INSERT INTO applied_sets VALUES (?, ?, ?, ?)", (ACCOUNT, REGION, "stack", '{"name": "stack"}'))
    db.close()
    store = Store.open_dir(old_state)
    try:
        assert store.applied_set(ACCOUNT, REGION, "stack") == {"name": "stack"}
    finally:
        store.close()


def test_opening_current_state_needs_no_write_lock(tmp_path: Path) -> None:
    """A reader (export --state-dir) opens a live server's state while the server holds the write lock."""
    Store.open_dir(tmp_path).close()
    holder = sqlite3.connect(tmp_path / STATE_FILE, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        store = Store.open_dir(tmp_path)  # with a write lock to take, this waits 5 s and fails "locked"
        assert store.schema_found == SCHEMA_VERSION
        store.close()
    finally:
        holder.execute("ROLLBACK")
        holder.close()
