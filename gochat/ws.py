"""`GET /ws`: the WebSocket endpoint. Thin: authenticate, subscribe, resume, and turn client frames
into service calls. Fan-out is the hub's job (hub.py), ordering the relay's (relay.py).

Resume without gap or duplicate: a connection subscribes first with its live frames held, reads
the log after `since`, sends that, then releases the held frames newer than the last one sent.
The hub keeps, per connection and room, the id of the newest event sent (hub.py, publish), and
drops anything at or below it: an event the replay read from the log may still be on its way live.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import uuid
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any
from uuid import UUID

import orjson
import structlog
from aiohttp import WSMsgType, web
from marshmallow import RAISE, Schema, ValidationError, fields, validate

from .api.authn import authenticate
from .api.commands import command_result
from .api.docs import Answer, documented
from .api.limits import client_ip
from .api.schemas import WebSocketQuery
from .api.util import MAX_ID
from .auth import scopes
from .auth.tokens import BotGrant
from .errors import BadRequest, Forbidden, GochatError, NotFound, RateLimited, Unavailable, ValidationFailed
from .events.fields import UUIDStr
from .events.model import RecordedEvent, uuid_text
from .events.types import EventType
from .hub import Connection, Hub, frame
from .keys import (
    COMMANDS,
    CURRENT_LOG,
    FILES,
    HUB,
    LOCAL_RATE_LIMITER,
    MESSAGES,
    NOTIFICATIONS,
    PRESENCE_SERVICE,
    RATE_LIMITER,
    RELAY,
    ROOMS,
    SETTINGS,
    STATE,
    STORE,
    TELEMETRY,
    TYPING_DEBOUNCE,
)
from .ratelimit import Limit
from .relay import REMOVALS
from .services.access import room_access
from .services.messages import Posted
from .services.typing import typing
from .telemetry import Telemetry
from .wire import render, timestamp

log = structlog.get_logger("gochat.ws")

MAX_FRAME = 64 * 1024
CLOSE_NOT_FOUND = 4404
CONNECTION_LIMIT = Limit(burst=30, per_second=10.0)
USER_LIMIT = Limit(burst=60, per_second=20.0)
CONNECT_LIMIT = Limit(burst=30, per_second=1.0)


class ClientFrame(Schema):
    class Meta:
        unknown = RAISE

    type = fields.String(
        required=True,
        validate=validate.OneOf(
            ("message", "typing", "read", "join", "leave", "edit", "delete", "react", "unreact", "command")
        ),
    )
    room_id = UUIDStr()
    content = fields.String()
    message_id = fields.Integer(strict=True, validate=validate.Range(min=1, max=MAX_ID))
    client_msg_id = fields.String(validate=validate.Length(min=1, max=64))
    emoji = fields.String(validate=validate.Length(min=1, max=32))
    since = fields.Integer(strict=True, validate=validate.Range(min=0, max=MAX_ID))
    # ids of files the sender uploaded to the room (POST /rooms/:id/files with send=false)
    attachments = fields.List(fields.String(), validate=validate.Length(max=10))


_FRAME_SCHEMA = ClientFrame()
_QUICK_TYPES = frozenset({"message", "typing"})
_QUICK_FIELDS = frozenset({"type", "room_id", "content", "client_msg_id"})


def quick_load(raw: dict[str, Any]) -> dict[str, Any] | None:
    """What ClientFrame loads from a valid `message` or `typing` frame, without marshmallow's
    per-field machinery (a fifth of the server's CPU at 2,000 messages/s). Anything else, or
    anything invalid, is None: the schema loads it, or words the error (tests/test_ws_frames.py
    checks both agree on generated frames)."""
    kind = raw.get("type")
    if not isinstance(kind, str) or kind not in _QUICK_TYPES or not raw.keys() <= _QUICK_FIELDS:
        return None
    data = dict(raw)
    if "content" in data and not isinstance(data["content"], str):
        return None
    cmid = data.get("client_msg_id", "x")
    if not isinstance(cmid, str) or not 1 <= len(cmid) <= 64:
        return None
    if "room_id" in data:
        room = data["room_id"]
        if not isinstance(room, str):
            return None
        try:
            data["room_id"] = str(uuid.UUID(room))
        except ValueError:
            return None
    return data


def _origin_allowed(request: web.Request, allowed: tuple[str, ...]) -> bool:
    """Browsers send Origin; non-browser clients usually don't and are allowed. With no allowlist,
    only same-origin browser pages may connect."""
    origin = request.headers.get("Origin")
    if origin is None:
        return True
    origin = origin.rstrip("/")
    if allowed:
        return "*" in allowed or origin in allowed
    return origin.split("://", 1)[-1] == request.host


@documented(
    "Open the WebSocket (the protocol: /asyncapi.json)",
    query=WebSocketQuery,
    responses={101: Answer(None, "Switching Protocols: frames follow (see /asyncapi.json)")},
    tags=("service",),
)
async def websocket(request: web.Request) -> web.StreamResponse:
    app = request.app
    settings = app[SETTINGS]
    if app[STATE].get("draining"):
        raise Unavailable("server is shutting down: connect to another node", code="draining")
    if not _origin_allowed(request, settings.allowed_origins):
        raise Forbidden("origin not allowed", code="origin_not_allowed")
    token = request.query.get("token") or _bearer(request)
    if not token:
        from .api.authn import MissingToken

        raise MissingToken("authentication required: pass ?token=<access_token>")
    claims = await authenticate(app, token)
    user = claims.user_id
    room = _query_uuid(request, "room_id")
    since = _query_since(request)
    hub = app[HUB]
    if len(hub.users.get(user, ())) >= settings.ws_max_connections_per_user:
        raise RateLimited("too many open connections for this user", retry_after=5.0)
    wait = await app[RATE_LIMITER].acquire(f"ws-connect:{user}", CONNECT_LIMIT)
    if wait:
        raise RateLimited("connecting too often", retry_after=wait)
    if room is not None:
        if claims.bot is not None:
            scopes.require(claims.bot, write=False, room=room)
        await _ensure_member(request, user, room)

    # The hub pings and notices dead peers (hub.py); pings and pongs reach the read loop, which
    # stamps every frame as heard.
    ws = web.WebSocketResponse(heartbeat=None, max_msg_size=MAX_FRAME, compress=False, autoping=False)
    await ws.prepare(request)
    assert request.transport is not None
    _cap_kernel_buffer(request.transport, settings.ws_socket_sndbuf)
    conn = Connection(user, str(claims.session_id), ws, request.transport, expires_at=claims.expires_at)  # type: ignore[arg-type]
    session = _Session(request, conn, claims.bot)
    structlog.contextvars.bind_contextvars(user_id=str(user), ip=client_ip(request))
    if request.query.get("hide_blocked", "").lower() in ("1", "true"):
        # step 12: room frames of users the caller blocked are not sent to this socket (docs/api.md)
        blocked = await app[NOTIFICATIONS].blocked_ids(user)
        conn.hidden = tuple(f'"user_id":"{u}"'.encode() for u in sorted(blocked, key=str))
    hub.add(conn)  # closes it with 4401 once the token expires
    try:
        await app[PRESENCE_SERVICE].connected(user)
        if room is not None:
            await session.subscribe([room], since)
        await session.run()
    finally:
        # aiohttp cancels a handler whose peer went away: the cleanup runs on in its own task.
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.shield(hub.track(_disconnect(app, conn)))
    return ws


async def _disconnect(app: web.Application, conn: Connection) -> None:
    rooms = list(conn.rooms)
    app[HUB].remove(conn)
    for room in rooms:
        await app[RELAY].unwatch_if_idle(room)
    try:
        await app[PRESENCE_SERVICE].disconnected(conn.user_id)
    except Unavailable as exc:
        # The database is down: the presence sweep marks the user offline once it is back.
        log.warning("presence_disconnect_deferred", error=exc.message)
    except Exception:
        log.exception("presence_disconnect_failed")


def _cap_kernel_buffer(transport: asyncio.BaseTransport, size: int) -> None:
    """Bound the kernel's send buffer too (Linux autotunes it up to megabytes per socket), so a
    client that stops reading backs up into the transport buffer the hub watches, and the memory a
    slow client can pin stays small."""
    sock = transport.get_extra_info("socket")
    if size and sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, size)


def _bearer(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def _query_uuid(request: web.Request, name: str) -> UUID | None:
    raw = request.query.get(name)
    if not raw:
        return None
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise BadRequest(f"{name} is not a valid UUID", code="invalid_id") from None


def _query_since(request: web.Request) -> int | None:
    raw = request.query.get("since")
    if raw is None or raw == "":
        return None
    # isascii(): str.isdigit() also holds for "²" and other digits int() refuses.
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 19 and int(raw) <= MAX_ID):
        raise ValidationFailed("invalid query", details={"since": ["Must be a non-negative integer."]})
    return int(raw)


async def _ensure_member(request: web.Request, user: UUID, room: UUID) -> None:
    """Subscribing means membership: a public room is joined on the way (as the join frame does);
    a room the user cannot read is a 404."""
    acc = await room_access(request.app[STORE].db, user, room)
    if acc.joined:
        return
    if not acc.can_read:
        raise NotFound("room not found") if acc.room["type"] != "public" else Forbidden("banned", code="banned")
    await request.app[ROOMS].join(user, room)


class _Removals:
    """A replay's view of the user's own membership: after the user left or was removed from a room,
    that room's events are not sent (the removal itself is), until the user joins it again."""

    __slots__ = ("rooms", "user")

    def __init__(self, user: UUID) -> None:
        self.user = uuid_text(user)
        self.rooms: set[UUID] = set()

    def skips(self, e: RecordedEvent) -> bool:
        room = e.stream_id
        if e.type == EventType.MEMBER_JOINED and e.data.get("user_id") == self.user:
            self.rooms.discard(room)
        elif room in self.rooms:
            return True
        elif e.type in REMOVALS and e.data.get("user_id") == self.user:
            self.rooms.add(room)
        return False


class _Session:
    """One connection's conversation: subscriptions, resume, and client frames.

    Slots and a class-level handler table: one of these lives as long as each socket, and a dict
    of bound methods per instance cost ~1 KiB of every idle connection (bench/ws_idle.py)."""

    __slots__ = (
        "app",
        "conn",
        "grant",
        "hub",
        "inflight",
        "inflight_bytes",
        "limit_key",
        "limits",
        "request",
        "tracing",
        "user",
    )

    def __init__(self, request: web.Request, conn: Connection, grant: BotGrant | None = None) -> None:
        self.request = request
        self.app = request.app
        self.conn = conn
        self.hub: Hub = self.app[HUB]
        self.user = conn.user_id
        self.limit_key: str | None = None  # made by the first frame: most sockets stay quiet
        self.tracing: Telemetry | None = self.app.get(TELEMETRY)  # None unless OpenTelemetry is on
        self.limits = (CONNECTION_LIMIT, USER_LIMIT)
        self.grant = grant  # a bot's token: what its frames may do, and its own rate limit
        if grant is not None:
            bot_limit = self.app[SETTINGS].bot_rate_limit
            self.limits = (bot_limit, bot_limit)
        # Replies of pipelined frames, oldest first (made by the first one: most sockets never
        # pipeline); each waits for the one before it, so the last one done means all are.
        self.inflight: deque[asyncio.Task[None]] | None = None
        self.inflight_bytes = 0

    # --- subscriptions and resume -----------------------------------------------------------------
    async def subscribe(self, rooms: list[UUID], since: int | None) -> None:
        """`subscribed` per room, then (with `since`) the missed events in id order, then live.

        `subscribed` carries `head`: every event of the room after it follows on this connection,
        so a client without a cursor for the room can resume from there after a drop."""
        conn, relay = self.conn, self.app[RELAY]
        self.hub.hold(conn)
        last = 0
        try:
            for room in rooms:
                self.hub.subscribe(conn, room)
                await relay.watch(room)
                subscribed = {"type": "subscribed", "room_id": str(room), "head": relay.head(room)}
                self.hub.send(conn, frame(subscribed), "subscribed")
            last = 0 if since is None else await self._replay(rooms, since)
        except BaseException:
            # The replay failed (the database down): these rooms' live frames would follow a gap.
            # Unsubscribe them; the error goes to the client, which joins again later.
            for room in rooms:
                if room in conn.rooms:
                    self.hub.unsubscribe(conn, room)
                    self.hub.send(conn, frame({"type": "unsubscribed", "room_id": str(room)}), "unsubscribed")
            with contextlib.suppress(Exception):
                for room in rooms:
                    await relay.unwatch_if_idle(room)
            raise
        finally:
            self.hub.release(conn, last, rooms)
        for room in rooms:
            if room not in conn.rooms:  # removed inside the stretch replayed
                await relay.unwatch_if_idle(room)

    async def _replay(self, rooms: list[UUID], since: int) -> int:
        store, cap = self.app[STORE], self.app[SETTINGS].ws_resume_max
        # What history serves now (tombstones, current text), not the log's original text.
        events = await self.app[CURRENT_LOG].read_streams(rooms, after=since, limit=cap + 1)
        if len(events) > cap:
            head = await store.head()
            self.hub.send(
                self.conn,
                frame({"type": "resync_required", "id": head, "room_ids": [str(r) for r in rooms]}),
                "resync_required",
            )
            return head
        last = since
        removed = _Removals(self.user)
        for e in events:
            if removed.skips(e):
                continue
            rendered = render(e)
            if rendered is not None and not self.conn.hides(data := frame(rendered)):
                self.hub.send_event(self.conn, e.stream_id, e.id, data, e.type)
            last = e.id
        for room in removed.rooms:  # not a member at the end of the stretch: nothing live either
            self.hub.unsubscribe(self.conn, room)
        return last

    # --- the read loop -----------------------------------------------------------------------------
    async def run(self) -> None:
        conn, hub = self.conn, self.hub
        ws = conn.socket
        assert isinstance(ws, web.WebSocketResponse)
        clock = asyncio.get_running_loop().time
        async for msg in ws:
            conn.heard = clock()
            if msg.type == WSMsgType.TEXT:
                if hub.draining:
                    continue  # not taken, so not acked: the client sends it again elsewhere (hub.py)
                data = self._pipelinable(msg.data)
                if data is not None:
                    await self.pipeline(data, msg.data)
                    continue
                await self.drain()  # any other frame waits for the pipelined ones: replies stay in order
                if hub.draining:
                    continue  # began while it waited: not taken (as above)
                hub.handling += 1
                try:
                    await self.handle(msg.data)
                finally:
                    hub.handling -= 1
            elif msg.type == WSMsgType.PING:
                await ws.pong(msg.data)
            elif msg.type == WSMsgType.BINARY:
                self.error("unsupported_frame", "send JSON text frames")
            elif msg.type == WSMsgType.ERROR:
                break

    # --- pipelined posts -----------------------------------------------------------------------------
    # A post to a subscribed room needs no read before its append, so the loop queues it and takes
    # the next frame while it commits: the group commit takes a socket's posts in the order they
    # were queued (store.submit), and each reply waits for the one before it, so the room's order
    # and the acks both follow the send order. At most `ws_max_inflight` wait; beyond that the loop
    # stops reading (TCP then pushes back on the sender) until the oldest is acked.
    def _pipelinable(self, text: str) -> dict[str, Any] | None:
        """A valid `message` frame for a room this socket subscribes to, else None (handle())."""
        try:
            raw = orjson.loads(text)
        except orjson.JSONDecodeError:
            return None
        data = quick_load(raw) if isinstance(raw, dict) else None
        if data is None or data["type"] != "message" or "room_id" not in data:
            return None
        return data if UUID(data["room_id"]) in self.conn.rooms else None

    async def pipeline(self, data: dict[str, Any], text: str) -> None:
        self.hub.count_in("message")  # handle() counts the other frames
        inflight = self.inflight
        if inflight is None:
            inflight = self.inflight = deque()
        while inflight and inflight[0].done():
            inflight.popleft()
        settings = self.app[SETTINGS]
        # The posts in flight also commit together and reach every reader as one burst: keep that
        # burst within an eighth of a reader's buffer, or a reader that reads in gulps (its kernel
        # and library buffers full between two reads) would be cut off (4008) by one burst.
        size = len(text)
        budget = settings.ws_max_buffer_bytes // 8
        while inflight and (len(inflight) >= settings.ws_max_inflight or self.inflight_bytes + size > budget):
            await asyncio.wait((inflight[0],))  # backpressure: read nothing more until the oldest is acked
            inflight.popleft()
        if self.hub.draining:
            return  # draining began while it waited: not taken, so not acked (the client resends it)
        room, cmid = UUID(data["room_id"]), data.get("client_msg_id")
        self.hub.handling += 1  # until the reply is written: a draining node waits for it
        self.inflight_bytes += size
        work: Awaitable[Posted] | GochatError
        try:
            try:
                self._permit(data)
                await self._rate_limit()
                work = await self.app[MESSAGES].submit_post_as_subscriber(
                    self.user, room, data.get("content", ""), client_msg_id=cmid
                )
            except GochatError as exc:
                work = exc  # replied to in its turn, like an ack
        except BaseException:  # the handler cancelled (the peer went away): nothing was queued
            self.hub.handling -= 1
            self.inflight_bytes -= size
            raise
        previous = inflight[-1] if inflight else None
        inflight.append(asyncio.get_running_loop().create_task(self._reply(previous, room, cmid, work, size)))

    async def _reply(
        self,
        previous: asyncio.Task[None] | None,
        room: UUID,
        cmid: str | None,
        work: Awaitable[Posted] | GochatError,
        size: int,
    ) -> None:
        try:
            try:
                if isinstance(work, GochatError):
                    raise work
                reply = self._ack(room, cmid, await work)
            except RateLimited as exc:
                reply = self._error_body(exc.code, exc.message, cmid, retry_after=round(exc.retry_after, 3))
            except GochatError as exc:
                reply = self._error_body(exc.code, exc.message, cmid, details=exc.details or None)
            if previous is not None and not previous.done():
                await asyncio.wait((previous,))
            self.hub.send(self.conn, frame(reply), reply["type"])  # "ack" or "error"
        except Exception:
            # What handle() would let escape (and the socket end with): close it, the client resumes.
            log.exception("ws_pipelined_frame_failed")
            self.hub.close(self.conn, 1011, b"internal error")
        finally:
            self.hub.handling -= 1
            self.inflight_bytes -= size

    async def drain(self) -> None:
        """Wait until every pipelined frame has been replied to."""
        if self.inflight:
            await asyncio.wait((self.inflight[-1],))
            self.inflight.clear()

    async def handle(self, text: str) -> None:
        tracing = self.tracing
        if tracing is None:
            await self._handle(text)
            return
        # A trace per frame (not one per socket, which would last as long as the connection).
        span = tracing.start("ws.frame", parent=tracing.root(), attributes={"gochat.user_id": str(self.user)})
        with tracing.current(span):
            await self._handle(text)
        span.end()

    async def _handle(self, text: str) -> None:
        client_msg_id = None
        kind = "invalid"  # until the frame parses
        try:
            try:
                raw = orjson.loads(text)
            except orjson.JSONDecodeError:
                raise BadRequest("frame is not valid JSON", code="invalid_json") from None
            if not isinstance(raw, dict):
                raise BadRequest("frame must be a JSON object", code="invalid_json")
            cmid = raw.get("client_msg_id")
            client_msg_id = cmid if isinstance(cmid, str) else None
            data = quick_load(raw)
            if data is None:
                try:
                    data = _FRAME_SCHEMA.load(raw)
                except ValidationError as exc:
                    raise ValidationFailed("invalid frame", details=exc.messages_dict) from None
            kind = data["type"]
            self._permit(data)
            await self._rate_limit()
            await _HANDLERS[kind](self, data)
        except RateLimited as exc:
            self.error(exc.code, exc.message, client_msg_id, retry_after=round(exc.retry_after, 3))
        except GochatError as exc:
            self.error(exc.code, exc.message, client_msg_id, details=exc.details or None)
        finally:
            self.hub.count_in(kind)

    def _permit(self, data: dict[str, Any]) -> None:
        """A bot's frame within its token's scopes (subscribing reads; every other frame writes)."""
        if self.grant is not None:
            room = UUID(data["room_id"]) if "room_id" in data else None
            scopes.require(self.grant, write=data["type"] not in ("join", "leave"), room=room, roomless_ok=True)

    async def _rate_limit(self) -> None:
        # A connection lives on one node: its budget stays local (an id() is not unique across
        # processes, and a Redis round trip per frame buys nothing). A user's spans every node.
        if self.limit_key is None:
            # Not id(conn): a recycled id would hand a new connection an old, spent bucket.
            self.limit_key = f"ws-conn:{uuid.uuid4().hex}"
        per_connection, per_user = self.limits
        wait = await self.app[LOCAL_RATE_LIMITER].acquire(self.limit_key, per_connection)
        wait = wait or await self.app[RATE_LIMITER].acquire(f"ws-user:{self.user}", per_user)
        if wait:
            raise RateLimited("slow down", retry_after=wait)

    def error(self, code: str, message: str, client_msg_id: str | None = None, **extra: Any) -> None:
        self.hub.send(self.conn, frame(self._error_body(code, message, client_msg_id, **extra)), "error")

    @staticmethod
    def _error_body(code: str, message: str, client_msg_id: str | None = None, **extra: Any) -> dict[str, Any]:
        body: dict[str, Any] = {"type": "error", "code": code, "message": message}
        if client_msg_id is not None:
            body["client_msg_id"] = client_msg_id
        body.update({k: v for k, v in extra.items() if v is not None})
        return body

    @staticmethod
    def _room(data: dict[str, Any]) -> UUID:
        if "room_id" not in data:
            raise ValidationFailed("invalid frame", details={"room_id": ["Missing data for required field."]})
        return UUID(data["room_id"])

    @staticmethod
    def _message_id(data: dict[str, Any]) -> int:
        if "message_id" not in data:
            raise ValidationFailed("invalid frame", details={"message_id": ["Missing data for required field."]})
        return int(data["message_id"])

    # --- frames ------------------------------------------------------------------------------------
    async def on_message(self, data: dict[str, Any]) -> None:
        room = self._room(data)
        messages = self.app[MESSAGES]
        content, cmid = data.get("content", ""), data.get("client_msg_id")
        if data.get("attachments"):
            files = await self.app[FILES].attachments(self.user, room, data["attachments"])
            result = await messages.post(self.user, room, content, client_msg_id=cmid, attachments=files)
        else:
            # Subscribed means a member still (see post_as_subscriber): no read before the append.
            post = messages.post_as_subscriber if room in self.conn.rooms else messages.post
            result = await post(self.user, room, content, client_msg_id=cmid)
        self.hub.send(self.conn, frame(self._ack(room, cmid, result)), "ack")

    @staticmethod
    def _ack(room: UUID, client_msg_id: str | None, result: Posted) -> dict[str, Any]:
        message = result.message
        ack: dict[str, Any] = {
            "type": "ack",
            "client_msg_id": client_msg_id,
            "message_id": message.id,
            "id": message.id,
            "room_id": uuid_text(room),
            "timestamp": timestamp(message.created_at),
        }
        if result.duplicate:
            ack["duplicate"] = True
        return ack

    async def on_typing(self, data: dict[str, Any]) -> None:
        room = self._room(data)
        if not self.app[TYPING_DEBOUNCE].allow(self.user, room):
            return  # debounced: one typing event per user and room per interval, across their sockets
        await typing(self.app[STORE].db, self.app[STORE], self.user, room)

    async def on_read(self, data: dict[str, Any]) -> None:
        await self.app[MESSAGES].mark_read(self.user, self._room(data), self._message_id(data))

    async def on_join(self, data: dict[str, Any]) -> None:
        room = self._room(data)
        await _ensure_member(self.request, self.user, room)
        if room not in self.conn.rooms:
            await self.subscribe([room], data.get("since"))

    async def on_leave(self, data: dict[str, Any]) -> None:
        room = self._room(data)
        self.hub.unsubscribe(self.conn, room)
        await self.app[RELAY].unwatch_if_idle(room)
        self.hub.send(self.conn, frame({"type": "unsubscribed", "room_id": str(room)}), "unsubscribed")

    async def on_edit(self, data: dict[str, Any]) -> None:
        await self.app[MESSAGES].edit(self.user, self._room(data), self._message_id(data), data.get("content", ""))

    async def on_delete(self, data: dict[str, Any]) -> None:
        await self.app[MESSAGES].delete(self.user, self._room(data), self._message_id(data))

    async def on_react(self, data: dict[str, Any]) -> None:
        if "emoji" not in data:
            raise ValidationFailed("invalid frame", details={"emoji": ["Missing data for required field."]})
        messages, room, message_id = self.app[MESSAGES], self._room(data), self._message_id(data)
        if data["type"] == "react":
            await messages.react(self.user, room, message_id, data["emoji"])
        else:
            await messages.unreact(self.user, room, message_id, data["emoji"])

    async def on_command(self, data: dict[str, Any]) -> None:
        """A slash command (commands/service.py): its result goes to this socket alone."""
        room, cmid = self._room(data), data.get("client_msg_id")
        outcome = await self.app[COMMANDS].run(self.user, room, data.get("content", ""), cmid)
        self.hub.send(self.conn, frame(command_result(outcome, room, cmid)), "command_result")


_HANDLERS: dict[str, Callable[[_Session, dict[str, Any]], Awaitable[None]]] = {
    "message": _Session.on_message,
    "typing": _Session.on_typing,
    "read": _Session.on_read,
    "join": _Session.on_join,
    "leave": _Session.on_leave,
    "edit": _Session.on_edit,
    "delete": _Session.on_delete,
    "react": _Session.on_react,
    "unreact": _Session.on_react,
    "command": _Session.on_command,
}


async def shutdown_sockets(app: web.Application) -> None:
    """on_shutdown: close every socket with 1001 so clients resume on another node."""
    await app[HUB].shutdown(1001, b"server shutting down")
