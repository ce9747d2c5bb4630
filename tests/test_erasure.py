"""Erasure: `user.erased` takes a user's content out of every projection, their logins end, a
rebuild from zero does not bring anything back, and the log tools redact what the log still holds."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import pytest
from conftest import FreshDb, run_cli
from helpers import PASSWORD, signup
from room_helpers import make_room, ok, post
from test_projection_equivalence import EveryTypeLog
from test_projections_ops import rebuilt_from_zero, settled

from gochat.auth.store import SessionStore
from gochat.db import Database
from gochat.e2e.store import KeyStore as DeviceKeys
from gochat.errors import NotFound
from gochat.events import EventStore, NewEvent, build_registry
from gochat.keys import DB, STORE
from gochat.projections.catalog import all_projections
from gochat.projections.engine import InlineProjections
from gochat.projections.rebuild import Rebuild, target
from gochat.projections.users import UserQueries
from gochat.services.erasure import Erased, ErasureService

SECRET = "erasure-secret-" + "x" * 32


def erasure(client: Any) -> ErasureService:
    db = client.app[DB]
    return ErasureService(client.app[STORE], UserQueries(db), SessionStore(db, 3600), DeviceKeys(db))


async def erase(client: Any, *, user_id: uuid.UUID | None = None, username: str | None = None) -> Erased:
    service = erasure(client)
    return await service.erase(await service.find(user_id=user_id, username=username))


async def count(db: Database, sql: str, *params: Any) -> int:
    return int(await db.fetchval(sql, params))


async def test_an_erased_users_messages_become_tombstones_and_their_traces_go(client: Any) -> None:
    alice, bob = await signup(client), await signup(client, display_name="Bob Real-Name")
    room = (await make_room(client, alice, "public"))["id"]
    await ok(await client.post(f"/rooms/{room}/join", json={}, headers=bob.headers))
    root = await post(client, alice, room, "lunch?")
    plan = await post(client, bob, room, "my secret plan")
    await post(client, bob, room, "count me in", thread_root=root["id"])
    for who, message in ((bob, root), (alice, plan)):
        url = f"/rooms/{room}/messages/{message['id']}/reactions/👍"
        await ok(await client.put(url, headers=who.headers))
    await ok(await client.post(f"/rooms/{room}/read", json={"message_id": root["id"]}, headers=bob.headers))
    db = client.app[DB]
    await wait_for(lambda: count(db, "SELECT count(*) FROM message_search WHERE user_id = %s", bob.id), 2)

    erased = await erase(client, username=bob.username)
    assert (erased.user_id, erased.sessions_revoked) == (bob.id, 1)

    page = await ok(await client.get(f"/rooms/{room}/messages", headers=alice.headers))
    by_id = {m["id"]: m for m in page["messages"]}
    assert [(m["content"], m.get("deleted")) for m in page["messages"] if m["user_id"] == str(bob.id)] == [
        ("", True),
        ("", True),
    ]
    assert by_id[root["id"]]["reply_count"] == 0
    assert by_id[root["id"]]["reactions"] == []  # bob's reaction went with him
    assert by_id[plan["id"]]["reactions"] == []  # and so did alice's, on his tombstone
    detail = await ok(await client.get(f"/rooms/{room}", headers=alice.headers))
    assert [m["user_id"] for m in detail["members"]] == [str(alice.id)]
    assert detail["member_count"] == 1
    assert await count(db, "SELECT count(*) FROM receipts WHERE user_id = %s", bob.id) == 0
    await wait_for(lambda: count(db, "SELECT count(*) FROM message_search WHERE user_id = %s", bob.id), 0)
    user = await UserQueries(db).get(bob.id)
    assert user is not None
    assert (user.username, user.display_name, user.password_hash) == (f"deleted-{bob.id.hex}", "deleted user", None)
    # no way back in: the open session, refresh, login
    assert (await client.get("/rooms", headers=bob.headers)).status == 401
    assert (await client.post("/auth/refresh", json={"refresh_token": bob.refresh_token})).status == 401
    login = await client.post("/auth/login", json={"username": bob.username, "password": PASSWORD})
    assert login.status == 401


async def wait_for(value: Any, expected: int) -> None:
    for _ in range(500):
        if await value() == expected:
            return
        await asyncio.sleep(0.02)
    assert await value() == expected


async def test_erasing_twice_appends_nothing_more_and_unknown_users_are_not_found(client: Any) -> None:
    bob = await signup(client)
    first = await erase(client, user_id=bob.id)
    again = await erase(client, user_id=bob.id)
    assert first.event_id is not None
    assert again.event_id is None
    with pytest.raises(NotFound, match="no user named 'nobody'"):
        await erase(client, username="nobody")
    with pytest.raises(NotFound, match="no user named"):
        await erase(client, username=bob.username)  # the name went with the account
    with pytest.raises(NotFound, match="no user with id"):
        await erase(client, user_id=uuid.uuid4())


# --- rebuilds ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("seed", [11, 12])
async def test_rebuilds_never_bring_erased_content_back(
    seed: int, store: EventStore, db: Database, fresh_db: FreshDb
) -> None:
    log = EveryTypeLog(seed)
    checkpoints: dict[int, dict[str, list[str]]] = {}
    for i in range(1, 1201):
        event = log.next_event()
        log.appended(event, (await store.append_one(event)).event.id)
        if i % 300 == 0:
            checkpoints[i] = await settled(db)
    assert len(log.erased) >= 2
    # one by one, then a rebuild from zero (to each checkpoint), then a rebuild swapped in, agree
    for position, tables in checkpoints.items():
        assert await rebuilt_from_zero(db, fresh_db, until=position) == tables, f"differs at {position}"
    await Rebuild(db, store, target(all_projections(), "all"), page=37).run()
    assert await settled(db) == checkpoints[1200]
    # what erased users wrote: no content anywhere; before their erasure, tombstones; no reactions,
    # search rows or memberships from before it (a join racing the erasure may come after)
    async with db.cursor() as cur:
        await cur.execute(
            "WITH e AS (SELECT stream_id AS user_id, id AS erased_at FROM events WHERE type = 'user.erased')"
            " SELECT (SELECT count(*) FROM messages m JOIN e USING (user_id)),"
            " (SELECT count(*) FROM messages m JOIN e USING (user_id)"
            "  WHERE m.content <> '' OR m.attachments IS NOT NULL),"
            " (SELECT count(*) FROM messages m JOIN e USING (user_id) WHERE m.id < e.erased_at AND NOT m.deleted),"
            " (SELECT count(*) FROM reactions r JOIN e USING (user_id) WHERE r.added_id < e.erased_at),"
            " (SELECT count(*) FROM message_search s JOIN e USING (user_id)),"
            " (SELECT count(*) FROM memberships m JOIN e USING (user_id) WHERE m.since_id < e.erased_at)"
        )
        written, *left = await cur.fetchone()
    assert written > 0
    assert left == [0, 0, 0, 0, 0]


# --- the command line and the log tools -------------------------------------------------------------
def run(coro: Any) -> Any:
    return asyncio.run(coro)


@pytest.fixture
def erased_log(database_url: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """alice and bob signed up (with password hashes in the log), bob posted; the CLI points here."""
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("JWT_SECRET", SECRET)
    alice, bob, room = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()

    async def go() -> None:
        db = await Database.connect(database_url, minsize=1, maxsize=4)
        store = EventStore(db, build_registry())
        store.inline.append(InlineProjections(store, all_projections()))
        store.start()
        for user, name in ((alice, "alice"), (bob, "Bob")):
            data = {
                "username": name,
                "username_norm": name.lower(),
                "display_name": name,
                "password_hash": "$argon2id$x",
            }
            await store.append(NewEvent("user.registered", user, data, actor_id=user))
        await store.append(
            NewEvent("room.created", room, {"name": "General", "type": "public"}, actor_id=alice),
            NewEvent("message.posted", room, {"content": "alice speaks"}, actor_id=alice),
            NewEvent("message.posted", room, {"content": "bob's secret", "attachments": [{"n": 1}]}, actor_id=bob),
            NewEvent("message.edited", room, {"message_id": 5, "content": "bob's edit"}, actor_id=bob),
            NewEvent("user.profile_updated", bob, {"display_name": "Robert Full-Name"}, actor_id=bob),
        )
        await store.close()
        await db.close()

    run(go())
    return {"alice": alice, "bob": bob, "room": room}


def exported(capsys: pytest.CaptureFixture[str], *argv: str) -> list[dict[str, Any]]:
    code, out, err = run_cli(capsys, "events", *argv)
    assert code == 0, err
    return [json.loads(line) for line in out.splitlines()]


def test_the_erase_command_erases_by_username_and_exports_redact_what_the_log_keeps(
    erased_log: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    bob = erased_log["bob"]
    raw = exported(capsys, "export", "--raw")
    assert all("password_hash" not in e["data"] for e in raw)  # never exported, erased or not
    assert [e["data"]["content"] for e in raw if e["type"] == "message.posted"] == ["alice speaks", "bob's secret"]
    # by default, each message as history holds it now: bob's with its edited text
    now = [e["data"] for e in exported(capsys, "export") if e["type"] == "message.posted"]
    assert [d["content"] for d in now] == ["alice speaks", "bob's edit"]
    assert "edited_at" in now[1]
    assert "edited_at" not in now[0]

    code, out, err = run_cli(capsys, "users", "erase", "--username", "bob")
    assert code == 2
    assert "--yes" in err
    code, out, _ = run_cli(capsys, "users", "erase", "--username", "BOB", "--yes")
    assert code == 0
    shown, done = out.splitlines()
    assert shown.startswith(f"user {bob}: username 'Bob', display name 'Robert Full-Name', signed up 20")
    assert done == f"erased user {bob} (event 8); 0 login(s) revoked"
    code, out, _ = run_cli(capsys, "users", "erase", "--id", str(bob), "--yes")
    assert (code, out.splitlines()[-1]) == (0, f"user {bob} was already erased; 0 login(s) revoked")
    assert out.splitlines()[0].endswith("(already erased)")
    code, _, err = run_cli(capsys, "users", "erase", "--username", "nobody", "--yes")
    assert (code, err) == (1, "gochat users erase: no user named 'nobody'\n")

    after = {e["id"]: e for e in exported(capsys, "export")}
    assert after[1]["data"] == {"username": "alice", "username_norm": "alice", "display_name": "alice"}
    anonymous = f"deleted-{bob.hex}"
    assert after[2]["data"] == {"username": anonymous, "username_norm": anonymous, "display_name": "deleted user"}
    assert after[4]["data"]["content"] == "alice speaks"
    tomb = after[5]["data"]
    assert (tomb["content"], tomb["attachments"], tomb["deleted"]) == ("", None, True)
    assert after[6]["data"] == {"message_id": 5, "content": ""}
    assert after[7]["data"] == {"display_name": "deleted user"}
    assert after[8]["type"] == "user.erased"
    # the raw log, as tail shows it, is redacted too
    raw_after = exported(capsys, "export", "--raw")
    assert "secret" not in repr(raw_after)
    assert "bob's edit" not in repr(raw_after)
    code, out, _ = run_cli(capsys, "events", "tail", "-n", "8")
    assert code == 0
    assert [json.loads(line)["data"] for line in out.splitlines()] == [e["data"] for e in raw_after]
    assert "secret" not in out
    assert "Full-Name" not in out


def test_the_erase_command_never_reads_a_name_as_an_id_or_an_id_as_a_name(
    erased_log: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    bob = erased_log["bob"]
    # bob's id as 32 hex digits is a valid username, and nobody has it: nothing is erased
    code, _, err = run_cli(capsys, "users", "erase", "--username", bob.hex, "--yes")
    assert (code, err) == (1, f"gochat users erase: no user named {bob.hex!r}\n")
    with pytest.raises(SystemExit) as exit_:
        run_cli(capsys, "users", "erase", "--id", "bob", "--yes")
    assert exit_.value.code == 2
    assert "is not a user id" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        run_cli(capsys, "users", "erase", "--id", str(bob), "--username", "bob", "--yes")
    assert "not allowed with argument" in capsys.readouterr().err
    assert [e for e in exported(capsys, "export") if e["type"] == "user.erased"] == []


@pytest.mark.parametrize(("answer", "erased"), [("no", False), ("erase", True)])
def test_at_a_terminal_the_user_found_is_shown_and_only_typing_erase_erases(
    erased_log: dict[str, Any], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, answer: str,
    erased: bool,
) -> None:  # fmt: skip
    bob, asked = erased_log["bob"], list[tuple[str, str]]()

    def typed(prompt: str) -> str:
        asked.append((prompt, capsys.readouterr().out))  # what the operator read before answering
        return answer

    monkeypatch.setattr("sys.stdin.isatty", lambda: True)
    monkeypatch.setattr("builtins.input", typed)
    code, out, _ = run_cli(capsys, "users", "erase", "--username", "bob")
    [(prompt, shown)] = asked
    assert shown.startswith(f"user {bob}: username 'Bob', display name 'Robert Full-Name'")
    assert prompt == f"Erase 'Bob' ({bob}) for good? Type 'erase' to confirm: "
    assert code == (0 if erased else 1)
    assert out.startswith("erased user" if erased else "nothing erased")
    assert len([e for e in exported(capsys, "export") if e["type"] == "user.erased"]) == int(erased)
