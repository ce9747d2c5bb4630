"""What every user receives, by every route, against a model of what they may see (hypothesis).

Each example is a random history in a fresh room (public or private) of four users: the owner A,
B and C, and D, who may be erased. Steps: invite, accept, decline, join, leave, kick, ban, unban,
post, edit, delete, react, read, erase, each through the HTTP API. The model follows membership
and messages; every step's outcome (allowed or refused, never a 5xx) is checked against it. After
the history, for every user still able to log in: history, each message by id with its context and
thread, search, GET /rooms (with the unread count), GET /invitations, a WebSocket resume from 0,
and (for the owner) time travel must show exactly what the model says they may see, and no route
may ever serve a text that is gone (deleted, replaced by an edit, or written by an erased user).

Bounded for CI: a few dozen examples of at most 14 steps (GOCHAT_MODEL_EXAMPLES raises it).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient
from helpers import Account, signup
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_erasure import erase
from test_search import indexed

from gochat.app import create_app
from gochat.settings import Settings

Client = TestClient[Any, Any]
EXAMPLES = int(os.environ.get("GOCHAT_MODEL_EXAMPLES", "20"))
OWNER = 0
ERASABLE = 3  # D: a fresh account per example

# (action, actor, target). actor 0-3 is that user; 4-7 "some member" (the joined users taken in
# turn), so that content steps mostly succeed and a history has something to hide. target: a user
# for membership steps, a message for the others.
Step = tuple[str, int, int]
ACTIONS = ("invite", "accept", "decline", "join", "join", "leave", "kick", "ban", "unban",
           "post", "post", "post", "edit", "edit", "delete", "delete", "react", "read", "erase")  # fmt: skip
steps = st.lists(st.tuples(st.sampled_from(ACTIONS), st.integers(0, 7), st.integers(0, 7)), min_size=1, max_size=14)


@dataclass
class Msg:
    id: int
    author: int
    text: str
    deleted: bool = False


@dataclass
class Model:
    public: bool
    state: dict[int, str | None] = field(default_factory=lambda: {OWNER: "joined", 1: None, 2: None, 3: None})
    messages: list[Msg] = field(default_factory=list)
    dead: set[str] = field(default_factory=set)  # texts no route may serve any more
    erased: bool = False
    marker: dict[int, int] = field(default_factory=lambda: {OWNER: 0})  # read markers of members

    def joined(self, u: int) -> None:
        """Joining (or accepting) puts the marker on the room's newest message: nothing is unread."""
        self.state[u] = "joined"
        self.marker[u] = max((x.id for x in self.messages), default=0)

    def unread(self, u: int) -> int:
        """Messages after the marker, by others, not deleted (sql/migrations/080's rules)."""
        return sum(1 for x in self.messages if x.id > self.marker[u] and x.author != u and not x.deleted)

    def can_read(self, u: int) -> bool:
        return self.state[u] == "joined" or (self.public and self.state[u] != "banned")

    def shown(self, m: Msg) -> tuple[int, str, bool]:
        return (m.id, "" if m.deleted else m.text, m.deleted)


def word() -> str:
    """A fresh word of letters only (stemming leaves it whole), unique to this run."""
    return "".join(chr(ord("a") + int(c, 16) % 26) for c in uuid.uuid4().hex[:12])


@pytest.fixture
async def quiet_client(aiohttp_client: Callable[..., Any], settings: Settings) -> Client:
    """Rate limits off: a history signs up, logs in and posts faster than any person."""
    return await aiohttp_client(create_app(settings.with_overrides(rate_limits=False)))  # type: ignore[no-any-return]


class Run:
    def __init__(self, client: Client, users: list[Account], room: str, model: Model) -> None:
        self.client, self.users, self.room, self.model = client, users, room, model

    async def call(self, method: str, url: str, who: int, body: Any = None) -> aiohttp.ClientResponse:
        resp = await self.client.request(method, url, json=body, headers=self.users[who].headers)
        assert resp.status < 500, (method, url, resp.status, await resp.text())
        return resp

    def expect(self, resp: aiohttp.ClientResponse, allowed: bool, step: Step) -> bool:
        ok = 200 <= resp.status < 300
        assert ok == allowed, (step, resp.status, self.model)
        return ok

    async def step(self, step: Step) -> None:
        action, actor, slot = step
        m, room = self.model, f"/rooms/{self.room}"
        if actor >= len(self.users):
            members = [u for u, s in m.state.items() if s == "joined"]
            actor = members[actor % len(members)]
        target = slot % len(self.users)
        if m.erased and ERASABLE in (actor, target) and action not in ("post", "edit", "delete", "react", "read"):
            return  # D can no longer act, nor be acted on
        if m.erased and actor == ERASABLE:
            return
        msg = m.messages[slot % len(m.messages)] if m.messages else None
        st_ = m.state
        match action:
            case "invite" if target != OWNER:
                allowed = st_[target] != "banned"
                resp = await self.call("POST", f"{room}/members", OWNER, {"user_id": str(self.users[target].id)})
                if self.expect(resp, allowed, step) and st_[target] is None:
                    st_[target] = "invited"
            case "accept" | "decline" if actor != OWNER:
                resp = await self.call("POST", f"/invitations/{self.room}/{action}", actor, {})
                if self.expect(resp, st_[actor] == "invited", step):
                    if action == "accept":
                        m.joined(actor)
                    else:
                        st_[actor] = None
            case "join" if actor != OWNER:
                allowed = st_[actor] != "banned" and (m.public or st_[actor] in ("invited", "joined"))
                if (
                    self.expect(await self.call("POST", f"{room}/join", actor, {}), allowed, step)
                    and st_[actor] != "joined"
                ):
                    m.joined(actor)
            case "leave" if actor != OWNER:
                allowed = st_[actor] in ("joined", "invited")
                if self.expect(await self.call("POST", f"{room}/leave", actor, {}), allowed, step):
                    st_[actor] = None
            case "kick" if target != OWNER:
                resp = await self.call("DELETE", f"{room}/members/{self.users[target].id}", OWNER)
                if self.expect(resp, st_[target] in ("joined", "invited"), step):
                    st_[target] = None
            case "ban" if target != OWNER:
                resp = await self.call("POST", f"{room}/bans/{self.users[target].id}", OWNER, {})
                self.expect(resp, True, step)
                st_[target] = "banned"
            case "unban" if target != OWNER:
                resp = await self.call("DELETE", f"{room}/bans/{self.users[target].id}", OWNER)
                if self.expect(resp, st_[target] == "banned", step):
                    st_[target] = None
            case "post":
                text = word()
                resp = await self.call("POST", f"{room}/messages", actor, {"content": text})
                if self.expect(resp, st_[actor] == "joined", step):
                    m.messages.append(Msg((await resp.json())["id"], actor, text))
                    m.marker[actor] = m.messages[-1].id  # writing in a room means having read it
            case "edit" if msg is not None:
                text = word()
                allowed = msg.author == actor and st_[actor] == "joined" and not msg.deleted
                resp = await self.call("PATCH", f"{room}/messages/{msg.id}", actor, {"content": text})
                if self.expect(resp, allowed, step):
                    m.dead.add(msg.text)
                    msg.text = text
            case "delete" if msg is not None:
                allowed = (msg.author == actor and st_[actor] == "joined") or actor == OWNER
                if self.expect(await self.call("DELETE", f"{room}/messages/{msg.id}", actor), allowed, step):
                    m.dead.add(msg.text)
                    msg.deleted = True
            case "react" if msg is not None:
                url = f"{room}/messages/{msg.id}/reactions/👍"
                self.expect(await self.call("PUT", url, actor), st_[actor] == "joined" and not msg.deleted, step)
            case "read" if msg is not None:
                resp = await self.call("POST", f"{room}/read", actor, {"message_id": msg.id})
                if self.expect(resp, st_[actor] == "joined", step):
                    m.marker[actor] = max(m.marker[actor], msg.id)
            case "erase" if not m.erased:
                await erase(self.client, user_id=self.users[ERASABLE].id)
                m.erased = True
                st_[ERASABLE] = None
                for gone in (x for x in m.messages if x.author == ERASABLE and not x.deleted):
                    m.dead.add(gone.text)
                    gone.deleted = True

    # --- what each user receives ---------------------------------------------------------------
    def no_dead_text(self, where: str, payload: Any) -> None:
        text = repr(payload)
        leaked = [t for t in self.model.dead if t in text]
        assert not leaked, f"{where} served text that is gone: {leaked}"

    async def check(self, u: int) -> None:
        m, room = self.model, f"/rooms/{self.room}"
        readable = m.can_read(u)
        expected = [m.shown(x) for x in m.messages]
        history = await self.call("GET", f"{room}/messages?limit=100", u)
        assert (history.status == 200) == readable, (u, history.status, m)
        if readable:
            got = (await history.json())["messages"]
            self.no_dead_text("history", got)
            assert [(x["id"], x["content"], bool(x.get("deleted"))) for x in got] == expected
        shown = {x.id: m.shown(x) for x in m.messages}
        for x in m.messages:
            one = await self.call("GET", f"{room}/messages/{x.id}", u)
            assert (one.status == 200) == readable
            if not readable:
                continue
            body = await one.json()
            assert (body["id"], body["content"], bool(body.get("deleted"))) == m.shown(x)
            around = await (await self.call("GET", f"{room}/messages/{x.id}/context?limit=5", u)).json()
            thread = await (await self.call("GET", f"{room}/messages/{x.id}/thread", u)).json()
            self.no_dead_text("context and thread", [around, thread])
            for y in [*around["messages"], thread["root"]]:
                assert (y["id"], y["content"], bool(y.get("deleted"))) == shown[y["id"]]
        mine = await (await self.call("GET", "/rooms", u)).json()
        entry = [r for r in mine["rooms"] if r["id"] == self.room]
        assert bool(entry) == (m.state[u] == "joined")
        if entry:
            assert entry[0]["unread_count"] == m.unread(u), (u, entry[0], m)
        self.no_dead_text("GET /rooms", mine)
        pending = await (await self.call("GET", "/invitations", u)).json()
        assert (self.room in [i["room"]["id"] for i in pending["invitations"]]) == (m.state[u] == "invited")
        await self.check_search(u, readable)
        if m.state[u] == "joined":
            self.check_frames(await self.resume(u))

    async def check_search(self, u: int, readable: bool) -> None:
        m = self.model
        await indexed(self.client)
        for x in m.messages:
            resp = await self.call("GET", f"/rooms/{self.room}/search?q={x.text}", u)
            if not readable:
                assert resp.status in (403, 404)
                continue
            results = (await resp.json())["results"]
            assert [r["id"] for r in results] == ([] if x.deleted else [x.id])
        everywhere = await self.call("GET", f"/search?q={' or '.join(sorted(m.dead)) or 'nothing'}", u)
        self.no_dead_text("search", await everywhere.json())

    async def resume(self, u: int) -> list[dict[str, Any]]:
        """Every frame a socket resuming from 0 receives up to the room's head."""
        params = {"token": self.users[u].access_token, "room_id": self.room, "since": "0"}
        ws = await self.client.ws_connect("/ws", params=params)
        frames: list[dict[str, Any]] = []
        try:
            head = None
            while True:
                frame = await ws.receive_json(timeout=10)
                if frame["type"] == "subscribed":
                    head = frame["head"]
                elif frame.get("room_id") == self.room and "id" in frame:
                    frames.append(frame)
                if head is not None and (head == 0 or (frames and frames[-1]["id"] >= head)):
                    return frames
        finally:
            await ws.close()

    def check_frames(self, frames: list[dict[str, Any]]) -> None:
        self.no_dead_text("WebSocket resume", frames)
        posts = [(f["message_id"], f["content"], bool(f.get("deleted"))) for f in frames if f["type"] == "message"]
        assert posts == [self.model.shown(x) for x in self.model.messages]
        current = {x.id: self.model.shown(x)[1] for x in self.model.messages}
        for f in frames:
            if f["type"] == "message_edited":
                assert f["content"] == current[f["message_id"]]

    async def check_time_travel(self) -> None:
        state = await self.call("GET", f"/rooms/{self.room}/state?at={await self._head()}", OWNER)
        body = await state.json()
        self.no_dead_text("time travel", body)
        assert [(x["id"], x["content"], bool(x.get("deleted"))) for x in body["messages"]] == [
            self.model.shown(x) for x in self.model.messages
        ]

    async def _head(self) -> int:
        from gochat.keys import STORE

        return int(await self.client.app[STORE].head())


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(public=st.booleans(), history=steps)
async def test_every_route_shows_each_user_what_the_model_says(
    quiet_client: Client, public: bool, history: list[Step]
) -> None:
    client = quiet_client
    users = [await signup(client) for _ in range(4)]
    body = {"name": "Model", "type": "public" if public else "private"}
    resp = await client.post("/rooms", json=body, headers=users[OWNER].headers)
    assert resp.status == 201
    run = Run(client, users, (await resp.json())["id"], Model(public))
    for step in history:
        await run.step(step)
    for u in range(4):
        if not (u == ERASABLE and run.model.erased):
            await run.check(u)
    await run.check_time_travel()
