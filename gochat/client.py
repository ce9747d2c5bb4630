"""A small asyncio client for gochat: accounts, rooms, messages, and a live WebSocket session that
resumes by itself. Used by the tests, the benchmarks and bots.

    async with GochatClient("http://127.0.0.1:8080") as chat:
        await chat.signup("alice", "correct horse battery")
        room = await chat.create_room("general")
        async with chat.live(room["id"]) as live:
            await live.send_message(room["id"], "hello")
            async for frame in live:
                ...
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Sequence
from types import TracebackType
from typing import Any

import aiohttp

from .aio import cancel_and_wait

# Close codes after which a session must not simply reconnect.
_FATAL = {4403, 4404}
_REAUTH = 4401


class GochatAPIError(Exception):
    def __init__(self, status: int, code: str, message: str, details: Any = None) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code, self.message, self.details = status, code, message, details


class GochatClient:
    def __init__(self, base_url: str, *, session: aiohttp.ClientSession | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self._session = session
        self._owns_session = session is None
        self.access_token: str | None = None
        self.refresh_token: str | None = None
        self.user: dict[str, Any] | None = None

    async def __aenter__(self) -> GochatClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        return self._session

    async def close(self) -> None:
        if self._owns_session and self._session is not None:
            await self._session.close()
            self._session = None

    # --- HTTP --------------------------------------------------------------------------------------
    async def request(
        self, method: str, path: str, *, json: Any = None, params: dict[str, Any] | None = None, auth: bool = True
    ) -> Any:
        for attempt in (0, 1):
            headers = {"Authorization": f"Bearer {self.access_token}"} if auth and self.access_token else {}
            async with self.session.request(
                method, self.base_url + path, json=json, params=params, headers=headers
            ) as resp:
                body = await resp.json() if resp.content_type == "application/json" else None
                if resp.status < 400:
                    return body
                error = (body or {}).get("error", {}) if isinstance(body, dict) else {}
                if resp.status == 401 and error.get("code") == "token_expired" and auth and attempt == 0:
                    await self.refresh()
                    continue
                raise GochatAPIError(
                    resp.status, error.get("code", "error"), error.get("message", ""), error.get("details")
                )
        raise AssertionError("unreachable")

    def _take_tokens(self, body: dict[str, Any]) -> dict[str, Any]:
        self.access_token = body["access_token"]
        self.refresh_token = body["refresh_token"]
        self.user = body.get("user", self.user)
        return body

    async def signup(self, username: str, password: str, display_name: str | None = None) -> dict[str, Any]:
        payload: dict[str, Any] = {"username": username, "password": password}
        if display_name:
            payload["display_name"] = display_name
        return self._take_tokens(await self.request("POST", "/auth/signup", json=payload, auth=False))

    async def login(self, username: str, password: str) -> dict[str, Any]:
        payload = {"username": username, "password": password}
        return self._take_tokens(await self.request("POST", "/auth/login", json=payload, auth=False))

    async def refresh(self) -> dict[str, Any]:
        body = await self.request("POST", "/auth/refresh", json={"refresh_token": self.refresh_token}, auth=False)
        return self._take_tokens(body)

    async def logout(self) -> None:
        await self.request("POST", "/auth/logout", json={"refresh_token": self.refresh_token}, auth=False)
        self.access_token = self.refresh_token = None

    async def rooms(self) -> list[dict[str, Any]]:
        return list((await self.request("GET", "/rooms"))["rooms"])

    async def create_room(
        self,
        name: str,
        type: str = "public",
        *,
        members: list[str] | None = None,
        topic: str = "",
        encrypted: bool = False,
    ) -> dict[str, Any]:
        payload: dict[str, Any] = {"name": name, "type": type, "topic": topic}
        if members:
            payload["members"] = members
        if encrypted:
            payload["encrypted"] = True
        return dict(await self.request("POST", "/rooms", json=payload))

    async def room(self, room_id: str) -> dict[str, Any]:
        return dict(await self.request("GET", f"/rooms/{room_id}"))

    async def join(self, room_id: str) -> Any:
        return await self.request("POST", f"/rooms/{room_id}/join", json={})

    async def leave(self, room_id: str) -> Any:
        return await self.request("POST", f"/rooms/{room_id}/leave", json={})

    async def invitations(self) -> list[dict[str, Any]]:
        """Rooms others invited this user to (named at creation or added since)."""
        found: list[dict[str, Any]] = (await self.request("GET", "/invitations"))["invitations"]
        return found

    async def accept(self, room_id: str) -> Any:
        return await self.request("POST", f"/invitations/{room_id}/accept", json={})

    async def decline(self, room_id: str) -> Any:
        return await self.request("POST", f"/invitations/{room_id}/decline", json={})

    async def add_member(self, room_id: str, user_id: str) -> Any:
        return await self.request("POST", f"/rooms/{room_id}/members", json={"user_id": user_id})

    async def post(self, room_id: str, content: str, client_msg_id: str | None = None) -> dict[str, Any]:
        payload: dict[str, Any] = {"content": content}
        if client_msg_id:
            payload["client_msg_id"] = client_msg_id
        return dict(await self.request("POST", f"/rooms/{room_id}/messages", json=payload))

    async def history(self, room_id: str, **params: Any) -> dict[str, Any]:
        return dict(await self.request("GET", f"/rooms/{room_id}/messages", params=params))

    async def mark_read(self, room_id: str, message_id: int) -> Any:
        return await self.request("POST", f"/rooms/{room_id}/read", json={"message_id": message_id})

    def live(
        self,
        room_id: str | None = None,
        *,
        since: int | None = None,
        resume: bool = True,
        urls: Sequence[str] | None = None,
    ) -> LiveSession:
        return LiveSession(self, room_id, since=since, resume=resume, urls=urls)


class LiveSession:
    """A WebSocket session that reconnects after a drop (1001 shutdown, 1006, 4008 slow consumer)
    and refreshes its token on 4401, so the frames it yields have no gap and no duplicate.

    Each room has its own cursor (the newest event id seen in it, or the `head` of its `subscribed`
    frame): rooms are ordered one by one, not against each other, so one `since` for all could skip
    a late frame of another room. On reconnect the first room resumes with `?since=`, the others
    with `join` frames carrying their own `since`.

    `urls`: base URLs of several nodes (the client's own by default). A reconnect tries the node it
    was on, then the next ones in turn, so a session outlives its node. Frames are yielded as the
    server sent them; `last_id` is the newest event id seen in any room. Frames that are not room
    events (`presence`, `user_updated`, `user_erased`...) have no `id`: they move no cursor, and a
    reconnect does not send them again."""

    def __init__(
        self,
        client: GochatClient,
        room_id: str | None,
        *,
        since: int | None,
        resume: bool,
        urls: Sequence[str] | None = None,
    ) -> None:
        self.client = client
        self.rooms: list[str] = [room_id] if room_id else []
        self.last_id = since
        self.cursors: dict[str, int] = {room_id: since} if room_id and since is not None else {}
        self.urls = [u.rstrip("/") for u in urls] if urls else [client.base_url]
        self.url = self.urls[0]
        self.resume = resume
        self.reconnects = 0
        self.closed_with: int | None = None
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        self._acks: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._reader: asyncio.Task[None] | None = None
        self._stopping = False

    async def __aenter__(self) -> LiveSession:
        await self._connect()
        self._reader = asyncio.create_task(self._read_forever())
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        self._stopping = True
        if self._ws is not None:
            await self._ws.close()
        if self._reader is not None:
            await cancel_and_wait(self._reader)

    async def _connect(self) -> None:
        """Connect and subscribe every room; returns once the server confirmed them (`subscribed`),
        so what is posted afterwards reaches this session."""
        params: dict[str, str] = {"token": self.client.access_token or ""}
        if self.rooms:
            params["room_id"] = self.rooms[0]
            if self.rooms[0] in self.cursors:
                params["since"] = str(self.cursors[self.rooms[0]])
        url = self.url.replace("http", "ws", 1) + "/ws"
        ws = self._ws = await self.client.session.ws_connect(url, params=params, heartbeat=30, max_msg_size=0)
        for extra in self.rooms[1:]:
            join: dict[str, Any] = {"type": "join", "room_id": extra}
            if extra in self.cursors:
                join["since"] = self.cursors[extra]
            await ws.send_json(join)
        waiting = set(self.rooms)
        while waiting:
            msg = await ws.receive(timeout=10)
            if msg.type != aiohttp.WSMsgType.TEXT:
                raise aiohttp.ClientConnectionError(f"closed while subscribing ({ws.close_code})")
            data = msg.json()
            if data.get("type") == "subscribed":
                waiting.discard(data.get("room_id"))
            self._dispatch(data)

    async def _reconnect(self, code: int | None) -> None:
        """Try the current node, then the others in turn, until one takes the session."""
        failures = 0
        while not self._stopping:
            await asyncio.sleep(min(0.05 * 2**failures, 2.0))
            self.reconnects += 1
            try:
                if code == _REAUTH:
                    if self.client.refresh_token is not None:  # a bot's API token has none: reconnect with it
                        await self.client.refresh()
                    code = None
                await self._connect()
                return
            except (aiohttp.ClientError, GochatAPIError, OSError, TimeoutError):
                failures += 1
                self.url = self.urls[(self.urls.index(self.url) + 1) % len(self.urls)]

    async def _read_forever(self) -> None:
        while True:
            ws = self._ws
            assert ws is not None
            async for msg in ws:
                if msg.type == aiohttp.WSMsgType.TEXT:
                    self._dispatch(msg.json())
            code = ws.close_code
            self.closed_with = code
            if self._stopping or not self.resume or code in _FATAL or code == 1000:
                await self._queue.put(None)
                return
            await self._reconnect(code)

    def _dispatch(self, data: dict[str, Any]) -> None:
        kind, room = data.get("type"), data.get("room_id")
        if kind == "subscribed" and isinstance(room, str) and isinstance(data.get("head"), int):
            self.cursors.setdefault(room, data["head"])
        elif kind == "resync_required":
            for r in data.get("room_ids", ()):
                self.cursors[r] = max(self.cursors.get(r, 0), data["id"])
        elif isinstance(data.get("id"), int) and kind not in ("ack", "subscribed"):
            self.last_id = max(self.last_id or 0, data["id"])
            if isinstance(room, str):
                self.cursors[room] = max(self.cursors.get(room, 0), data["id"])
        if data.get("type") in ("ack", "error") and data.get("client_msg_id") in self._acks:
            fut = self._acks.pop(data["client_msg_id"])
            if not fut.done():
                fut.set_result(data)
        self._queue.put_nowait(data)

    async def send(self, frame: dict[str, Any]) -> None:
        assert self._ws is not None
        await self._ws.send_json(frame)

    async def send_message(
        self, room_id: str, content: str, client_msg_id: str | None = None, timeout: float = 10.0
    ) -> dict[str, Any]:
        """Send and wait for the ack (or the error frame) for this client_msg_id."""
        cmid = client_msg_id or uuid.uuid4().hex
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._acks[cmid] = fut
        await self.send({"type": "message", "room_id": room_id, "content": content, "client_msg_id": cmid})
        return await asyncio.wait_for(fut, timeout)

    async def join(self, room_id: str) -> None:
        self.rooms.append(room_id)
        await self.send({"type": "join", "room_id": room_id})

    async def recv(self, timeout: float = 5.0) -> dict[str, Any]:
        item = await asyncio.wait_for(self._queue.get(), timeout)
        if item is None:
            raise ConnectionError(f"session closed ({self.closed_with})")
        return item

    async def recv_until(self, predicate: Any, timeout: float = 5.0) -> dict[str, Any]:
        """The first frame matching `predicate` (others are skipped)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            frame = await self.recv(max(0.0, deadline - loop.time()))
            if predicate(frame):
                return frame

    def __aiter__(self) -> AsyncIterator[dict[str, Any]]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[dict[str, Any]]:
        while True:
            item = await self._queue.get()
            if item is None:
                return
            yield item
