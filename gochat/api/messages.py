"""Messages over HTTP: post (and reply in a thread), history pages, context around a message,
edit, delete, reactions, threads, and read markers."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import marshmallow
from aiohttp import web
from marshmallow import fields, validate, validates_schema

from ..errors import ValidationFailed
from ..events.catalog import ENCRYPTED_MAX
from ..events.fields import Emoji, Text
from ..keys import DIRECTORY, FILES, MESSAGES, NOTIFICATIONS
from ..people_wire import users_map
from . import schemas
from .docs import NO_CONTENT, documented
from .limits import limited
from .rooms import Strict, caller_and_room
from .shapes import message_json
from .util import MAX_ID, json, load_body, path_int, query_int

routes = web.RouteTableDef()
MESSAGE_ID = "/rooms/{room_id}/messages/{message_id}"


class PostBody(Strict):
    content = Text(required=True, min_len=0, max_len=ENCRYPTED_MAX)  # text: MESSAGE_MAX, checked by the event
    client_msg_id = fields.String(validate=validate.Length(min=1, max=64), load_default=None)
    thread_root = fields.Integer(strict=True, validate=validate.Range(min=1, max=MAX_ID), load_default=None)
    # ids of files the caller uploaded to the room (POST /rooms/:id/files with send=false)
    attachments = fields.List(fields.String(), validate=validate.Length(max=10), load_default=None)
    # false: no link previews for this message (docs/api.md, "Link previews")
    previews = fields.Boolean(load_default=True)

    @validates_schema
    def _content_or_attachments(self, data: dict[str, Any], **kw: Any) -> None:
        if not data.get("content") and not data.get("attachments") and "content" in data:
            raise marshmallow.ValidationError("Must not be empty.", field_name="content")


class EditBody(Strict):
    content = Text(required=True, min_len=1, max_len=ENCRYPTED_MAX)
    # false: no link previews for the new text; absent: as the message's text said last (docs/api.md)
    previews = fields.Boolean(load_default=None)


class ReadBody(Strict):
    message_id = fields.Integer(strict=True, required=True, validate=validate.Range(min=1, max=MAX_ID))


def _message_path(request: web.Request) -> tuple[UUID, UUID, int]:
    user, room_id = caller_and_room(request)
    return user, room_id, path_int(request, "message_id")


def _emoji(request: web.Request) -> str:
    try:
        emoji: str = Emoji().deserialize(request.match_info["emoji"])
    except marshmallow.ValidationError as exc:
        raise ValidationFailed("invalid emoji", details={"emoji": exc.messages}) from None
    return emoji


def _limit(request: web.Request) -> int:
    return query_int(request, "limit", 50, 1, 100) or 50


@routes.post("/rooms/{room_id}/messages")
@documented(
    "Post a message (a retry with the same client_msg_id answers the original with 200)",
    body=PostBody,
    responses={201: schemas.Message, 200: schemas.Message},
)
@limited("post")
async def post_message(request: web.Request) -> web.Response:
    user, room_id = caller_and_room(request)
    body = await load_body(request, PostBody())
    files = await request.app[FILES].attachments(user, room_id, body["attachments"]) if body["attachments"] else None
    posted = await request.app[MESSAGES].post(
        user, room_id, body["content"], client_msg_id=body["client_msg_id"], thread_root=body["thread_root"],
        attachments=files, previews=body["previews"],
    )  # fmt: skip
    return json(message_json(posted.message), status=200 if posted.duplicate else 201)


@routes.get("/rooms/{room_id}/messages")
@documented("A page of a room's history", query=schemas.HistoryQuery, responses={200: schemas.MessagePage})
async def history(request: web.Request) -> web.Response:
    user, room_id = caller_and_room(request)
    before = query_int(request, "before", None, 1, MAX_ID)
    after = query_int(request, "after", None, 1, MAX_ID)
    found = await request.app[MESSAGES].history(user, room_id, before=before, after=after, limit=_limit(request))
    messages = found.messages
    if request.query.get("hide_blocked", "").lower() in ("1", "true"):
        hidden = await request.app[NOTIFICATIONS].blocked_ids(user)
        messages = [m for m in messages if m.user_id not in hidden]
    # step 12: the users the page names (authors, mentioned), keyed by id (docs/api.md)
    named = {m.user_id for m in messages if m.user_id} | {
        UUID(x["user_id"]) for m in messages for x in (m.mentions or ()) if x.get("user_id")
    }
    users = users_map(await request.app[DIRECTORY].people(user, sorted(named, key=str)))
    return json({"messages": [message_json(m) for m in messages], "has_more": found.has_more, "users": users})


@routes.get(MESSAGE_ID)
@documented("One message", responses={200: schemas.Message})
async def get_message(request: web.Request) -> web.Response:
    return json(message_json(await request.app[MESSAGES].get(*_message_path(request))))


@routes.get(MESSAGE_ID + "/context")
@documented("Messages around one message", query=schemas.PageQuery, responses={200: schemas.Context})
async def context(request: web.Request) -> web.Response:
    user, room_id, message_id = _message_path(request)
    around = await request.app[MESSAGES].context(user, room_id, message_id, _limit(request))
    return json(
        {
            "messages": [message_json(m) for m in around.messages],
            "has_more_before": around.has_more_before,
            "has_more_after": around.has_more_after,
        }
    )


@routes.patch(MESSAGE_ID)
@documented("Edit one's message", body=EditBody, responses={200: schemas.Message})
@limited("write")
async def edit(request: web.Request) -> web.Response:
    user, room_id, message_id = _message_path(request)
    body = await load_body(request, EditBody())
    edited = await request.app[MESSAGES].edit(user, room_id, message_id, body["content"], previews=body["previews"])
    return json(message_json(edited))


@routes.delete(MESSAGE_ID)
@documented("Delete a message (its author or a moderator)", responses={204: NO_CONTENT})
@limited("write")
async def delete(request: web.Request) -> web.Response:
    await request.app[MESSAGES].delete(*_message_path(request))
    return web.Response(status=204)


@routes.put(MESSAGE_ID + "/reactions/{emoji}")
@routes.delete(MESSAGE_ID + "/reactions/{emoji}")
@documented("Add (PUT) or remove (DELETE) the caller's reaction", responses={200: schemas.Message})
@limited("reaction")
async def reaction(request: web.Request) -> web.Response:
    """PUT adds the caller's reaction, DELETE removes it; both answer the message as it now is."""
    user, room_id, message_id = _message_path(request)
    service = request.app[MESSAGES]
    change = service.react if request.method == "PUT" else service.unreact
    await change(user, room_id, message_id, _emoji(request))
    return json(message_json(await service.get(user, room_id, message_id)))


@routes.get(MESSAGE_ID + "/thread")
@documented("A thread: its root and a page of replies", query=schemas.ThreadQuery, responses={200: schemas.Thread})
async def thread(request: web.Request) -> web.Response:
    user, room_id, message_id = _message_path(request)
    after = query_int(request, "after", None, 1, MAX_ID)
    root, replies = await request.app[MESSAGES].thread(user, room_id, message_id, after=after, limit=_limit(request))
    return json(
        {
            "root": message_json(root),
            "messages": [message_json(m) for m in replies.messages],
            "has_more": replies.has_more,
        }
    )


@routes.post("/rooms/{room_id}/read")
@documented("Move the caller's read marker forward", body=ReadBody, responses={200: schemas.Receipt})
@limited("write")
async def mark_read(request: web.Request) -> web.Response:
    user, room_id = caller_and_room(request)
    body = await load_body(request, ReadBody())
    receipt = await request.app[MESSAGES].mark_read(user, room_id, body["message_id"])
    return json({"room_id": str(room_id), "last_read_id": receipt.last_read_id, "unread_count": receipt.unread_count})
