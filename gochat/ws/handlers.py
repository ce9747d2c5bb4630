"""Client frames other than pipelined posts: parsed, permitted, rate-limited, then one service call
each (`HANDLERS`). Errors become `error` frames; nothing here decides who may do what (the
services do)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import orjson
import structlog
from marshmallow import ValidationError

from ..api.shapes import command_result
from ..errors import BadRequest, GochatError, RateLimited, ValidationFailed
from ..keys import COMMANDS, FILES, MESSAGES, RELAY, ROOMS, TYPING_DEBOUNCE
from .frames import FRAME_SCHEMA, ack_body, message_id_of, quick_load, room_of
from .resume import subscribe
from .session import Session

log = structlog.get_logger("gochat.ws")


async def handle(session: Session, text: str) -> None:
    tracing = session.tracing
    if tracing is None:
        await _handle(session, text)
        return
    # A trace per frame (not one per socket, which would last as long as the connection).
    span = tracing.start("ws.frame", parent=tracing.root(), attributes={"gochat.user_id": str(session.user)})
    with tracing.current(span):
        await _handle(session, text)
    span.end()


async def _handle(session: Session, text: str) -> None:
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
                data = FRAME_SCHEMA.load(raw)
            except ValidationError as exc:
                raise ValidationFailed("invalid frame", details=exc.messages_dict) from None
        kind = data["type"]
        session.permit(data)
        await session.rate_limit()
        await HANDLERS[kind](session, data)
    except RateLimited as exc:
        session.error(exc.code, exc.message, client_msg_id, retry_after=round(exc.retry_after, 3))
    except GochatError as exc:
        session.error(exc.code, exc.message, client_msg_id, details=exc.details or None)
    except Exception:
        # A bug, not the client's doing: logged and answered as HTTP answers a 500, and the socket
        # lives on (escaping, it reached aiohttp, which wrote an HTTP 500 into the upgraded stream).
        log.exception("ws_frame_failed", kind=kind)
        session.error("internal_error", "internal server error", client_msg_id)
    finally:
        session.hub.count_in(kind)


async def on_message(session: Session, data: dict[str, Any]) -> None:
    room = room_of(data)
    messages = session.app[MESSAGES]
    content, cmid = data.get("content", ""), data.get("client_msg_id")
    if data.get("attachments"):
        files = await session.app[FILES].attachments(session.user, room, data["attachments"])
        result = await messages.post(session.user, room, content, client_msg_id=cmid, attachments=files)
    else:
        # Subscribed means a member still (see post_as_subscriber): no read before the append.
        post = messages.post_as_subscriber if room in session.conn.rooms else messages.post
        result = await post(session.user, room, content, client_msg_id=cmid)
    session.send(ack_body(room, cmid, result))


async def on_typing(session: Session, data: dict[str, Any]) -> None:
    room, app = room_of(data), session.app
    if not app[TYPING_DEBOUNCE].allow(session.user, room):
        return  # debounced: one typing event per user and room per interval, across their sockets
    await app[MESSAGES].typing(session.user, room)


async def on_read(session: Session, data: dict[str, Any]) -> None:
    await session.app[MESSAGES].mark_read(session.user, room_of(data), message_id_of(data))


async def on_join(session: Session, data: dict[str, Any]) -> None:
    room = room_of(data)
    await session.app[ROOMS].ensure_member(session.user, room)
    if room not in session.conn.rooms:
        await subscribe(session, [room], data.get("since"))


async def on_leave(session: Session, data: dict[str, Any]) -> None:
    room = room_of(data)
    session.hub.unsubscribe(session.conn, room)
    await session.app[RELAY].unwatch_if_idle(room)
    session.send({"type": "unsubscribed", "room_id": str(room)})


async def on_edit(session: Session, data: dict[str, Any]) -> None:
    await session.app[MESSAGES].edit(session.user, room_of(data), message_id_of(data), data.get("content", ""))


async def on_delete(session: Session, data: dict[str, Any]) -> None:
    await session.app[MESSAGES].delete(session.user, room_of(data), message_id_of(data))


async def on_react(session: Session, data: dict[str, Any]) -> None:
    if "emoji" not in data:
        raise ValidationFailed("invalid frame", details={"emoji": ["Missing data for required field."]})
    messages, room, message_id = session.app[MESSAGES], room_of(data), message_id_of(data)
    if data["type"] == "react":
        await messages.react(session.user, room, message_id, data["emoji"])
    else:
        await messages.unreact(session.user, room, message_id, data["emoji"])


async def on_command(session: Session, data: dict[str, Any]) -> None:
    """A slash command (commands/service.py): its result goes to this socket alone."""
    room, cmid = room_of(data), data.get("client_msg_id")
    outcome = await session.app[COMMANDS].run(session.user, room, data.get("content", ""), cmid)
    session.send(command_result(outcome, room, cmid))


HANDLERS: dict[str, Callable[[Session, dict[str, Any]], Awaitable[None]]] = {
    "message": on_message,
    "typing": on_typing,
    "read": on_read,
    "join": on_join,
    "leave": on_leave,
    "edit": on_edit,
    "delete": on_delete,
    "react": on_react,
    "unreact": on_react,
    "command": on_command,
}
