"""Pipelined posts: a post to a subscribed room needs no read before its append, so the read loop
queues it and takes the next frame while it commits.

The group commit takes a socket's posts in the order they were queued (EventStore.submit), and
each reply waits for the one before it, so the room's order and the acks both follow the send
order. At most `ws_max_inflight` wait; beyond that the loop stops reading (TCP then pushes back on
the sender) until the oldest is acked. Any other frame waits for the pipelined ones (`drain`).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable
from typing import Any
from uuid import UUID

import orjson
import structlog

from ..errors import GochatError, RateLimited
from ..keys import MESSAGES, SETTINGS
from ..services.messages import Posted
from .frames import ack_body, error_body, quick_load
from .session import Session

log = structlog.get_logger("gochat.ws")


def pipelinable(session: Session, text: str) -> dict[str, Any] | None:
    """A valid `message` frame for a room this socket subscribes to, else None (handlers.handle)."""
    try:
        raw = orjson.loads(text)
    except orjson.JSONDecodeError:
        return None
    data = quick_load(raw) if isinstance(raw, dict) else None
    if data is None or data["type"] != "message" or "room_id" not in data:
        return None
    return data if UUID(data["room_id"]) in session.conn.rooms else None


async def pipeline(session: Session, data: dict[str, Any], text: str) -> None:
    hub = session.hub
    hub.count_in("message")  # handlers.handle counts the other frames
    inflight = session.inflight
    if inflight is None:
        inflight = session.inflight = deque()
    while inflight and inflight[0].done():
        inflight.popleft()
    settings = session.app[SETTINGS]
    # The posts in flight also commit together and reach every reader as one burst: keep that
    # burst within an eighth of a reader's buffer, or a reader that reads in gulps (its kernel
    # and library buffers full between two reads) would be cut off (4008) by one burst.
    size = len(text)
    budget = settings.ws_max_buffer_bytes // 8
    while inflight and (len(inflight) >= settings.ws_max_inflight or session.inflight_bytes + size > budget):
        await asyncio.wait((inflight[0],))  # backpressure: read nothing more until the oldest is acked
        inflight.popleft()
    if hub.draining:
        return  # draining began while it waited: not taken, so not acked (the client resends it)
    room, cmid = UUID(data["room_id"]), data.get("client_msg_id")
    hub.handling += 1  # until the reply is written: a draining node waits for it
    session.inflight_bytes += size
    work: Awaitable[Posted] | GochatError
    tracing, span = session.tracing, None
    if tracing is not None:  # a trace per frame, as handlers.handle's: the append is its child
        span = tracing.start("ws.frame", parent=tracing.root(), attributes={"gochat.user_id": str(session.user)})
    try:
        try:
            session.permit(data)
            await session.rate_limit()
            submit = session.app[MESSAGES].submit_post_as_subscriber
            if tracing is None:
                work = await submit(session.user, room, data.get("content", ""), client_msg_id=cmid)
            else:
                with tracing.current(span):
                    work = await submit(session.user, room, data.get("content", ""), client_msg_id=cmid)
        except GochatError as exc:
            work = exc  # replied to in its turn, like an ack
    except BaseException:  # the handler cancelled (the peer went away): nothing was queued
        hub.handling -= 1
        session.inflight_bytes -= size
        if span is not None:
            span.end()
        raise
    previous = inflight[-1] if inflight else None
    reply = _reply(session, previous, room, cmid, work, size, span)
    inflight.append(asyncio.get_running_loop().create_task(reply))


async def _reply(
    session: Session,
    previous: asyncio.Task[None] | None,
    room: UUID,
    cmid: str | None,
    work: Awaitable[Posted] | GochatError,
    size: int,
    span: Any = None,
) -> None:
    try:
        try:
            if isinstance(work, GochatError):
                raise work
            reply = ack_body(room, cmid, await work)
        except RateLimited as exc:
            reply = error_body(exc.code, exc.message, cmid, retry_after=round(exc.retry_after, 3))
        except GochatError as exc:
            reply = error_body(exc.code, exc.message, cmid, details=exc.details or None)
        if previous is not None and not previous.done():
            await asyncio.wait((previous,))
        session.send(reply)  # "ack" or "error"
    except Exception:
        # What handlers.handle would let escape (and the socket end with): close it, the client resumes.
        log.exception("ws_pipelined_frame_failed")
        session.hub.close(session.conn, 1011, b"internal error")
    finally:
        session.hub.handling -= 1
        session.inflight_bytes -= size
        if span is not None:  # the frame's span lasts until its ack or error is written
            span.end()


async def drain(session: Session) -> None:
    """Wait until every pipelined frame has been replied to."""
    if session.inflight:
        await asyncio.wait((session.inflight[-1],))
        session.inflight.clear()
