"""sql/schema.sql is the schema `gochat migrate` makes, and every object in it has one file of its own."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from pathlib import Path

from gochat import migrations, schema
from gochat.db import Database
from gochat.embedded import EmbeddedPostgres

REGENERATE = "regenerate it: GOCHAT_ENV=development gochat schema dump --fresh -o sql/schema.sql"


async def _dump(db: Database) -> str:
    async with db.cursor() as cur:
        return await schema.dump(cur)


async def _names(db: Database, sql: str) -> set[str]:
    async with db.cursor() as cur:
        await cur.execute(sql)
        return {r[0] for r in await cur.fetchall()}


def _files(kind: str) -> set[str]:
    return {p.stem for p in (migrations.sql_dir() / kind).glob("*.sql")}


async def test_schema_sql_is_the_schema_migrate_makes(db: Database) -> None:
    expected = (migrations.sql_dir() / "schema.sql").read_text()
    assert await _dump(db) == expected, f"sql/schema.sql is stale: {REGENERATE}"


async def test_every_function_trigger_and_policy_is_defined_by_a_file_of_its_own(db: Database) -> None:
    functions = await _names(
        db, "SELECT p.proname FROM pg_proc p WHERE p.pronamespace = 'public'::regnamespace AND NOT EXISTS"
        " (SELECT 1 FROM pg_depend d WHERE d.objid = p.oid AND d.classid = 'pg_proc'::regclass AND d.deptype = 'e')",
    )  # fmt: skip
    triggers = await _names(
        db, "SELECT t.tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid"
        " WHERE c.relnamespace = 'public'::regnamespace AND NOT t.tgisinternal",
    )  # fmt: skip
    policed = await _names(db, "SELECT c.relname FROM pg_policy p JOIN pg_class c ON c.oid = p.polrelid")
    assert functions == _files("functions")
    assert triggers == _files("triggers")
    assert policed == _files("policies")


async def test_reapplying_every_object_changes_nothing(db: Database, tmp_path: Path) -> None:
    before = await _dump(db)
    sql = shutil.copytree(migrations.sql_dir(), tmp_path / "sql")
    (sql / "migrations" / "999_nothing.sql").write_text("SELECT 1;")  # a migration run re-applies them all
    await migrations.migrate(db, sql)
    async with db.cursor() as cur:
        await cur.execute("DELETE FROM schema_migrations WHERE version = 999")
    assert await _dump(db) == before


async def test_schema_sql_reads_the_same_from_another_postgresql_major_version() -> None:
    """The embedded server (the pip wheel's PostgreSQL, 18 when written) against the one the tests
    use (15 when written): the dump is built from catalog queries meant to read alike on both."""
    # Not under pytest's tmp_path: run as root, the server runs as another user, and pytest keeps
    # its base directory closed to others (as conftest.py's embedded fallback does).
    home = Path(tempfile.mkdtemp(prefix="gochat-schema-pg-"))
    server = EmbeddedPostgres(home, cleanup="delete")
    try:
        dsn = await asyncio.to_thread(server.start)
        try:
            dumped = await schema.dump_fresh(dsn)
        finally:
            await asyncio.to_thread(server.stop)
    finally:
        shutil.rmtree(home, ignore_errors=True)
    assert dumped == (migrations.sql_dir() / "schema.sql").read_text()
