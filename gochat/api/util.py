"""Request parsing and response helpers shared by the HTTP views."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

import marshmallow
import orjson
from aiohttp import web

from ..errors import BadRequest, GochatError, ValidationFailed
from ..events.fields import MAX_ID as MAX_ID  # re-exported: the api modules take it from here


class UnsupportedMediaType(GochatError):
    status = 415
    code = "unsupported_media_type"


def _default(obj: Any) -> Any:
    if isinstance(obj, set | frozenset | tuple):
        return list(obj)
    raise TypeError(f"{type(obj).__name__} is not JSON serializable")


def dumps(data: Any) -> str:
    return orjson.dumps(data, default=_default, option=orjson.OPT_UTC_Z).decode()


def json(data: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> web.Response:
    """A JSON response encoded with orjson (UUIDs and datetimes as strings, RFC 3339)."""
    return web.Response(
        body=orjson.dumps(data, default=_default, option=orjson.OPT_UTC_Z),
        status=status,
        content_type="application/json",
        headers=headers,
    )


async def load_body(request: web.Request, schema: marshmallow.Schema) -> dict[str, Any]:
    """The body as a JSON object validated by `schema`: 400 not JSON, 415 not JSON media type,
    413 too large (aiohttp's client_max_size), 422 with marshmallow's field messages."""
    if request.body_exists and request.content_type not in ("application/json", "application/octet-stream", ""):
        raise UnsupportedMediaType(f"expected application/json, got {request.content_type}")
    raw = await request.read()
    try:
        data = orjson.loads(raw) if raw.strip() else {}
    except orjson.JSONDecodeError:
        raise BadRequest("request body is not valid JSON", code="invalid_json") from None
    if not isinstance(data, dict):
        raise BadRequest("request body must be a JSON object", code="invalid_json")
    try:
        loaded: dict[str, Any] = schema.load(data)
    except marshmallow.ValidationError as exc:
        details = exc.messages if isinstance(exc.messages, dict) else {"_schema": exc.messages}
        raise ValidationFailed("invalid request", details=details) from None
    if _has_nul(loaded):
        # PostgreSQL stores no NUL in text or jsonb: refuse it here rather than fail in the database.
        raise ValidationFailed("invalid request", details={"_schema": ["Must not contain NUL characters."]})
    return loaded


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(_has_nul(v) for v in value)
    return False


def path_uuid(request: web.Request, name: str) -> uuid.UUID:
    """A UUID path parameter; a malformed one is a 400 naming the parameter."""
    raw = request.match_info[name]
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise BadRequest(f"{name} is not a valid UUID", code="invalid_id") from None


def path_int(request: web.Request, name: str) -> int:
    """A positive integer path parameter (a message id); anything else is a 400 naming it."""
    raw = request.match_info[name]
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 19 and 0 < int(raw) <= MAX_ID):
        raise BadRequest(f"{name} is not a valid id", code="invalid_id")
    return int(raw)


def query_int(request: web.Request, name: str, default: int | None, lo: int, hi: int) -> int | None:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValidationFailed("invalid query", details={name: ["Not a valid integer."]}) from None
    if not lo <= value <= hi:
        raise ValidationFailed("invalid query", details={name: [f"Must be between {lo} and {hi}."]})
    return value
