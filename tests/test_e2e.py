"""End-to-end encrypted rooms: the key directory, device mailboxes, and clients chatting through a
real server that never sees a plaintext (gochat/e2e/client.py is the reference client)."""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import psycopg2
import pytest
import vodozemac
from conftest import TEST_SECRET
from helpers import PASSWORD, signup, unique_name

from gochat.client import GochatClient
from gochat.e2e.client import DecryptionError, EncryptedDevice
from gochat.e2e.protocol import signed_text

# --- the key directory, over HTTP -----------------------------------------------------------------


def _device_body(account: vodozemac.Account, user_id: str, device_id: str, keys: int = 3) -> dict[str, Any]:
    account.generate_one_time_keys(keys)
    one_time = {}
    for key_id, key in account.one_time_keys.items():
        text = key.to_base64()
        one_time[key_id] = {
            "key": text,
            "signature": account.sign(signed_text(user_id, device_id, key_id, text)).to_base64(),
        }
    account.mark_keys_as_published()
    return {
        "identity_keys": {"curve25519": account.curve25519_key.to_base64(), "ed25519": account.ed25519_key.to_base64()},
        "one_time_keys": one_time,
    }


async def test_a_device_registers_once_and_keeps_its_identity(client: Any) -> None:
    alice = await signup(client)
    account = vodozemac.Account()
    body = _device_body(account, str(alice.id), "laptop")
    first = await client.put("/devices/laptop", json=body, headers=alice.headers)
    assert first.status == 201
    assert (await first.json())["one_time_keys_left"] == 3
    again = await client.put("/devices/laptop", json={**body, "one_time_keys": {}}, headers=alice.headers)
    assert again.status == 200
    other = _device_body(vodozemac.Account(), str(alice.id), "laptop")
    refused = await client.put("/devices/laptop", json=other, headers=alice.headers)
    assert refused.status == 422
    assert (await refused.json())["error"]["code"] == "device_exists"
    listed = await (await client.get(f"/users/{alice.id}/devices", headers=alice.headers)).json()
    assert [d["identity_keys"]["curve25519"] for d in listed["devices"]] == [account.curve25519_key.to_base64()]


async def test_keys_not_signed_by_the_device_are_refused_and_nothing_is_stored(client: Any) -> None:
    alice = await signup(client)
    account = vodozemac.Account()
    await client.put("/devices/phone", json=_device_body(account, str(alice.id), "phone", 0), headers=alice.headers)
    forger = vodozemac.Account()
    forger.generate_one_time_keys(1)
    key_id, key = next(iter(forger.one_time_keys.items()))
    forged = {key_id: {"key": key.to_base64(), "signature": forger.sign(b"anything").to_base64()}}
    resp = await client.post("/devices/phone/keys", json={"one_time_keys": forged}, headers=alice.headers)
    assert resp.status == 422
    assert f"one_time_keys.{key_id}" in (await resp.json())["error"]["details"]
    bob = await signup(client)
    claimed = await client.post(
        "/keys/claim", json={"devices": [{"user_id": str(alice.id), "device_id": "phone"}]}, headers=bob.headers
    )
    assert (await claimed.json())["keys"][0]["one_time_key"] is None


async def test_each_one_time_key_is_handed_out_once_under_concurrent_claims(client: Any) -> None:
    alice = await signup(client)
    await client.put(
        "/devices/d1", json=_device_body(vodozemac.Account(), str(alice.id), "d1", 5), headers=alice.headers
    )
    claimers = [await signup(client) for _ in range(7)]
    ref = {"devices": [{"user_id": str(alice.id), "device_id": "d1"}]}

    async def claim(who: Any) -> dict[str, Any] | None:
        resp = await client.post("/keys/claim", json=ref, headers=who.headers)
        assert resp.status == 200
        key: dict[str, Any] | None = (await resp.json())["keys"][0]["one_time_key"]
        return key

    keys = await asyncio.gather(*(claim(c) for c in claimers))
    handed = [k["key_id"] for k in keys if k is not None]
    assert len(handed) == 5  # no fallback key was published: two claims get nothing
    assert len(set(handed)) == 5


async def test_a_device_running_low_is_told_in_its_mailbox(client: Any) -> None:
    alice, bob = await signup(client), await signup(client)
    await client.put(
        "/devices/d1", json=_device_body(vodozemac.Account(), str(alice.id), "d1", 10), headers=alice.headers
    )
    ref = {"devices": [{"user_id": str(alice.id), "device_id": "d1"}]}
    await client.post("/keys/claim", json=ref, headers=bob.headers)
    inbox = await (await client.get("/devices/d1/inbox", headers=alice.headers)).json()
    [notice] = inbox["messages"]
    assert notice["payload"] == {"type": "keys_low", "one_time_keys_left": 9}
    ack = await client.post("/devices/d1/inbox/ack", json={"upto": notice["id"]}, headers=alice.headers)
    assert ack.status == 204
    assert (await (await client.get("/devices/d1/inbox", headers=alice.headers)).json())["messages"] == []


async def test_a_mailbox_is_its_owners_alone(client: Any) -> None:
    alice, mallory = await signup(client), await signup(client)
    await client.put(
        "/devices/d1", json=_device_body(vodozemac.Account(), str(alice.id), "d1", 0), headers=alice.headers
    )
    assert (await client.get("/devices/d1/inbox", headers=mallory.headers)).status == 404
    assert (await client.post("/devices/d1/inbox/ack", json={"upto": 99}, headers=mallory.headers)).status == 404


# --- encrypted rooms ------------------------------------------------------------------------------


async def test_an_encrypted_room_refuses_plaintext_and_stores_nothing(client: Any) -> None:
    alice = await signup(client)
    resp = await client.post(
        "/rooms", json={"name": "secret", "type": "private", "encrypted": True}, headers=alice.headers
    )
    room = await resp.json()
    assert room["encrypted"] is True
    refused = await client.post(
        f"/rooms/{room['id']}/messages", json={"content": "hello in clear"}, headers=alice.headers
    )
    assert refused.status == 422
    assert (await refused.json())["error"]["code"] == "encryption_required"
    history = await (await client.get(f"/rooms/{room['id']}/messages", headers=alice.headers)).json()
    assert history["messages"] == []


async def test_a_plain_room_stays_plain_and_keeps_its_length_limit(client: Any) -> None:
    alice = await signup(client)
    room = await (await client.post("/rooms", json={"name": "open", "type": "public"}, headers=alice.headers)).json()
    assert room["encrypted"] is False
    too_long = await client.post(f"/rooms/{room['id']}/messages", json={"content": "x" * 4001}, headers=alice.headers)
    assert too_long.status == 422


# --- clients chatting through a real server ---------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
async def server(database_url: str, tmp_path: Path) -> AsyncIterator[tuple[str, Path]]:
    """A real gochat process logging at debug level, so the test can read all it wrote."""
    port, log = _free_port(), tmp_path / "server.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GOCHAT_", "DATABASE_URL", "REDIS_URL"))}
    env.update(DATABASE_URL=database_url, JWT_SECRET=TEST_SECRET, HOST="127.0.0.1", PORT=str(port),
               LOG_LEVEL="debug", GOCHAT_RATE_LIMITS="off", GOCHAT_MIGRATE_ON_START="off")  # fmt: skip
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "gochat", "serve"], env=env, stdout=out, stderr=subprocess.STDOUT
        )
    url = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as session:
            deadline = time.monotonic() + 60
            while True:
                try:
                    async with session.get(url + "/readyz") as resp:
                        if resp.status == 200:
                            break
                except aiohttp.ClientError:
                    pass
                assert proc.poll() is None, log.read_text()[-2000:]
                assert time.monotonic() < deadline, "server not ready"
                await asyncio.sleep(0.1)
        yield url, log
    finally:
        proc.terminate()
        proc.wait(20)


People = Callable[[str], Awaitable[tuple[GochatClient, EncryptedDevice]]]


@pytest.fixture
async def people(server: tuple[str, Path]) -> AsyncIterator[People]:
    url, _ = server
    made: list[GochatClient] = []

    async def person(device_id: str) -> tuple[GochatClient, EncryptedDevice]:
        chat = GochatClient(url)
        made.append(chat)
        body = await chat.signup(unique_name(), PASSWORD)
        device = EncryptedDevice(chat, str(body["user"]["id"]), device_id)
        await device.register()
        return chat, device

    yield person
    for chat in made:
        await chat.close()


async def _texts(chat: GochatClient, device: EncryptedDevice, room_id: str) -> list[str]:
    history = await chat.history(room_id)
    return [device.decrypt(room_id, m["content"]) for m in history["messages"]]  # oldest first


async def test_two_people_chat_and_the_server_holds_no_plaintext(
    people: People, server: tuple[str, Path], database_url: str
) -> None:
    (alice_chat, alice), (bob_chat, bob) = await people("alice-laptop"), await people("bob-phone")
    room = (await alice_chat.create_room("e2e", "public", encrypted=True))["id"]
    await bob_chat.join(room)
    words = [f"kumquat-{secrets.token_hex(4)}", f"quince-{secrets.token_hex(4)}", f"medlar-{secrets.token_hex(4)}"]

    await alice.send(room, f"{words[0]} at noon?")
    assert await bob.receive_keys() == 1
    await bob.send(room, f"yes, {words[1]}")
    await alice.receive_keys()
    await alice.send(room, f"bring the {words[2]}")

    expected = [f"{words[0]} at noon?", f"yes, {words[1]}", f"bring the {words[2]}"]
    assert await _texts(alice_chat, alice, room) == expected
    assert await _texts(bob_chat, bob, room) == expected

    # nothing the server stored or logged holds a word of it: the log, every table, the mailboxes
    with psycopg2.connect(database_url) as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT table_name FROM information_schema.tables"
            " WHERE table_schema = 'public' AND table_type = 'BASE TABLE'"
        )
        tables = [r[0] for r in cur.fetchall()]
        for table in tables:
            cur.execute(f'SELECT t::text FROM "{table}" t')  # names from the catalog
            dump = "\n".join(r[0] for r in cur.fetchall())
            for word in words:
                assert word not in dump, f"{word} found in {table}"
    _, log = server
    logged = log.read_text()
    assert f"/rooms/{room}/messages" in logged  # it logged each request, at debug level
    for word in words:
        assert word not in logged


async def test_new_members_read_from_their_joining_on_and_leavers_read_nothing_new(people: People) -> None:
    (alice_chat, alice), (bob_chat, bob), (carol_chat, carol) = (
        await people("a1"), await people("b1"), await people("c1"),
    )  # fmt: skip
    room = (await alice_chat.create_room("e2e-3", "public", encrypted=True))["id"]
    await bob_chat.join(room)
    await alice.send(room, "before carol")
    await carol_chat.join(room)
    await alice.send(room, "carol is here")
    await bob.receive_keys()
    await carol.receive_keys()
    history = (await carol_chat.history(room))["messages"]
    with pytest.raises(DecryptionError):
        carol.decrypt(room, history[0]["content"])  # sent before she joined: no key for it
    assert carol.decrypt(room, history[1]["content"]) == "carol is here"

    await bob_chat.leave(room)
    await alice.send(room, "bob has gone")
    await carol.receive_keys()
    await bob.receive_keys()
    last = (await alice_chat.history(room))["messages"][-1]
    assert carol.decrypt(room, last["content"]) == "bob has gone"
    with pytest.raises(DecryptionError):
        bob.decrypt(room, last["content"])  # a new session, whose key went to the members only


async def test_a_second_device_of_a_member_gets_keys_for_what_follows(people: People, server: tuple[str, Path]) -> None:
    (alice_chat, alice), (bob_chat, bob) = await people("a1"), await people("b1")
    room = (await alice_chat.create_room("e2e-dev", "public", encrypted=True))["id"]
    await bob_chat.join(room)
    await alice.send(room, "one")
    tablet = EncryptedDevice(bob_chat, bob.user_id, "b2")
    await tablet.register()
    await alice.send(room, "two")
    await tablet.receive_keys()
    newest = (await bob_chat.history(room))["messages"][-1]
    assert tablet.decrypt(room, newest["content"]) == "two"


async def test_live_frames_carry_the_envelope_to_the_other_member(people: People, server: tuple[str, Path]) -> None:
    (alice_chat, alice), (bob_chat, bob) = await people("a1"), await people("b1")
    room = (await alice_chat.create_room("e2e-live", "public", encrypted=True))["id"]
    await bob_chat.join(room)
    async with bob_chat.live(room) as live:
        await alice.send(room, "live and secret")
        frame = await live.recv_until(lambda f: f.get("type") == "message")
    await bob.receive_keys()
    assert "live and secret" not in frame["content"]
    assert bob.decrypt(room, frame["content"]) == "live and secret"


async def test_plaintext_over_the_websocket_is_refused_in_an_encrypted_room(people: People) -> None:
    (alice_chat, _) = await people("a1")
    room = (await alice_chat.create_room("e2e-ws", "public", encrypted=True))["id"]
    async with alice_chat.live(room) as live:
        await live.send({"type": "message", "room_id": room, "content": "in clear", "client_msg_id": "x1"})
        frame = await live.recv_until(lambda f: f.get("type") == "error")
    assert frame["code"] == "encryption_required"
    assert (await alice_chat.history(room))["messages"] == []


def test_signed_text_binds_the_key_to_the_users_device() -> None:
    user = uuid.uuid4()
    assert signed_text(user, "d", "k", "K") != signed_text(user, "e", "k", "K")
    assert signed_text(user, "d", "k", "K") != signed_text(uuid.uuid4(), "d", "k", "K")


async def test_claims_are_rate_limited_per_user(client: Any) -> None:
    """Claiming drains another user's keys: a budget per claimer bounds it."""
    alice, bob = await signup(client), await signup(client)
    ref = {"devices": [{"user_id": str(alice.id), "device_id": "none"}]}
    statuses = [(await client.post("/keys/claim", json=ref, headers=bob.headers)).status for _ in range(70)]
    assert statuses[:60] == [200] * 60
    assert 429 in statuses[60:]
