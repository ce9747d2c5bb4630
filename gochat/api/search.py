"""Search over HTTP: `GET /rooms/{room_id}/search` and `GET /search` (every room the caller reads).

Each result is PROTOCOL.md's message plus `highlight` (HTML: the excerpt escaped, the matched words
in <mark>...</mark>) and `rank`; `next_cursor` (opaque) asks for the page after this one.
"""

from __future__ import annotations

import base64
import binascii
import html
import math
from datetime import UTC
from typing import Any
from uuid import UUID

import marshmallow
import orjson
from aiohttp import web
from marshmallow import EXCLUDE, Schema, fields, validate

from ..errors import ValidationFailed
from ..events.fields import Text
from ..keys import SEARCH, SETTINGS
from ..projections import search as search_index
from . import schemas
from .authn import current_user_id
from .docs import documented
from .limits import enforce
from .rooms import caller_and_room
from .shapes import message_json
from .util import MAX_ID, json

routes = web.RouteTableDef()
REAL_MAX = 3.4028234e38  # the largest finite float4


class SearchQuery(Schema):
    class Meta:
        unknown = EXCLUDE  # query strings pick up cache busters and tracking parameters

    q = Text(required=True, min_len=1, max_len=search_index.MAX_QUERY)
    limit = fields.Integer(load_default=20, validate=validate.Range(min=1, max=100))
    before = fields.Integer(load_default=None, validate=validate.Range(min=1, max=MAX_ID))
    cursor = fields.String(load_default=None, validate=validate.Length(max=200))
    order = fields.String(load_default="relevance", validate=validate.OneOf(["relevance", "recent"]))
    room_id = fields.UUID(load_default=None)
    user_id = fields.UUID(load_default=None)
    since = fields.AwareDateTime(load_default=None, default_timezone=UTC)
    until = fields.AwareDateTime(load_default=None, default_timezone=UTC)

    @marshmallow.post_load
    def _in_utc(self, data: dict[str, Any], **kw: object) -> dict[str, Any]:
        """Times in UTC, where an offset can carry them past the calendar's ends (0001-01-01 at -20:00)."""
        for key in ("since", "until"):
            if data.get(key) is not None:
                try:
                    data[key] = data[key].astimezone(UTC)
                except OverflowError:
                    raise marshmallow.ValidationError("Out of range.", key) from None
        return data


def encode_cursor(after: search_index.After) -> str:
    raw = orjson.dumps([after.rank, after.message_id])
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def decode_cursor(cursor: str) -> search_index.After:
    """The position a `next_cursor` names; a 422 for anything we did not hand out."""
    try:
        rank, message_id = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        numbers = isinstance(rank, int | float) and isinstance(message_id, int) and not isinstance(message_id, bool)
        # The rank is compared as a PostgreSQL real: anything beyond its range was never handed out.
        if numbers and math.isfinite(rank) and abs(rank) <= REAL_MAX and 0 < message_id <= MAX_ID:
            return search_index.After(float(rank), message_id)
    except (ValueError, TypeError, OverflowError, binascii.Error, orjson.JSONDecodeError):
        pass
    raise ValidationFailed("invalid query", details={"cursor": ["Not a valid cursor."]})


def highlight_html(excerpt: str) -> str:
    """The excerpt as HTML: content is plain text, so it is escaped first, then the markers become
    <mark> elements."""
    return html.escape(excerpt).replace(search_index.MARK_START, "<mark>").replace(search_index.MARK_END, "</mark>")


def _params(request: web.Request) -> dict[str, Any]:
    try:
        params: dict[str, Any] = SearchQuery().load(dict(request.query))
    except marshmallow.ValidationError as exc:
        details = exc.messages if isinstance(exc.messages, dict) else {"_schema": exc.messages}
        raise ValidationFailed("invalid query", details=details) from None
    return params


async def _search(request: web.Request, user: UUID, room_id: UUID | None) -> web.Response:
    await enforce(request, f"search:user:{user}", request.app[SETTINGS].search_limit_per_user)
    p = _params(request)
    filters = search_index.Filters(room_id or p["room_id"], p["user_id"], p["since"], p["until"], p["before"])
    after = decode_cursor(p["cursor"]) if p["cursor"] else None
    found = await request.app[SEARCH].search(
        user, p["q"], filters, after=after, recent=p["order"] == "recent", limit=p["limit"]
    )
    results = [
        {**message_json(hit.message), "highlight": highlight_html(hit.highlight), "rank": hit.rank}
        for hit in found.hits
    ]
    return json({"results": results, "next_cursor": encode_cursor(found.next) if found.next else None})


@routes.get("/rooms/{room_id}/search")
@documented("Search one room", query=SearchQuery, responses={200: schemas.SearchPage})
async def search_room(request: web.Request) -> web.Response:
    user, room_id = caller_and_room(request)
    return await _search(request, user, room_id)


@routes.get("/search")
@documented("Search every room the caller may read", query=SearchQuery, responses={200: schemas.SearchPage})
async def search_everywhere(request: web.Request) -> web.Response:
    return await _search(request, current_user_id(request), None)
