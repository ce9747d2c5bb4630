"""How an HTTP route declares itself to the API documents: `@documented(...)` on its handler.

    @routes.post("/rooms")
    @documented("Create a room", body=CreateRoomBody, responses={201: Room, 200: Room})
    @limited("room")
    async def create_room(request): ...

The OpenAPI document (openapi.py) walks the app's router, so every route is in it; the schemas,
summary and answers come from this annotation. tests/test_openapi.py fails for a route without one.
Path parameters are typed by name (PATH_PARAMS below); a route with another name passes `path=`.
Errors need no declaring: every operation answers PROTOCOL.md's error shape for any other status.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from marshmallow import Schema, fields, validate

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
SchemaLike = type[Schema] | Schema
DOC_ATTR = "__gochat_doc__"

# Path parameters by name, so routes need not repeat them.
PATH_PARAMS: dict[str, fields.Field[Any]] = {
    "room_id": fields.UUID(),
    "user_id": fields.UUID(),
    "message_id": fields.Integer(validate=validate.Range(min=1, max=2**63 - 1)),
    "emoji": fields.String(),
    "bot_id": fields.UUID(),
    "token_id": fields.UUID(),
    "webhook_id": fields.UUID(),
    "hook_id": fields.UUID(),
    "file_id": fields.UUID(),
    "report_id": fields.Integer(validate=validate.Range(min=1, max=2**63 - 1)),
    "event_id": fields.Integer(validate=validate.Range(min=1, max=2**63 - 1)),
    "name": fields.String(),
    "secret": fields.String(),
}


@dataclass(frozen=True)
class Answer:
    """A non-JSON success: `content_type` with no schema (text, HTML), or no body at all (None)."""

    content_type: str | None = None
    description: str = ""


@dataclass(frozen=True)
class RouteDoc:
    summary: str
    description: str
    body: SchemaLike | None
    query: SchemaLike | None
    responses: Mapping[int, SchemaLike | Answer]
    path: Mapping[str, fields.Field[Any]] = field(default_factory=dict)
    tags: tuple[str, ...] = ()


def documented(
    summary: str,
    *,
    responses: Mapping[int, SchemaLike | Answer],
    body: SchemaLike | None = None,
    query: SchemaLike | None = None,
    path: Mapping[str, fields.Field[Any]] | None = None,
    tags: tuple[str, ...] = (),
) -> Callable[[Handler], Handler]:
    """Attach the route's document (the handler's docstring becomes its description)."""

    def mark(handler: Handler) -> Handler:
        doc = RouteDoc(summary, (handler.__doc__ or "").strip(), body, query, responses, path or {}, tags)
        setattr(handler, DOC_ATTR, doc)
        return handler

    return mark


def doc_of(handler: Any) -> RouteDoc | None:
    found: RouteDoc | None = getattr(handler, DOC_ATTR, None)
    return found


NO_CONTENT = Answer(None, "No content")
