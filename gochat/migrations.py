"""The schema: numbered migrations, then the current definition of every function, trigger and policy.

`sql/migrations/NNN_name.sql` hold tables, indexes and data moves. Each is applied once, in order,
and recorded in `schema_migrations` with the SHA-256 of its text; a file edited after it was
applied stops `migrate` with a message naming it, since the databases that ran the old text would
silently differ from new ones.

`sql/functions/`, `sql/triggers/` and `sql/policies/` hold one object per file, written to be
re-applied (CREATE OR REPLACE, DROP ... IF EXISTS + CREATE). After the migrations they are applied
in that order, so the definition in force is always the file one reads. They are skipped only when
nothing changed: no migration ran and every file's checksum matches `schema_objects` (re-creating a
policy takes an exclusive lock on its table, which every node start would otherwise take). A
migration that runs re-applies them all, since it may have re-created a table they belong to.
Dropping an object is a migration's job (deleting its file leaves it in place).

All of it runs in one transaction under a transaction-scoped advisory lock, so several nodes
starting at once apply each file exactly once, and a failure leaves nothing half-applied.
"""

from __future__ import annotations

import hashlib
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from .db import Cursor, Database

_NAME = re.compile(r"^(\d{3,})_[\w.-]+\.sql$")
_LOCK_KEY = 0x60C4A7  # arbitrary, constant: "gochat migrations"
#: re-applied by every migrate, in this order: triggers and policies call functions
OBJECT_KINDS = ("functions", "triggers", "policies")


class MigrationError(Exception):
    """The database and the files disagree in a way `migrate` must not paper over."""


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return _sha256(self.sql)


@dataclass(frozen=True, slots=True)
class SchemaObject:
    kind: str  # one of OBJECT_KINDS
    name: str  # file name without .sql
    sql: str

    @property
    def checksum(self) -> str:
        return _sha256(self.sql)


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def sql_dir() -> Path:
    """`GOCHAT_SQL_DIR`, the checkout's `sql/`, or the copy `pip install` put under share/."""
    candidates = [
        Path(os.environ["GOCHAT_SQL_DIR"]) if os.environ.get("GOCHAT_SQL_DIR") else None,
        Path(__file__).resolve().parent.parent / "sql",
        Path(sys.prefix) / "share" / "gochat" / "sql",
    ]
    for path in candidates:
        if path is not None and any((path / "migrations").glob("*.sql")):
            return path
    raise FileNotFoundError("gochat's sql/ directory was not found (set GOCHAT_SQL_DIR)")


def load_migrations(directory: Path | None = None) -> list[Migration]:
    directory = directory or sql_dir()
    found: dict[int, Migration] = {}
    for path in sorted((directory / "migrations").glob("*.sql")):
        match = _NAME.match(path.name)
        if not match:
            continue
        version = int(match.group(1))
        if version in found:
            raise ValueError(f"two migrations numbered {version}: {found[version].name}, {path.name}")
        found[version] = Migration(version, path.name, path.read_text())
    return [found[v] for v in sorted(found)]


def load_objects(directory: Path | None = None) -> list[SchemaObject]:
    directory = directory or sql_dir()
    return [
        SchemaObject(kind, path.stem, path.read_text())
        for kind in OBJECT_KINDS
        for path in sorted((directory / kind).glob("*.sql"))
    ]


async def applied_versions(db: Database) -> set[int]:
    async with db.cursor() as cur:
        await cur.execute("SELECT to_regclass('schema_migrations') IS NOT NULL")
        row = await cur.fetchone()
        if not row or not row[0]:
            return set()
        await cur.execute("SELECT version FROM schema_migrations")
        return {r[0] for r in await cur.fetchall()}


async def pending(db: Database, directory: Path | None = None) -> list[Migration]:
    done = await applied_versions(db)
    return [m for m in load_migrations(directory) if m.version not in done]


async def migrate(db: Database, directory: Path | None = None) -> list[Migration]:
    """Apply what is pending, then the schema objects if anything changed; returns the migrations
    applied (empty when up to date). Raises MigrationError when an applied file was edited or the
    database holds migrations this code does not know (a newer gochat migrated it)."""
    migrations = load_migrations(directory)
    objects = load_objects(directory)
    async with db.transaction() as cur:
        await cur.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
        await _bookkeeping_tables(cur)
        await cur.execute("SELECT version, name, checksum FROM schema_migrations")
        done = {int(v): (name, checksum) for v, name, checksum in await cur.fetchall()}
        await _check_applied(cur, migrations, done)
        applied = []
        for m in migrations:
            if m.version in done:
                continue
            await cur.execute(m.sql)
            await cur.execute(
                "INSERT INTO schema_migrations (version, name, checksum) VALUES (%s, %s, %s)",
                (m.version, m.name, m.checksum),
            )
            applied.append(m)
        await _apply_objects(cur, objects, force=bool(applied))
    return applied


async def _bookkeeping_tables(cur: Cursor) -> None:
    await cur.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        " version integer PRIMARY KEY, name text NOT NULL,"
        " applied_at timestamptz NOT NULL DEFAULT now())"
    )
    # databases migrated before checksums existed get theirs recorded from today's files
    await cur.execute("ALTER TABLE schema_migrations ADD COLUMN IF NOT EXISTS checksum text")
    await cur.execute(
        "CREATE TABLE IF NOT EXISTS schema_objects ("
        " kind text NOT NULL, name text NOT NULL, checksum text NOT NULL,"
        " applied_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (kind, name))"
    )


async def _check_applied(cur: Cursor, migrations: list[Migration], done: dict[int, tuple[str, str | None]]) -> None:
    known = {m.version: m for m in migrations}
    unknown = sorted(f"{name}" for v, (name, _) in done.items() if v not in known)
    if unknown:
        raise MigrationError(
            f"the database has migrations this gochat does not know ({', '.join(unknown)}):"
            " it was migrated by a newer version; run that version"
        )
    for version, (_, recorded) in sorted(done.items()):
        m = known[version]
        if recorded is None:
            await cur.execute("UPDATE schema_migrations SET checksum = %s WHERE version = %s", (m.checksum, version))
        elif recorded != m.checksum:
            raise MigrationError(
                f"sql/migrations/{m.name} was edited after it was applied (recorded sha256 {recorded[:12]},"
                f" file {m.checksum[:12]}): restore the applied text and put the change in a new migration"
            )


async def _apply_objects(cur: Cursor, objects: list[SchemaObject], *, force: bool) -> None:
    await cur.execute("SELECT kind, name, checksum FROM schema_objects")
    recorded = {(kind, name): checksum for kind, name, checksum in await cur.fetchall()}
    if not force and all(recorded.get((o.kind, o.name)) == o.checksum for o in objects):
        return
    # a function may name another defined later in the list; bodies are checked when first run
    await cur.execute("SET LOCAL check_function_bodies = off")
    for o in objects:
        await cur.execute(o.sql)
        await cur.execute(
            "INSERT INTO schema_objects (kind, name, checksum) VALUES (%s, %s, %s)"
            " ON CONFLICT (kind, name) DO UPDATE SET checksum = EXCLUDED.checksum, applied_at = now()",
            (o.kind, o.name, o.checksum),
        )
