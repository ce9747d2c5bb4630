"""Settings, migrations, the CLI and the app's probes: the ground the rest stands on."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from gochat import migrations
from gochat.cli import main
from gochat.db import Database
from gochat.projections import receipts
from gochat.settings import Settings, SettingsError, ensure_dev_secret


def test_defaults_follow_the_seed() -> None:
    s = Settings.from_env({"JWT_SECRET": "s" * 32, "DATABASE_URL": "postgres://u@h/db"})
    assert (s.port, s.environment, s.redis_url) == (8080, "production", None)


@pytest.mark.parametrize(
    ("env", "fragment"),
    [
        ({"PORT": "eighty"}, "PORT='eighty' is not an integer"),
        ({"PORT": "70000"}, "PORT=70000 is out of range"),
        ({"JWT_SECRET": "short"}, "JWT_SECRET must be at least 32 bytes"),
        ({"DATABASE_URL": "mysql://x"}, "DATABASE_URL must be a URL"),
        ({"REDIS_URL": "http://x"}, "REDIS_URL must be a URL"),
        ({"LOG_LEVEL": "loud"}, "LOG_LEVEL='loud'"),
        ({"GOCHAT_RATE_LIMITS": "maybe"}, "GOCHAT_RATE_LIMITS='maybe' is not a boolean"),
    ],
)
def test_invalid_settings_name_the_variable(env: dict[str, str], fragment: str) -> None:
    with pytest.raises(SettingsError, match=fragment.replace("(", r"\(")):
        Settings.from_env({"GOCHAT_ENV": "development", **env})


def test_production_requires_a_secret() -> None:
    with pytest.raises(SettingsError, match="JWT_SECRET is required"):
        Settings.from_env({"DATABASE_URL": "postgres://u@h/db"})


def test_development_keeps_one_generated_secret(tmp_path: Path) -> None:
    s = Settings.from_env({"GOCHAT_DATA_DIR": str(tmp_path)})
    assert s.development
    assert s.embedded_database
    first = ensure_dev_secret(s).jwt_secret
    assert first is not None
    assert len(first) >= 32
    assert ensure_dev_secret(s).jwt_secret == first
    assert (tmp_path / "jwt_secret").stat().st_mode & 0o077 == 0


def test_bad_setting_stops_the_cli_with_one_line() -> None:
    env = {**os.environ, "PORT": "nope", "GOCHAT_ENV": "development"}
    proc = subprocess.run(
        [sys.executable, "-m", "gochat", "migrate"], env=env, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 2
    assert proc.stderr.strip() == "gochat: configuration error: PORT='nope' is not an integer"


def test_every_command_has_help(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (["--help"], ["serve", "--help"], ["migrate", "--help"], ["--version"]):
        with pytest.raises(SystemExit) as info:
            main(argv)
        assert info.value.code == 0
    assert "gochat" in capsys.readouterr().out


async def test_migrations_are_recorded_and_rerunning_is_a_no_op(db: Database) -> None:
    assert await migrations.migrate(db) == []
    assert await migrations.pending(db) == []
    applied = await migrations.applied_versions(db)
    assert applied == {m.version for m in migrations.load_migrations()}


def test_migrate_command_against_a_server(database_url: str) -> None:
    env = {**os.environ, "DATABASE_URL": database_url, "JWT_SECRET": "k" * 32}
    proc = subprocess.run([sys.executable, "-m", "gochat", "migrate"], env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "up to date"
    status = subprocess.run(
        [sys.executable, "-m", "gochat", "migrate", "--status"], env=env, capture_output=True, text=True
    )
    assert status.returncode == 0
    assert "applied  001_events.sql" in status.stdout


async def test_health_and_readiness(client: Any) -> None:
    resp = await client.get("/healthz")
    assert resp.status == 200
    assert await resp.json() == {"status": "ok"}
    assert resp.headers["X-Request-ID"]
    ready = await client.get("/readyz")
    assert ready.status == 200
    body = await ready.json()
    assert body["status"] == "ok"
    assert body["checks"]["database"] == "ok"


async def test_unknown_route_answers_in_the_error_shape(client: Any) -> None:
    resp = await client.get("/nope", headers={"X-Request-ID": "abc-123"})
    assert resp.status == 404
    assert (await resp.json())["error"]["code"] == "not_found"
    assert resp.headers["X-Request-ID"] == "abc-123"


async def test_moving_unread_counts_to_per_room_counters_keeps_every_count(pg_cluster: Any, tmp_path: Path) -> None:
    """Migration 080 replaces each receipt's unread_count with a per-room live count and a per-member
    seen count; a database migrated before it keeps every member's marker and count."""
    before = tmp_path / "sql"
    (before / "migrations").mkdir(parents=True)
    for m in migrations.load_migrations():
        if m.version < 80:
            (before / "migrations" / m.name).write_text(m.sql)
    dsn = pg_cluster.new_database(migrated=False)
    db = await Database.connect(dsn, minsize=1, maxsize=2)
    room, other, alice, bob = (uuid.uuid4() for _ in range(4))
    try:
        await migrations.migrate(db, before)
        async with db.transaction() as cur:
            for id_, room_id, author, deleted in [
                (1, room, alice, False), (2, room, bob, False), (3, room, alice, True),
                (4, room, alice, False), (5, room, alice, False), (6, other, alice, False),
            ]:  # fmt: skip
                await cur.execute(
                    "INSERT INTO messages (room_id, id, user_id, content, created_at, deleted, deleted_id)"
                    " VALUES (%s, %s, %s, 'x', now(), %s, %s)",
                    (room_id, id_, author, deleted, 9 if deleted else None),
                )
            await cur.execute(
                "INSERT INTO receipts (room_id, user_id, last_read_id, unread_count)"
                " VALUES (%s, %s, 5, 0), (%s, %s, 2, 2), (%s, %s, 0, 1)",
                (room, alice, room, bob, other, bob),
            )
        await migrations.migrate(db)
        async with db.cursor() as cur:
            assert await receipts.get_receipt(cur, room, alice) == receipts.Receipt(5, 0)
            assert await receipts.get_receipt(cur, room, bob) == receipts.Receipt(2, 2)
            assert await receipts.get_receipt(cur, other, bob) == receipts.Receipt(0, 1)
    finally:
        await db.close()
        pg_cluster.drop(dsn)
