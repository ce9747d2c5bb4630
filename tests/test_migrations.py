"""The schema's two kinds of SQL: checksummed migrations, and objects re-applied by every migrate."""

from __future__ import annotations

import re
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from test_projection_equivalence import RandomLog, copy_keys, copy_log
from test_projection_equivalence import dump as projection_rows

from gochat import migrations, schema
from gochat.db import Database
from gochat.events import EventStore, build_registry
from gochat.projections.catalog import all_projections
from gochat.projections.engine import InlineProjections, ProjectionRunner


@pytest.fixture
def sql_copy(tmp_path: Path) -> Path:
    """A private copy of sql/, to edit as a developer would."""
    target = tmp_path / "sql"
    shutil.copytree(migrations.sql_dir(), target)
    return target


@pytest.fixture
async def fresh_db(pg_cluster: Any) -> AsyncIterator[Database]:
    dsn = pg_cluster.new_database(migrated=False)
    db = await Database.connect(dsn, minsize=1, maxsize=2)
    try:
        yield db
    finally:
        await db.close()
        pg_cluster.drop(dsn)


async def _scalar(db: Database, sql: str) -> Any:
    async with db.cursor() as cur:
        await cur.execute(sql)
        row = await cur.fetchone()
    return None if row is None else row[0]


async def test_each_applied_migration_records_the_checksum_of_its_text(db: Database) -> None:
    async with db.cursor() as cur:
        await cur.execute("SELECT name, checksum FROM schema_migrations ORDER BY version")
        recorded = dict(await cur.fetchall())
    assert recorded == {m.name: m.checksum for m in migrations.load_migrations()}


async def test_an_applied_migration_edited_afterwards_stops_migrate_naming_the_file(
    fresh_db: Database, sql_copy: Path
) -> None:
    await migrations.migrate(fresh_db, sql_copy)
    edited = sorted((sql_copy / "migrations").glob("*.sql"))[2]
    edited.write_text(edited.read_text() + "\n-- an afterthought\n")
    with pytest.raises(migrations.MigrationError, match=rf"sql/migrations/{re.escape(edited.name)} was edited"):
        await migrations.migrate(fresh_db, sql_copy)


async def test_a_database_migrated_by_a_newer_gochat_is_refused(fresh_db: Database, sql_copy: Path) -> None:
    (sql_copy / "migrations" / "999_from_the_future.sql").write_text("CREATE TABLE future_thing (id int);")
    await migrations.migrate(fresh_db, sql_copy)
    (sql_copy / "migrations" / "999_from_the_future.sql").unlink()
    with pytest.raises(migrations.MigrationError, match=r"999_from_the_future\.sql"):
        await migrations.migrate(fresh_db, sql_copy)


async def test_databases_from_before_checksums_get_them_recorded(fresh_db: Database, sql_copy: Path) -> None:
    await migrations.migrate(fresh_db, sql_copy)
    async with fresh_db.transaction() as cur:
        await cur.execute("ALTER TABLE schema_migrations DROP COLUMN checksum")
    assert await migrations.migrate(fresh_db, sql_copy) == []
    assert await _scalar(fresh_db, "SELECT count(*) FROM schema_migrations WHERE checksum IS NULL") == 0


async def test_a_changed_function_file_is_applied_by_the_next_migrate(fresh_db: Database, sql_copy: Path) -> None:
    (sql_copy / "functions" / "gochat_test_answer.sql").write_text(
        "CREATE OR REPLACE FUNCTION gochat_test_answer() RETURNS int LANGUAGE sql AS $$ SELECT 41 $$;"
    )
    await migrations.migrate(fresh_db, sql_copy)
    assert await _scalar(fresh_db, "SELECT gochat_test_answer()") == 41
    (sql_copy / "functions" / "gochat_test_answer.sql").write_text(
        "CREATE OR REPLACE FUNCTION gochat_test_answer() RETURNS int LANGUAGE sql AS $$ SELECT 42 $$;"
    )
    assert await migrations.migrate(fresh_db, sql_copy) == []  # no migration pending, yet the object moved
    assert await _scalar(fresh_db, "SELECT gochat_test_answer()") == 42


async def test_unchanged_objects_are_not_reapplied_unless_a_migration_runs(fresh_db: Database, sql_copy: Path) -> None:
    await migrations.migrate(fresh_db, sql_copy)
    stamp = "SELECT max(applied_at) FROM schema_objects"
    first = await _scalar(fresh_db, stamp)
    await migrations.migrate(fresh_db, sql_copy)
    assert await _scalar(fresh_db, stamp) == first
    (sql_copy / "migrations" / "998_new_table.sql").write_text("CREATE TABLE later_thing (id int);")
    await migrations.migrate(fresh_db, sql_copy)
    assert await _scalar(fresh_db, stamp) > first


async def test_objects_are_applied_in_one_transaction_with_the_migrations(fresh_db: Database, sql_copy: Path) -> None:
    (sql_copy / "migrations" / "998_new_table.sql").write_text("CREATE TABLE later_thing (id int);")
    (sql_copy / "policies" / "broken.sql").write_text("CREATE POLICY nope ON no_such_table USING (true);")
    with pytest.raises(Exception, match="no_such_table"):
        await migrations.migrate(fresh_db, sql_copy)
    assert await _scalar(fresh_db, "SELECT to_regclass('later_thing')") is None


# --- upgrade in place ----------------------------------------------------------------------------
# The migrations of commit 24b6453, the last main before sql/ was split into objects, by the SHA-256
# of their text: the same files, byte for byte, are in sql/migrations/ today.
MIGRATIONS_AT_24B6453 = {
    1: "0507b64898e097a1f799ba3220c85b885459f31ff24aa8f1b278cf57c303a792",
    2: "a48d516b5566b486a3f6704e6bc66a738bed2268f5fdfedca992859191015978",
    10: "b032746ad2c25aa8d668f02e34be95b3a626091ddfa50d4b8819af59df4291ee",
    11: "f8f0172b6e5ce4c8a864da308f9665e27249e7716dc5a0b1bb19eaab66eeff62",
    20: "48057e4773905e21755af621b873cbd29bf0a543f0dfa248408f7ba59702655d",
    30: "33f35edac77bb59c740b56b2096789fa83473e577aac20b0dd0c22c88b5b73dc",
    31: "8d2280de703c8a5f5f1bdc540075b00bf20287cc1de38b15fd208bbbd7ab3238",
    32: "7576f2a849848229dd5617506c6da32df27088903d9a6843528b6c0f3ca04153",
    40: "7b872ee5759db0ec4ab2ba460aa8a945ee04766f5a226d0f6b2957aaccbeeafd",
    50: "7b03813ba2c1c3c57db9358ac805aa6e51f71c6abd1dad34bbd5b4a7d5b19a29",
    51: "507894f0bc2f0a570937bea14a997d9a1e69ebe032d391765dd8e77e5d5c11c7",
    70: "0a66b6387831e922669c0e1aebb3314d03443c66459793574c9a13304ab13b33",
    71: "91a9d638b24cf1645a2c9f4bc35dcf2947cfa3e3792c4e4e8cd4672adb06a343",
    80: "b9c1af98c307242594551150a38bd6359fc6baeb8e6ad75a59d505434a36dca3",
    81: "a4b77008ad3b3586229a7b8096bcace9a9db5432d95371007513b489610301c9",
    82: "b6a290eea13c56034fca7b9e247cf06adcd7482152cddf7c807af54f6a64ba91",
    83: "153e0d717210fda6945b21940f8432cae9a714b1e21ba9053ab708bf8fcd54dc",
    84: "64dff61b036cf7035f479068d356e5c9c6e3950dc2ee09f1a9b0b475fba1a3fb",
}


async def migrate_as_24b6453_did(db: Database) -> None:
    """What `gochat migrate` of 24b6453 did: each file in one transaction, recorded without a
    checksum; no schema objects."""
    files = [m for m in migrations.load_migrations() if m.version in MIGRATIONS_AT_24B6453]
    assert {m.version: m.checksum for m in files} == MIGRATIONS_AT_24B6453
    async with db.transaction() as cur:
        await cur.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version integer PRIMARY KEY, name text NOT NULL,"
            " applied_at timestamptz NOT NULL DEFAULT now())"
        )
        for m in files:
            await cur.execute(m.sql)
            await cur.execute("INSERT INTO schema_migrations (version, name) VALUES (%s, %s)", (m.version, m.name))


async def _fill(db: Database, log: RandomLog, events: int) -> None:
    """The next `events` of a varied log appended by today's store, every projection kept."""
    store = EventStore(db, build_registry(), node_id="test")
    store.inline.append(InlineProjections(store, all_projections()))
    store.start()
    try:
        for _ in range(events):
            event = log.next_event()
            log.appended(event, (await store.append_one(event)).event.id)
        followers = ProjectionRunner(db, store, [p for p in all_projections() if not p.inline])
        for projection in followers.projections:
            await followers.catch_up(projection)
    finally:
        await store.close()


async def _log(db: Database) -> list[str]:
    async with db.cursor() as cur:
        await cur.execute("SELECT to_jsonb(e)::text FROM events e ORDER BY id")
        return [r[0] for r in await cur.fetchall()]


async def test_a_database_made_before_the_split_upgrades_in_place(fresh_db: Database, db: Database) -> None:
    """The old database gets its log as rows (today's projections write columns its tables lack
    until later migrations add them); after `migrate` the log is untouched, the schema is a fresh
    one's, and projections caught up from the log, as a node starting on it does, equal those of a
    database migrated today that took the same log live."""
    log = RandomLog(seed=7)
    await _fill(db, log, 400)
    await migrate_as_24b6453_did(fresh_db)
    await copy_log(db, fresh_db)
    log_before = await _log(fresh_db)
    assert await fresh_db.fetchval("SELECT to_regclass('schema_objects')") is None

    applied = await migrations.migrate(fresh_db)

    assert {m.version for m in applied} == {m.version for m in migrations.load_migrations()} - set(
        MIGRATIONS_AT_24B6453
    )
    async with fresh_db.cursor() as upgraded, db.cursor() as migrated_today:
        assert await schema.dump(upgraded) == await schema.dump(migrated_today)
    assert await _log(fresh_db) == log_before
    assert await fresh_db.fetchval("SELECT count(*) FROM schema_migrations WHERE checksum IS NULL") == 0
    await copy_keys(db, fresh_db)  # the personal fields of today's log are sealed under these
    runner = ProjectionRunner(fresh_db, EventStore(fresh_db, build_registry()), all_projections())
    for projection in runner.projections:
        await runner.catch_up(projection)
    assert await projection_rows(fresh_db) == await projection_rows(db)
    # and it keeps working: more of the log lands and projects there
    await _fill(fresh_db, log, 50)
    assert len(await _log(fresh_db)) == len(log_before) + 50
