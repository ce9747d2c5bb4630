"""The schema's two kinds of SQL: checksummed migrations, and objects re-applied by every migrate."""

from __future__ import annotations

import re
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from gochat import migrations
from gochat.db import Database


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
