"""What every user receives, by every route, against a model of what they may see (hypothesis).

Each example is a random history in a fresh room (public or private) of four users: the owner A,
B and C, and D, who may be erased. Steps: invite, accept, decline, join, leave, kick, ban, unban,
post, reply (in a thread), mention (a post naming someone), upload (a post with a file), edit,
delete, react, pin, read, typing (a WebSocket frame), erase, each through the API. The model follows
membership, messages, threads, files, pins, read markers, notifications, typing and the sockets an
erasure is announced to (`user_erased`: those subscribed when it changed the room); every step's
outcome (allowed or refused, never a 5xx) is checked against it. After the history, for every user
still able to log in: history, each message by id with its context and thread, search, GET /rooms
(the unread count and the read marker), GET /invitations, GET /notifications, every user's presence
and profile, the pins, every file, and a WebSocket resume from 0 (posts and typing, less what came
while the user was out of the room, which a resume skips: ws/resume.py `Removals`); then, once,
time travel (for the owner) and the operator's export of the room must show exactly what the model
says, and no route may ever serve a text or file name that is gone (deleted, replaced by an edit,
or written by an erased user).

Bounded for CI: a few dozen examples of at most 14 steps (GOCHAT_MODEL_EXAMPLES raises it).
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient
from file_helpers import upload
from helpers import Account, signup
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from test_erasure import erase
from test_hostile_input import answer
from test_search import indexed

from gochat.aio import cancel_and_wait
from gochat.app import create_app
from gochat.events.scan import LogFilter
from gochat.events.sealing import configured_sealer
from gochat.keys import DB, PROJECTIONS, SETTINGS, STORE
from gochat.settings import Settings
from gochat.tools.export import export_log
from gochat.tools.formats import JsonLinesWriter

Client = TestClient[Any, Any]
EXAMPLES = int(os.environ.get("GOCHAT_MODEL_EXAMPLES", "20"))
OWNER = 0
ERASABLE = 3  # D: a fresh account per example
LIVE = (OWNER, 1, 2)  # a socket each, open through the whole history (D's would end with its erasure)

# (action, actor, target). actor 0-3 is that user; 4-7 "some member" (the joined users taken in
# turn), so that content steps mostly succeed and a history has something to hide. target: a user
# for membership steps, a message for the others.
Step = tuple[str, int, int]
ACTIONS = ("invite", "accept", "decline", "join", "join", "leave", "kick", "ban", "unban", "post", "post",
           "reply", "mention", "upload", "edit", "edit", "delete", "delete", "react", "pin", "read", "typing",
           "erase")  # fmt: skip
steps = st.lists(st.tuples(st.sampled_from(ACTIONS), st.integers(0, 7), st.integers(0, 7)), min_size=1, max_size=14)


@dataclass
class Msg:
    id: int
    author: int
    text: str
    word: str  # the text's own word, unique to it (a mention adds a name that is no secret)
    unseen: frozenset[int]  # users out of the room when it came: a resume from 0 skips it for them
    file: str | None = None  # the attached file's URL
    name: str | None = None  # its name, as unique as `word`
    root: int | None = None  # a reply's thread
    deleted: bool = False


@dataclass
class Model:
    public: bool
    state: dict[int, str | None] = field(default_factory=lambda: {OWNER: "joined", 1: None, 2: None, 3: None})
    messages: list[Msg] = field(default_factory=list)
    dead: set[str] = field(default_factory=set)  # texts and file names no route may serve any more
    erased: bool = False
    reacted: bool = False  # D reacted at least once: their erasure then changes the room's reactions
    marker: dict[int, int] = field(default_factory=lambda: {OWNER: 0})  # read markers of members
    # (user, message) -> read: who a message notifies (sql/functions/gochat_apply_notifications.sql)
    notes: dict[tuple[int, int], bool] = field(default_factory=dict)
    # users removed from the room (left, kicked, banned) and not back: a resume skips the room's
    # events for them until they join again (ws/resume.py, Removals)
    out: set[int] = field(default_factory=set)
    typing: list[tuple[int, frozenset[int]]] = field(default_factory=list)  # (typist, users out then)
    pins: list[Msg] = field(default_factory=list)  # in the order pinned

    def joined(self, u: int) -> None:
        """Joining (or accepting) puts the marker on the room's newest message: nothing is unread."""
        self.state[u] = "joined"
        self.marker[u] = max((x.id for x in self.messages), default=0)
        self.out.discard(u)

    def removed(self, u: int, state: str | None) -> None:
        """Left, kicked or banned: the user's notifications of the room go (gochat_apply_notifications)."""
        self.state[u] = state
        self.out.add(u)
        self.forget(lambda user, _: user == u)

    def posted(self, msg: Msg, notify: int | None = None) -> None:
        """Writing in a room reads it (the author's marker, and their notifications before it)."""
        self.messages.append(msg)
        self.marker[msg.author] = msg.id
        self.read(msg.author, msg.id - 1)
        if notify is not None and notify != msg.author and self.state[notify] == "joined":
            self.notes[(notify, msg.id)] = False

    def read(self, u: int, upto: int) -> None:
        for user, mid in self.notes:
            if user == u and mid <= upto:
                self.notes[(user, mid)] = True

    def gone(self, msg: Msg) -> None:
        """Deleted, or its author erased: a tombstone, its text, file and notifications gone."""
        self.dead |= {msg.word, *([msg.name] if msg.name else [])}
        msg.deleted = True
        self.forget(lambda _, mid: mid == msg.id)

    def forget(self, which: Callable[[int, int], bool]) -> None:
        self.notes = {k: v for k, v in self.notes.items() if not which(*k)}

    def unread(self, u: int) -> int:
        """Messages after the marker, by others, not deleted (sql/migrations/080's rules)."""
        return sum(1 for x in self.messages if x.id > self.marker[u] and x.author != u and not x.deleted)

    def can_read(self, u: int) -> bool:
        return self.state[u] == "joined" or (self.public and self.state[u] != "banned")

    def shown(self, m: Msg) -> tuple[int, str, bool]:
        return (m.id, "" if m.deleted else m.text, m.deleted)

    def replies(self, root: int) -> list[Msg]:
        return [x for x in self.messages if x.root == root]


def word() -> str:
    """A fresh word of letters only (stemming leaves it whole), unique to this run."""
    return "".join(chr(ord("a") + int(c, 16) % 26) for c in uuid.uuid4().hex[:12])


@pytest.fixture
async def quiet_client(aiohttp_client: Callable[..., Any], settings: Settings) -> Client:
    """Rate limits off: a history signs up, logs in and posts faster than any person; no typing
    debounce: every typing frame allowed is an event."""
    quiet = settings.with_overrides(rate_limits=False, ws_typing_interval=0.0)
    return await aiohttp_client(create_app(quiet))  # type: ignore[no-any-return]


def left(user_id: str) -> Callable[[dict[str, Any]], bool]:
    return lambda f: f["type"] == "leave" and f["user_id"] == user_id


class Socket:
    """A user's socket through the history, every frame it receives kept in order."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws, self.frames = ws, list[dict[str, Any]]()
        self.reader = asyncio.get_running_loop().create_task(self._read())

    async def _read(self) -> None:
        async for msg in self.ws:
            if msg.type == aiohttp.WSMsgType.TEXT:
                self.frames.append(msg.json())

    async def seen(self, what: Callable[[dict[str, Any]], bool], since: int = 0) -> None:
        for _ in range(1000):
            if any(what(f) for f in self.frames[since:]):
                return
            await asyncio.sleep(0.01)
        raise AssertionError(f"not received: {self.frames[since:]}")

    async def close(self) -> None:
        await self.ws.close()
        await cancel_and_wait(self.reader)


class Run:
    def __init__(self, client: Client, users: list[Account], room: str, model: Model) -> None:
        self.client, self.users, self.room, self.model = client, users, room, model
        self.sockets: dict[int, Socket] = {}
        self.subscribed = {OWNER}  # sockets receiving the room live: those of members, from their join frame
        self.live: dict[int, list[tuple[str, Any, str | None]]] = {u: [] for u in LIVE}  # what each should get
        self.told_erased: set[int] = set()  # the sockets owed a `user_erased` frame (live/erasures.py)

    async def open_sockets(self) -> None:
        for u in LIVE:
            params = {"token": self.users[u].access_token, **({"room_id": self.room} if u == OWNER else {})}
            self.sockets[u] = Socket(await self.client.ws_connect("/ws", params=params))
        await self.sockets[OWNER].seen(lambda f: f["type"] == "subscribed")

    def sent(self, kind: str, key: Any, content: str | None = None) -> None:
        """A frame every socket subscribed to the room now receives live."""
        for u in self.subscribed:
            self.live[u].append((kind, key, content))

    async def follow_membership(self, marks: dict[int, int]) -> None:
        """A member's socket joins the room with a `join` frame; a removed one's stops receiving it
        once the removal's frame reached it (live/sequencer.py)."""
        for u, sock in self.sockets.items():
            joined, uid = self.model.state[u] == "joined", str(self.users[u].id)
            if u in self.subscribed and not joined:
                await sock.seen(left(uid), marks[u])
                self.subscribed.discard(u)
            elif joined and u not in self.subscribed:
                await sock.ws.send_json({"type": "join", "room_id": self.room})
                await sock.seen(lambda f: f["type"] == "subscribed", marks[u])
                self.subscribed.add(u)

    async def call(self, method: str, url: str, who: int, body: Any = None) -> aiohttp.ClientResponse:
        resp = await self.client.request(method, url, json=body, headers=self.users[who].headers)
        assert resp.status < 500, (method, url, resp.status, await resp.text())
        return resp

    def expect(self, resp: aiohttp.ClientResponse, allowed: bool, step: Step) -> bool:
        ok = 200 <= resp.status < 300
        assert ok == allowed, (step, resp.status, self.model)
        return ok

    async def step(self, step: Step) -> None:
        marks = {u: len(sock.frames) for u, sock in self.sockets.items()}
        await self._step(step)
        await self.follow_membership(marks)

    async def _step(self, step: Step) -> None:
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
                    if st_[actor] == "joined":
                        m.removed(actor, None)
                    else:
                        st_[actor] = None  # an invitation left is declined: no removal
            case "kick" if target != OWNER:
                resp = await self.call("DELETE", f"{room}/members/{self.users[target].id}", OWNER)
                if self.expect(resp, st_[target] in ("joined", "invited"), step):
                    m.removed(target, None)
            case "ban" if target != OWNER:
                resp = await self.call("POST", f"{room}/bans/{self.users[target].id}", OWNER, {})
                self.expect(resp, True, step)
                if st_[target] != "banned":
                    m.removed(target, "banned")
            case "unban" if target != OWNER:
                resp = await self.call("DELETE", f"{room}/bans/{self.users[target].id}", OWNER)
                if self.expect(resp, st_[target] == "banned", step):
                    st_[target] = None
            case "post" | "mention":
                text = mark = word()
                if action == "mention":
                    text = f"{mark} @{self.users[target].username}"
                resp = await self.call("POST", f"{room}/messages", actor, {"content": text})
                if self.expect(resp, st_[actor] == "joined", step):
                    new = Msg((await resp.json())["id"], actor, text, mark, frozenset(m.out))
                    m.posted(new, notify=target if action == "mention" else None)
                    self.sent("message", new.id, text)
            case "reply" if msg is not None:
                text = word()
                allowed = st_[actor] == "joined" and not msg.deleted and msg.root is None  # threads are one deep
                resp = await self.call("POST", f"{room}/messages", actor, {"content": text, "thread_root": msg.id})
                if self.expect(resp, allowed, step):
                    new = Msg((await resp.json())["id"], actor, text, text, frozenset(m.out), root=msg.id)
                    m.posted(new)
                    self.sent("message", new.id, text)
            case "upload":
                text, name = word(), word()
                resp = await upload(self.client, self.users[actor], self.room, b"bytes", f"{name}.txt", content=text)
                assert resp.status < 500, (step, resp.status, await resp.text())
                if self.expect(resp, st_[actor] == "joined", step):
                    body = await resp.json()
                    m.posted(Msg(body["message"]["id"], actor, text, text, frozenset(m.out), body["file"]["url"], name))
                    self.sent("message", body["message"]["id"], text)
            case "edit" if msg is not None:
                text = word()
                allowed = msg.author == actor and st_[actor] == "joined" and not msg.deleted
                resp = await self.call("PATCH", f"{room}/messages/{msg.id}", actor, {"content": text})
                if self.expect(resp, allowed, step):
                    m.dead.add(msg.word)
                    msg.text = msg.word = text
                    edited = msg.id
                    m.forget(lambda _, mid: mid == edited)  # the new text names nobody
                    self.sent("message_edited", msg.id, text)
            case "delete" if msg is not None:
                allowed = (msg.author == actor and st_[actor] == "joined") or actor == OWNER
                if self.expect(await self.call("DELETE", f"{room}/messages/{msg.id}", actor), allowed, step):
                    if not msg.deleted:  # deleting a tombstone again is allowed, and changes nothing
                        self.sent("message_deleted", msg.id)
                    m.gone(msg)
            case "react" if msg is not None:
                url = f"{room}/messages/{msg.id}/reactions/👍"
                if self.expect(await self.call("PUT", url, actor), st_[actor] == "joined" and not msg.deleted, step):
                    m.reacted |= actor == ERASABLE
            case "pin" if msg is not None:
                resp = await self.call("PUT", f"{room}/pins/{msg.id}", OWNER)
                if self.expect(resp, not msg.deleted, step) and msg not in m.pins:
                    m.pins.append(msg)
            case "read" if msg is not None:
                resp = await self.call("POST", f"{room}/read", actor, {"message_id": msg.id})
                if self.expect(resp, st_[actor] == "joined", step):
                    m.marker[actor] = max(m.marker[actor], msg.id)
                    m.read(actor, msg.id)
                    receipt = await resp.json()
                    assert (receipt["last_read_id"], receipt["unread_count"]) == (m.marker[actor], m.unread(actor))
            case "typing":
                params = {"token": self.users[actor].access_token}
                ws = await self.client.ws_connect("/ws", params=params)
                try:
                    await ws.send_json({"type": "typing", "room_id": self.room})
                    refused = [f for f in await answer(ws) if f["type"] == "error"]
                finally:
                    await ws.close()
                assert (not refused) == (st_[actor] == "joined"), (step, refused, m)
                if not refused:
                    m.typing.append((actor, frozenset(m.out)))
                    self.sent("typing", str(self.users[actor].id))
            case "erase" if not m.erased:
                # The room's subscribers are told when it changes: D's messages become tombstones
                # or D's reactions go. Not a room event, so not in order with them: waited for here.
                changed = m.reacted or any(x.author == ERASABLE and not x.deleted for x in m.messages)
                await erase(self.client, user_id=self.users[ERASABLE].id)
                if changed:
                    self.told_erased = set(self.subscribed)
                    for u in self.told_erased:
                        await self.sockets[u].seen(lambda f: f["type"] == "user_erased")
                m.erased = True
                st_[ERASABLE] = None
                for gone in (x for x in m.messages if x.author == ERASABLE and not x.deleted):
                    m.gone(gone)
                m.forget(lambda user, mid: user == ERASABLE)

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
            assert [(x.get("thread_root"), x.get("reply_count", 0)) for x in got] == [
                (x.root, sum(not r.deleted for r in m.replies(x.id))) for x in m.messages
            ]
            files = [[f"{x.name}.txt"] if x.name and not x.deleted else [] for x in m.messages]
            assert [[a["name"] for a in x.get("attachments", [])] for x in got] == files
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
            for y in [*around["messages"], thread["root"], *thread["messages"]]:
                assert (y["id"], y["content"], bool(y.get("deleted"))) == shown[y["id"]]
            root = x.root or x.id  # a reply's id opens the thread it is in
            listed = {y["id"] for y in thread["messages"]}
            assert thread["root"]["id"] == root
            assert {r.id for r in m.replies(root) if not r.deleted} <= listed <= {r.id for r in m.replies(root)}
        mine = await (await self.call("GET", "/rooms", u)).json()
        entry = [r for r in mine["rooms"] if r["id"] == self.room]
        assert bool(entry) == (m.state[u] == "joined")
        if entry:
            assert (entry[0]["unread_count"], entry[0]["last_read_id"]) == (m.unread(u), m.marker[u]), (u, entry, m)
        self.no_dead_text("GET /rooms", mine)
        pending = await (await self.call("GET", "/invitations", u)).json()
        assert (self.room in [i["room"]["id"] for i in pending["invitations"]]) == (m.state[u] == "invited")
        await self.check_search(u, readable)
        await self.check_notifications(u)
        await self.check_people(u)
        await self.check_pins(u, readable)
        await self.check_files(u)
        if m.state[u] == "joined":
            self.check_frames(u, await self.resume(u))

    async def check_search(self, u: int, readable: bool) -> None:
        m = self.model
        await indexed(self.client)
        for x in m.messages:
            resp = await self.call("GET", f"/rooms/{self.room}/search?q={x.word}", u)
            if not readable:
                assert resp.status in (403, 404)
                continue
            results = (await resp.json())["results"]
            assert [r["id"] for r in results] == ([] if x.deleted else [x.id])
        everywhere = await self.call("GET", f"/search?q={' or '.join(sorted(m.dead)) or 'nothing'}", u)
        self.no_dead_text("search", await everywhere.json())

    async def check_notifications(self, u: int) -> None:
        runner = self.client.app[PROJECTIONS]
        await runner.catch_up(runner.get("notifications"))  # a follower, as search
        got = (await (await self.call("GET", "/notifications", u)).json())["notifications"]
        self.no_dead_text("notifications", got)
        mine = sorted(((mid, read) for (user, mid), read in self.model.notes.items() if user == u), reverse=True)
        assert [(n["message_id"], n["read"]) for n in got] == mine, (u, got, self.model)

    async def check_people(self, u: int) -> None:
        """Presence: oneself, or someone sharing a room (here, only this one); anyone else is unknown
        (404). Profiles: any user but an erased one, whose old name finds nobody either."""
        st_ = self.model.state
        for v, other in enumerate(self.users):
            resp = await self.call("GET", f"/users/{other.id}/presence", u)
            assert resp.status == (200 if u == v or st_[u] == st_[v] == "joined" else 404), (u, v, resp.status)
            gone = v == ERASABLE and self.model.erased
            assert (await self.call("GET", f"/users/{other.id}", u)).status == (404 if gone else 200)
            if gone:
                found = await (await self.call("GET", f"/users/search?q={other.username}", u)).json()
                assert found["results"] == [], found

    async def check_pins(self, u: int, readable: bool) -> None:
        """Pinned messages, newest pin first, tombstones left out."""
        resp = await self.call("GET", f"/rooms/{self.room}/pins", u)
        assert (resp.status == 200) == readable
        if readable:
            got = (await resp.json())["messages"]
            self.no_dead_text("pins", got)
            assert [x["id"] for x in got] == [x.id for x in reversed(self.model.pins) if not x.deleted]

    async def check_files(self, u: int) -> None:
        """Members download a file while its message lives; anyone else, or after, gets the same 404."""
        for x in self.model.messages:
            if x.file is not None:
                resp = await self.call("GET", x.file, u)
                live = self.model.state[u] == "joined" and not x.deleted
                assert resp.status == (200 if live else 404), (u, x, resp.status)

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

    def check_frames(self, u: int, frames: list[dict[str, Any]]) -> None:
        m = self.model
        self.no_dead_text("WebSocket resume", frames)
        posts = [(f["message_id"], f["content"], bool(f.get("deleted"))) for f in frames if f["type"] == "message"]
        assert posts == [m.shown(x) for x in m.messages if u not in x.unseen], (u, posts, m)
        current = {x.id: m.shown(x)[1] for x in m.messages}
        for f in frames:
            if f["type"] == "message_edited":
                assert f["content"] == current[f["message_id"]]
        typists = [f["user_id"] for f in frames if f["type"] == "typing"]
        assert typists == [str(self.users[t].id) for t, out in m.typing if u not in out], (u, typists, m)

    async def check_live(self) -> None:
        """What each socket received live: every post, edit, deletion and typing while it was
        subscribed (a post with its text as written then), and nothing of the room otherwise. The
        owner's last post marks the end: a subscribed socket has it; any other has answered a
        frame sent after it (a connection's frames leave in order)."""
        await self.step(("post", OWNER, 0))
        last = self.model.messages[-1].id
        for u, sock in self.sockets.items():
            if u in self.subscribed:
                await sock.seen(lambda f: f.get("message_id") == last and f["type"] == "message")
            else:
                await sock.ws.send_json({"type": "sentinel", "client_msg_id": "end"})
                await sock.seen(lambda f: f["type"] == "error" and f.get("client_msg_id") == "end")
            kinds = ("message", "message_edited", "message_deleted", "typing")
            got = [
                (f["type"], f["user_id"] if f["type"] == "typing" else f["message_id"], f.get("content"))
                for f in sock.frames
                if f.get("room_id") == self.room and f["type"] in kinds
            ]
            assert got == self.live[u], (u, got, self.live[u], self.model)
            # one `user_erased` for a socket subscribed when the erasure changed the room, else none
            told = [(f["room_id"], f["user_id"]) for f in sock.frames if f["type"] == "user_erased"]
            owed = [(self.room, str(self.users[ERASABLE].id))] if u in self.told_erased else []
            assert told == owed, (u, told, self.model)

    async def check_time_travel(self) -> None:
        state = await self.call("GET", f"/rooms/{self.room}/state?at={await self._head()}", OWNER)
        body = await state.json()
        self.no_dead_text("time travel", body)
        assert [(x["id"], x["content"], bool(x.get("deleted"))) for x in body["messages"]] == [
            self.model.shown(x) for x in self.model.messages
        ]

    async def check_export(self) -> None:
        """The operator's `gochat events export` of the room (without --raw): history as it is now."""
        out = io.BytesIO()
        db, flt = self.client.app[DB], LogFilter(stream_id=uuid.UUID(self.room))
        await export_log(db, flt, JsonLinesWriter(out), sealer=configured_sealer(db, self.client.app[SETTINGS]))
        events = [json.loads(line) for line in out.getvalue().splitlines()]
        self.no_dead_text("export", events)
        posts = [(e["id"], e["data"]["content"], bool(e["data"].get("deleted"))) for e in events
                 if e["type"] == "message.posted"]  # fmt: skip
        assert posts == [self.model.shown(x) for x in self.model.messages]

    async def _head(self) -> int:
        return int(await self.client.app[STORE].head())


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(public=st.booleans(), history=steps)
# histories worth running every time: out of the room and back (a resume skips what came meanwhile),
# a pinned file deleted, mentions edited away, deleted and read, typing in and out of the room
@example(public=True, history=[("join", 1, 0), ("kick", 0, 1), ("post", 0, 0), ("join", 1, 0), ("reply", 1, 0)])
@example(
    public=False,
    history=[("invite", 0, 1), ("accept", 1, 0), ("upload", 1, 0), ("pin", 0, 0), ("post", 1, 0), ("pin", 0, 1),
             ("delete", 0, 0)],
)  # fmt: skip
@example(
    public=True,
    history=[("join", 2, 0), ("mention", 0, 2), ("mention", 0, 2), ("edit", 0, 0), ("read", 2, 1), ("typing", 2, 0),
             ("leave", 2, 0), ("typing", 2, 0), ("typing", 0, 0), ("erase", 3, 0)],
)  # fmt: skip
@example(public=True, history=[("join", 2, 0), ("mention", 0, 2), ("mention", 0, 2), ("delete", 0, 0), ("read", 2, 1)])
# D posts and reacts, then is erased: the room's subscribers are told, the others not
@example(public=True, history=[("join", 3, 0), ("join", 1, 0), ("post", 3, 0), ("react", 3, 0), ("erase", 3, 0)])
async def test_every_route_shows_each_user_what_the_model_says(
    quiet_client: Client, public: bool, history: list[Step]
) -> None:
    client = quiet_client
    users = [await signup(client) for _ in range(4)]
    body = {"name": "Model", "type": "public" if public else "private"}
    resp = await client.post("/rooms", json=body, headers=users[OWNER].headers)
    assert resp.status == 201
    run = Run(client, users, (await resp.json())["id"], Model(public))
    await run.open_sockets()
    try:
        for step in history:
            await run.step(step)
        await run.check_live()
    finally:
        for sock in run.sockets.values():
            await sock.close()
    for u in range(4):
        if not (u == ERASABLE and run.model.erased):
            await run.check(u)
    await run.check_time_travel()
    await run.check_export()
