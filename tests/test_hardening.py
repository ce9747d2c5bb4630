"""Hardening: statements bounded per transaction, login sessions purged on a schedule, SECURITY
DEFINER functions pinned and closed to PUBLIC, development tracebacks without secrets."""

from __future__ import annotations

import asyncio
import re
import uuid
from typing import Any

import pytest

from gochat.aio import cancel_and_wait
from gochat.app import create_app
from gochat.auth.purge import purge_sessions_forever
from gochat.auth.store import PURGE_BATCH, SessionStore
from gochat.db import Database
from gochat.errors import Unavailable
from gochat.keys import DB
from gochat.settings import Settings


async def setting(db: Database, name: str, *, read: bool) -> str:
    async with db.read(None) if read else db.transaction() as cur:
        await cur.execute(f"SHOW {name}")
        row = await cur.fetchone()
        return str(row[0])


@pytest.mark.parametrize("read", [True, False])
async def test_every_request_transaction_runs_under_the_statement_timeout(db: Database, read: bool) -> None:
    db.statement_timeout = 200
    assert await setting(db, "statement_timeout", read=read) == "200ms"
    with pytest.raises(Unavailable) as refused:
        async with db.read(None) if read else db.transaction() as cur:
            await cur.execute("SELECT pg_sleep(30)")
    assert refused.value.code == "statement_timeout"  # not a CancelledError, as aiopg words it
    # maintenance opts out
    async with db.transaction(statement_timeout=0) as cur:
        await cur.execute("SHOW statement_timeout")
        assert (await cur.fetchone())[0] == "0"


async def test_statements_outside_a_transaction_are_bounded_by_the_server_too(db: Database) -> None:
    """Autocommit statements and the writer's own transactions: aiopg's client-side timeout alone
    would leave the abandoned query running in PostgreSQL."""
    db.statement_timeout = 200
    with pytest.raises(Unavailable) as refused:
        async with db.cursor() as cur:
            await cur.execute("SELECT pg_sleep(30)")
    assert refused.value.code == "statement_timeout"

    async def in_own_transaction() -> None:  # as the event store's writer runs its commits
        async with db.connection_cursor() as (_, cur):
            await cur.execute("BEGIN; SELECT pg_sleep(30)")

    with pytest.raises(Unavailable):
        await in_own_transaction()
    running = (
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND state = 'active'"
        " AND pid <> pg_backend_pid() AND query LIKE %s"
    )
    assert await db.fetchval(running, ("%pg_sleep(30)%",)) == 0  # the server stopped them
    db.statement_timeout = 0  # a changed setting reaches connections already pooled
    assert await db.fetchval("SHOW statement_timeout") == "0"


async def test_the_app_sets_its_configured_statement_timeout(client: Any) -> None:
    assert client.app[DB].statement_timeout == 8_000


async def _families(db: Database) -> set[uuid.UUID]:
    async with db.cursor() as cur:
        await cur.execute("SELECT id FROM session_families")
        return {row[0] for row in await cur.fetchall()}


async def test_expired_tokens_and_dead_families_are_purged_and_live_logins_kept(db: Database) -> None:
    sessions, expiring = SessionStore(db, 3600), SessionStore(db, 0)
    expired = await expiring.start(uuid.uuid4())  # its only refresh token expires at once
    live = await sessions.start(uuid.uuid4())
    revoked = await sessions.start(uuid.uuid4())
    assert await sessions.revoke(revoked.refresh_token) == revoked.family_id
    recently = await sessions.start(uuid.uuid4())
    await sessions.revoke(recently.refresh_token)

    assert await sessions.purge(revoked_grace=3600) == (1, 1)  # the expired token; then its empty family
    assert await _families(db) == {live.family_id, revoked.family_id, recently.family_id}
    assert await sessions.purge(revoked_grace=0, batch=1) == (0, 2)  # batch by batch
    assert await _families(db) == {live.family_id}
    assert expired.family_id not in await _families(db)
    rotation = await sessions.rotate(live.refresh_token)  # the live login still refreshes
    assert rotation.outcome == "rotated"
    assert (await sessions.rotate(revoked.refresh_token)).outcome == "invalid"


async def test_the_schedule_purges_every_interval_and_survives_a_failed_round(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    expiring = SessionStore(db, 0)
    rounds: list[tuple[int, int]] = []
    real_purge = SessionStore.purge

    async def purge(self: SessionStore, revoked_grace: float, batch: int = PURGE_BATCH) -> tuple[int, int]:
        if not rounds:
            rounds.append((-1, -1))
            raise Unavailable("database unavailable")  # the first round fails: the next one still runs
        rounds.append(await real_purge(self, revoked_grace, batch))
        return rounds[-1]

    monkeypatch.setattr(SessionStore, "purge", purge)
    gone = await expiring.start(uuid.uuid4())
    task = asyncio.get_running_loop().create_task(purge_sessions_forever(expiring, 0.01))
    try:
        for _ in range(500):
            if gone.family_id not in await _families(db):
                break
            await asyncio.sleep(0.01)
        assert gone.family_id not in await _families(db)
        assert rounds[0] == (-1, -1)
        assert (1, 1) in rounds[1:]
    finally:
        await cancel_and_wait(task)
    assert task.cancelled()


async def test_the_app_purges_on_the_configured_schedule(aiohttp_client: Any, settings: Settings) -> None:
    client = await aiohttp_client(create_app(settings.with_overrides(session_purge_interval=0.01)))
    db, sessions = client.app[DB], SessionStore(client.app[DB], 0)
    gone = await sessions.start(uuid.uuid4())
    for _ in range(500):
        if gone.family_id not in await _families(db):
            break
        await asyncio.sleep(0.01)
    assert gone.family_id not in await _families(db)


def test_development_tracebacks_print_no_local_variables(capsys: pytest.CaptureFixture[str]) -> None:
    from gochat.log import configure_logging, get_logger

    configure_logging("info", "console")

    def login(username: str, password: str) -> None:
        refresh_token = "rt-" + password[::-1]
        raise RuntimeError(f"cannot log {username} in ({len(refresh_token)})")

    password = uuid.uuid4().hex  # made at run time: the traceback's source lines cannot show it
    try:
        login("alice", password)
    except RuntimeError:
        get_logger("test").exception("login_failed")
    err = re.sub(r"\x1b\[[0-9;]*m", "", capsys.readouterr().err)
    assert "RuntimeError: cannot log alice in" in err  # the traceback is there
    assert "in login" in err
    assert password not in err
    assert password[::-1] not in err


async def test_security_definer_functions_pin_their_search_path_and_are_closed_to_public(db: Database) -> None:
    """A SECURITY DEFINER function runs with its owner's rights: it must not resolve names through
    a caller's search_path (pg_temp first, say), and only the app role may call it."""
    async with db.cursor() as cur:
        await cur.execute(
            "SELECT p.oid::regprocedure::text, p.proconfig,"
            " EXISTS (SELECT 1 FROM aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a"
            "         WHERE a.grantee = 0 AND a.privilege_type = 'EXECUTE'),"
            " has_function_privilege('gochat_app', p.oid, 'EXECUTE')"
            " FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace"
            " WHERE n.nspname = 'public' AND p.prosecdef ORDER BY 1"
        )
        found = await cur.fetchall()
    names = [name for name, *_ in found]
    assert "gochat_can_read(uuid)" in names
    assert "gochat_can_see(uuid)" in names
    for name, config, public_executes, app_executes in found:
        paths = [c.removeprefix("search_path=").split(", ") for c in config or [] if c.startswith("search_path=")]
        assert paths, f"{name} has no search_path"
        # pg_temp last: not named, PostgreSQL searches it first for tables and views
        assert paths[0][-1] == "pg_temp", f"{name}: search_path {paths[0]} does not end with pg_temp"
        assert paths[0][0] == "pg_catalog", f"{name}: search_path {paths[0]} does not start with pg_catalog"
        assert not public_executes, f"PUBLIC may execute {name}"
        assert app_executes, f"gochat_app may not execute {name}"
