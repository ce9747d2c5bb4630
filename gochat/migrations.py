"""Numbered SQL migrations from `sql/`, applied in order and recorded in `schema_migrations`.

All pending files run in one transaction under a transaction-scoped advisory lock, so several
nodes starting at once apply each file exactly once, and a failure leaves nothing half-applied.
"""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from .db import Database

_NAME = re.compile(r"^(\d{3,})_[\w.-]+\.sql$")
_LOCK_KEY = 0x60C4A7  # arbitrary, constant: "gochat migrations"


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str


def sql_dir() -> Path:
    """`GOCHAT_SQL_DIR`, the checkout's `sql/`, or the copy `pip install` put under share/."""
    candidates = [
        Path(os.environ["GOCHAT_SQL_DIR"]) if os.environ.get("GOCHAT_SQL_DIR") else None,
        Path(__file__).resolve().parent.parent / "sql",
        Path(sys.prefix) / "share" / "gochat" / "sql",
    ]
    for path in candidates:
        if path is not None and path.is_dir() and any(path.glob("*.sql")):
            return path
    raise FileNotFoundError("gochat's sql/ directory was not found (set GOCHAT_SQL_DIR)")


def load_migrations(directory: Path | None = None) -> list[Migration]:
    directory = directory or sql_dir()
    found: dict[int, Migration] = {}
    for path in sorted(directory.glob("*.sql")):
        match = _NAME.match(path.name)
        if not match:
            continue
        version = int(match.group(1))
        if version in found:
            raise ValueError(f"two migrations numbered {version}: {found[version].name}, {path.name}")
        found[version] = Migration(version, path.name, path.read_text())
    return [found[v] for v in sorted(found)]


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
    """Apply what is pending; returns the migrations applied (empty when up to date)."""
    migrations = load_migrations(directory)
    async with db.transaction() as cur:
        await cur.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
        await cur.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version integer PRIMARY KEY, name text NOT NULL,"
            " applied_at timestamptz NOT NULL DEFAULT now())"
        )
        await cur.execute("SELECT version FROM schema_migrations")
        done = {r[0] for r in await cur.fetchall()}
        applied = []
        for m in migrations:
            if m.version in done:
                continue
            await cur.execute(m.sql)
            await cur.execute("INSERT INTO schema_migrations (version, name) VALUES (%s, %s)", (m.version, m.name))
            applied.append(m)
    return applied
