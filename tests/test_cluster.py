"""Several real gochat processes on one database and one Redis behave as one server.

Each node is `python -m gochat serve` on its own port; clients talk to them over real sockets with
the client library. Select these with `-m cluster`; they run in the default suite too.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from conftest import TEST_SECRET, RedisServer, eventually

from gochat.aio import cancel_and_wait
from gochat.client import GochatClient, LiveSession

pytestmark = pytest.mark.cluster
PASSWORD = "correct horse battery"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Node:
    name: str
    port: int
    proc: subprocess.Popen[bytes]
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def kill(self) -> None:
        """kill -9: no drain, no goodbye to Redis (its presence heartbeat just stops)."""
        self.proc.kill()
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


def node_env(database_url: str, redis_url: str, prefix: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GOCHAT_", "DATABASE_URL", "REDIS_URL"))}
    env.update(
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        GOCHAT_REDIS_PREFIX=prefix,
        JWT_SECRET=TEST_SECRET,
        HOST="127.0.0.1",
        LOG_LEVEL="warning",
        GOCHAT_RATE_LIMITS="off",
        GOCHAT_MIGRATE_ON_START="off",  # the test database is migrated already
        GOCHAT_SHUTDOWN_TIMEOUT="2",
        **extra,
    )
    return env


async def readyz(session: aiohttp.ClientSession, url: str) -> dict[str, Any] | None:
    with contextlib.suppress(aiohttp.ClientError, OSError, TimeoutError):
        async with session.get(url + "/readyz", timeout=aiohttp.ClientTimeout(total=2)) as resp:
            body: dict[str, Any] = await resp.json()
            return body
    return None


async def wait_ready(nodes: list[Node], timeout: float = 60.0) -> None:
    async with aiohttp.ClientSession() as session:
        deadline = time.monotonic() + timeout
        for node in nodes:
            while (body := await readyz(session, node.url)) is None or body["status"] != "ok":
                if node.proc.poll() is not None:
                    raise AssertionError(f"{node.name} exited: {node.log.read_text()[-3000:]}")
                if time.monotonic() > deadline:
                    raise AssertionError(f"{node.name} not ready: {body}")
                await asyncio.sleep(0.1)


Cluster = Callable[..., Awaitable[list[Node]]]


@pytest.fixture
async def cluster(database_url: str, redis_url: str, redis_prefix: str, tmp_path: Path) -> AsyncIterator[Cluster]:
    """`await cluster(3)`: that many nodes, ready; stopped at the end of the test (their Redis keys
    go with the prefix)."""
    started: list[Node] = []
    prefix = redis_prefix

    async def start(count: int, redis: str | None = None, **extra: str) -> list[Node]:
        nodes = []
        for _ in range(count):
            name, port = f"n{len(started)}", _free_port()
            env = node_env(database_url, redis or redis_url, prefix, PORT=str(port), GOCHAT_NODE_ID=name, **extra)
            log = tmp_path / f"{name}.log"
            with log.open("wb") as out:
                proc = subprocess.Popen(
                    [sys.executable, "-m", "gochat", "serve"], env=env, stdout=out, stderr=subprocess.STDOUT
                )
            node = Node(name, port, proc, log)
            started.append(node)
            nodes.append(node)
        await wait_ready(nodes)
        return nodes

    yield start
    for node in started:
        node.stop()


@pytest.fixture
async def people() -> AsyncIterator[Callable[[str], Awaitable[GochatClient]]]:
    """`await person(url)`: a new signed-up user's client on that node."""
    clients: list[GochatClient] = []

    async def make(url: str) -> GochatClient:
        chat = GochatClient(url)
        clients.append(chat)
        await chat.signup(f"u{uuid.uuid4().hex[:10]}", PASSWORD)
        return chat

    yield make
    for chat in clients:
        await chat.close()


def uid(chat: GochatClient) -> str:
    assert chat.user is not None
    return str(chat.user["id"])


def messages(frames: list[dict[str, Any]]) -> list[int]:
    return [f["id"] for f in frames if f["type"] == "message"]


class Inbox:
    """Everything a live session yields, collected in the background."""

    def __init__(self, live: LiveSession) -> None:
        self.live = live
        self.frames: list[dict[str, Any]] = []
        self._task = asyncio.ensure_future(self._collect())

    async def _collect(self) -> None:
        async for frame in self.live:
            self.frames.append(frame)

    def first(self, pred: Callable[[dict[str, Any]], bool]) -> dict[str, Any] | None:
        return next((f for f in self.frames if pred(f)), None)

    async def wait_for(self, pred: Callable[[dict[str, Any]], bool], what: str) -> dict[str, Any]:
        await eventually(lambda: self.first(pred) is not None, timeout=20, what=what)
        found = self.first(pred)
        assert found is not None
        return found

    async def close(self) -> None:
        await self.live.close()
        await cancel_and_wait(self._task)


@contextlib.asynccontextmanager
async def inbox(live: LiveSession) -> AsyncIterator[Inbox]:
    async with live:
        box = Inbox(live)
        try:
            yield box
        finally:
            await box.close()


# --- one server across nodes ------------------------------------------------------------------------
async def test_clients_on_different_nodes_exchange_messages_typing_receipts_and_presence(
    cluster: Cluster, people: Callable[[str], Awaitable[GochatClient]]
) -> None:
    a, b, c = await cluster(3)
    alice, bob, carol, dan = await people(a.url), await people(b.url), await people(c.url), await people(c.url)
    room = (await alice.create_room("across", "group", members=[uid(bob), uid(carol), uid(dan)]))["id"]
    async with inbox(alice.live(room)) as on_a, inbox(bob.live(room)) as on_b, inbox(carol.live(room)) as on_c:
        ack = await on_a.live.send_message(room, "hello from a")
        assert ack["type"] == "ack"
        for box in (on_b, on_c):
            got = await box.wait_for(lambda f: f["type"] == "message", "a's message on another node")
            assert (got["id"], got["content"], got["user_id"]) == (ack["id"], "hello from a", uid(alice))

        reply = await on_b.live.send_message(room, "hello from b")
        for box in (on_a, on_c):
            got = await box.wait_for(lambda f: f.get("id") == reply["id"], "b's message")
            assert got["content"] == "hello from b"

        await on_b.live.send({"type": "typing", "room_id": room})
        typing = await on_a.wait_for(lambda f: f["type"] == "typing", "b's typing on a")
        assert typing["user_id"] == uid(bob)

        await on_c.live.send({"type": "read", "room_id": room, "message_id": reply["id"]})
        receipt = await on_a.wait_for(lambda f: f["type"] == "read", "c's receipt on a")
        assert (receipt["user_id"], receipt["message_id"]) == (uid(carol), reply["id"])

        def dan_is(status: str) -> Callable[[dict[str, Any]], bool]:
            return lambda f: f["type"] == "presence" and f["user_id"] == uid(dan) and f["status"] == status

        async with dan.live(room):
            await on_a.wait_for(dan_is("online"), "dan online, seen on a")
            assert (await bob.request("GET", f"/users/{uid(dan)}/presence"))["status"] == "online"
        await on_a.wait_for(dan_is("offline"), "dan offline, seen on a")
        assert (await bob.request("GET", f"/users/{uid(dan)}/presence"))["status"] == "offline"
        # every node delivered each message once
        for box in (on_a, on_b, on_c):
            assert messages(box.frames) == [ack["id"], reply["id"]]


async def test_a_killed_node_s_client_resumes_on_another_with_nothing_lost_or_duplicated(
    cluster: Cluster, people: Callable[[str], Awaitable[GochatClient]]
) -> None:
    a, b, c = await cluster(3)
    alice, bob = await people(a.url), await people(c.url)
    room = (await alice.create_room("stream", "group", members=[uid(bob)]))["id"]
    total, acked = 150, []
    async with inbox(alice.live(room)) as sender, inbox(bob.live(room, urls=[c.url, a.url, b.url])) as receiver:

        async def send_all() -> None:
            for i in range(total):
                acked.append((await sender.live.send_message(room, f"m{i}"))["id"])
                await asyncio.sleep(0.01)

        sending = asyncio.ensure_future(send_all())
        await eventually(lambda: len(messages(receiver.frames)) >= 30, timeout=20, what="the stream flowing")
        c.kill()
        await asyncio.wait_for(sending, 60)
        # the sentinel: a message after all the others; anything duplicated would come before it
        acked.append((await sender.live.send_message(room, "sentinel"))["id"])
        await receiver.wait_for(lambda f: f.get("id") == acked[-1], "bob catching up")
        assert messages(receiver.frames) == acked
        assert receiver.live.reconnects >= 1
        assert receiver.live.url != c.url


async def test_a_redis_outage_under_load_loses_nothing_and_readiness_says_degraded(
    own_redis: RedisServer, cluster: Cluster, people: Callable[[str], Awaitable[GochatClient]]
) -> None:
    nodes = await cluster(3, redis=own_redis.url)
    users = [await people(n.url) for n in nodes]
    owner = users[0]
    members = [uid(u) for u in users[1:]]
    rooms = [(await owner.create_room(f"r{i}", "private", members=members))["id"] for i in range(2)]
    for room in rooms:
        for user in users[1:]:
            await user.accept(room)
    acked: dict[str, list[int]] = {r: [] for r in rooms}
    states: list[str] = []
    async with contextlib.AsyncExitStack() as stack:
        boxes = []
        for user in users:
            live = await stack.enter_async_context(user.live(rooms[0]))
            await live.join(rooms[1])
            boxes.append(Inbox(live))
        await eventually(lambda: all(len(b.live.cursors) == 2 for b in boxes), what="both rooms subscribed")
        stop_at = time.monotonic() + 9

        async def send(box: Inbox, n: int) -> None:
            for i in range(200):  # bounded by count and by time
                if time.monotonic() > stop_at:
                    return
                room = rooms[i % 2]
                ack = await box.live.send_message(room, f"{n}:{i}")
                assert ack["type"] == "ack", ack
                acked[room].append(ack["id"])
                await asyncio.sleep(0.03)

        senders = [asyncio.ensure_future(send(box, n)) for n, box in enumerate(boxes)]
        async with aiohttp.ClientSession() as http:

            async def every_node_says(status: str) -> None:
                deadline = time.monotonic() + 15
                while (now := {(await readyz(http, n.url) or {}).get("status") for n in nodes}) != {status}:
                    assert time.monotonic() < deadline, now
                    await asyncio.sleep(0.1)
                states.append(status)

            await asyncio.sleep(2)
            own_redis.stop()
            await every_node_says("degraded")
            await asyncio.sleep(3)  # sends go on meanwhile
            own_redis.start()
            await every_node_says("ok")
        await asyncio.wait_for(asyncio.gather(*senders), 30)
        sent = sum(len(ids) for ids in acked.values())

        # the sentinel: a message after all the others, in each room; whatever came twice came before it
        for room in rooms:
            acked[room].append((await boxes[0].live.send_message(room, "sentinel"))["id"])

        def complete() -> bool:
            return all(acked[r][-1] in messages(b.frames) for b in boxes for r in rooms)

        await eventually(complete, timeout=30, what="every client converging")
        for box in boxes:
            for room in rooms:
                got = [f["id"] for f in box.frames if f["type"] == "message" and f["room_id"] == room]
                assert got == sorted(acked[room]), f"room {room}: missing or duplicated or out of order"
        # and that is the log
        for room in rooms:
            history = await owner.history(room, limit=100, after=min(acked[room]) - 1)
            logged = [m["id"] for m in history["messages"]]
            while history["has_more"]:
                history = await owner.history(room, limit=100, after=logged[-1])
                logged += [m["id"] for m in history["messages"]]
            assert logged == sorted(acked[room])
    assert states == ["degraded", "ok"]
    assert sent > 50


async def test_a_node_that_dies_does_not_leave_its_users_online(
    cluster: Cluster, people: Callable[[str], Awaitable[GochatClient]]
) -> None:
    a, b = await cluster(2, GOCHAT_PRESENCE_TTL="1", GOCHAT_PRESENCE_SWEEP_INTERVAL="0.3")
    alice, bob = await people(a.url), await people(b.url)
    room = (await alice.create_room("who", "group", members=[uid(bob)]))["id"]

    def bob_is(status: str) -> Callable[[dict[str, Any]], bool]:
        return lambda f: f["type"] == "presence" and f["user_id"] == uid(bob) and f["status"] == status

    async with inbox(alice.live(room)) as on_a, bob.live(room, resume=False):
        await on_a.wait_for(bob_is("online"), "bob online")
        b.kill()
        offline = await on_a.wait_for(bob_is("offline"), "bob offline after his node died")
        assert offline["last_seen"]
    assert (await alice.request("GET", f"/users/{uid(bob)}/presence"))["status"] == "offline"


# --- serve --workers ----------------------------------------------------------------------------------
def children(pid: int) -> set[int]:
    with contextlib.suppress(OSError):
        return {int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()}
    return set()


@pytest.fixture
def supervisor(
    database_url: str, redis_url: str, redis_prefix: str, tmp_path: Path
) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    port = _free_port()
    env = node_env(database_url, redis_url, redis_prefix, PORT=str(port))
    env["GOCHAT_MIGRATE_ON_START"] = "on"
    with (tmp_path / "supervisor.log").open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "gochat", "serve", "--workers", "2"], env=env, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        yield proc, f"http://127.0.0.1:{port}"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


async def nodes_answering(url: str, requests: int) -> set[str]:
    """The node ids behind `url` over `requests` fresh connections (SO_REUSEPORT spreads them)."""
    seen: set[str] = set()
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as http:
        for _ in range(requests):
            with contextlib.suppress(aiohttp.ClientError, OSError):
                async with http.get(url + "/readyz") as resp:
                    if resp.status == 200:
                        seen.add(resp.headers["X-Gochat-Node"])
    return seen


async def test_serve_workers_share_one_port_restart_the_dead_and_stop_together(
    supervisor: tuple[subprocess.Popen[bytes], str], people: Callable[[str], Awaitable[GochatClient]]
) -> None:
    proc, url = supervisor
    seen: set[str] = set()

    async def both_answer() -> bool:
        seen.update(await nodes_answering(url, 20))
        return len(seen) >= 2

    deadline = time.monotonic() + 60
    while not await both_answer():
        assert proc.poll() is None, "the supervisor exited"
        assert time.monotonic() < deadline, seen
        await asyncio.sleep(0.2)
    assert len(seen) == 2

    alice, bob = await people(url), await people(url)
    room = (await alice.create_room("w", "group", members=[uid(bob)]))["id"]
    async with inbox(bob.live(room)) as on_bob, alice.live(room) as sender:
        ack = await sender.send_message(room, "across workers, or not")
        await on_bob.wait_for(lambda f: f.get("id") == ack["id"], "the message")

    workers = children(proc.pid)
    assert len(workers) == 2
    victim = min(workers)
    os.kill(victim, signal.SIGKILL)
    await eventually(lambda: len(children(proc.pid) - {victim}) == 2, timeout=30, what="the dead worker restarted")
    workers = children(proc.pid)

    proc.send_signal(signal.SIGTERM)
    assert await asyncio.to_thread(proc.wait, 30) == 0
    assert all(not Path(f"/proc/{pid}").exists() for pid in workers)


def test_serve_workers_without_redis_is_refused_in_one_line(database_url: str) -> None:
    env = node_env(database_url, "", "x:")
    del env["REDIS_URL"]
    done = subprocess.run(
        [sys.executable, "-m", "gochat", "serve", "--workers", "2"], env=env, capture_output=True, timeout=60
    )
    assert done.returncode == 2
    assert done.stderr.decode().strip() == (
        "gochat: --workers N > 1 needs REDIS_URL: only Redis relays between processes"
    )


async def whole_history(chat: GochatClient, room: str) -> list[dict[str, Any]]:
    history = await chat.history(room, limit=100)
    logged: list[dict[str, Any]] = history["messages"]
    while history["has_more"]:
        history = await chat.history(room, limit=100, before=logged[0]["id"])
        logged = history["messages"] + logged
    return logged


async def test_sigterm_acks_what_it_committed_closes_with_1001_and_a_resend_elsewhere_is_exact(
    cluster: Cluster, people: Callable[[str], Awaitable[GochatClient]]
) -> None:
    (node,) = await cluster(1)
    alice = await people(node.url)
    room = (await alice.create_room("drain", "public"))["id"]
    count = 300
    acked: dict[str, int] = {}
    async with aiohttp.ClientSession() as http:
        ws = await http.ws_connect(f"{node.url}/ws", params={"token": alice.access_token or "", "room_id": room})

        async def read_acks() -> None:
            async for msg in ws:
                if msg.type == aiohttp.WSMsgType.TEXT and (frame := msg.json())["type"] == "ack":
                    acked[frame["client_msg_id"]] = frame["id"]

        reader = asyncio.ensure_future(read_acks())
        for i in range(count):
            await ws.send_json({"type": "message", "room_id": room, "content": f"m{i}", "client_msg_id": f"c{i}"})
            if i == count // 2:
                await eventually(lambda: len(acked) >= 50, timeout=10, what="the first acks")
        node.proc.send_signal(signal.SIGTERM)  # frames are still being read, appended and acked
        await asyncio.wait_for(reader, 30)
        assert ws.close_code == 1001
    assert await asyncio.to_thread(node.proc.wait, 30) == 0

    (other,) = await cluster(1)
    async with GochatClient(other.url) as again:
        again.access_token = alice.access_token
        # The frame being handled when the signal came was committed and acked before the close:
        # what the log holds is exactly what the client was told.
        assert {m["id"] for m in await whole_history(again, room)} == set(acked.values())
        # The client sends everything again with the same client_msg_ids, as the client library
        # does with what it holds unacknowledged: each message ends up in the log once, and what
        # the first node acknowledged keeps its id.
        resent = {f"c{i}": await again.post(room, f"m{i}", client_msg_id=f"c{i}") for i in range(count)}
        assert all(resent[cmid]["id"] == event_id for cmid, event_id in acked.items())
        logged = await whole_history(again, room)
    assert sorted(m["content"] for m in logged) == sorted(f"m{i}" for i in range(count))
    assert {m["id"] for m in logged} == {r["id"] for r in resent.values()}


# --- people (step 12): frames addressed to users ------------------------------------------------------
async def next_frame(ws: aiohttp.ClientWebSocketResponse, pred: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    async with asyncio.timeout(20):
        while True:
            msg = await ws.receive()
            assert msg.type == aiohttp.WSMsgType.TEXT, f"socket ended: {msg}"
            frame: dict[str, Any] = msg.json()
            if pred(frame):
                return frame


async def test_a_mention_on_node_a_reaches_the_user_s_socket_on_node_b(
    cluster: Cluster, people: Callable[[str], Awaitable[GochatClient]]
) -> None:
    a, b = await cluster(2)
    alice, bob = await people(a.url), await people(b.url)
    room = await alice.create_room("Team", "private", members=[uid(bob)])
    await bob.accept(room["id"])  # named members are invited
    bob_name = (await bob.request("GET", "/me"))["username"]
    async with aiohttp.ClientSession() as session:
        # bob's socket on B subscribes to no room: notifications are addressed to the user
        ws = await session.ws_connect(b.url + "/ws", params={"token": bob.access_token or ""})
        sent = await alice.post(room["id"], f"@{bob_name} ship it?")
        frame = await next_frame(ws, lambda f: f["type"] == "notification")
        note = frame["notification"]
        assert (note["message_id"], note["reason"], note["room_id"]) == (sent["id"], "mention", room["id"])
        assert note["actor"]["id"] == uid(alice)
        profile = await alice.request("PUT", "/me/status", json={"text": "shipping"})
        # bob's socket on B subscribed to the room now sees alice's status change made on A
        await ws.send_json({"type": "join", "room_id": room["id"]})
        await next_frame(ws, lambda f: f["type"] == "subscribed")
        await alice.request("PUT", "/me/status", json={"text": "shipped"})
        updated = await next_frame(ws, lambda f: f["type"] == "user_updated")
        assert updated["user"]["status"]["text"] == "shipped"
        assert profile["status"]["text"] == "shipping"
        await ws.close()
