"""Files over HTTP: upload to a room (multipart, streamed), and download (members only, ranges,
and headers that keep a browser from running anything it gets)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import marshmallow
from aiohttp import BodyPartReader, MultipartReader, web
from marshmallow import fields, validate

from ..errors import BadRequest, NotFound, ValidationFailed
from ..events.catalog import MESSAGE_MAX
from ..events.fields import Text
from ..keys import FILES, SETTINGS
from ..media.names import content_disposition
from ..media.spool import Spool, too_large
from ..services.files import Download, Upload
from . import schemas
from .authn import current_user_id
from .docs import Answer, documented
from .limits import limited
from .rooms import Strict, caller_and_room
from .shapes import message_json
from .util import UnsupportedMediaType, json, path_uuid

routes = web.RouteTableDef()
# A download answers in the file's own type (application/octet-stream when it is not shown inline).
FILE_BYTES = Answer("application/octet-stream", "the file's bytes, or the range asked for")
FIELD_MAX = 4 * MESSAGE_MAX + 64  # bytes of a text field (a caption is at most 4000 characters)
MULTIPART_SLACK = 64 * 1024  # boundaries, part headers and the small fields around the file
CHUNK = 256 * 1024
# Nothing a file contains may run as a page of ours: no scripts, no plugins, no forms, a unique origin.
CSP = "default-src 'none'; img-src 'self'; media-src 'self'; style-src 'unsafe-inline'; sandbox"


class UploadFields(Strict):
    content = Text(max_len=MESSAGE_MAX, load_default="")
    client_msg_id = fields.String(validate=validate.Length(min=1, max=64), load_default=None)
    kind = fields.String(validate=validate.OneOf(("file", "voice")), load_default="file")
    send = fields.Boolean(load_default=True)


async def _chunks(part: BodyPartReader) -> AsyncIterator[bytes]:
    while chunk := await part.read_chunk(CHUNK):
        yield chunk


async def _small(part: BodyPartReader) -> str:
    raw = bytearray()
    while chunk := await part.read_chunk(FIELD_MAX):
        raw += chunk
        if len(raw) > FIELD_MAX:
            raise ValidationFailed("invalid request", details={part.name or "field": ["Too long."]})
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ValidationFailed("invalid request", details={part.name or "field": ["Not valid UTF-8."]}) from None


async def _read_form(reader: MultipartReader, spool: Spool) -> tuple[str | None, dict[str, Any]]:
    """The file part streamed into the spool, the small fields as text, in whatever order they come."""
    raw: dict[str, Any] = {}
    filename: str | None = None
    received = False
    while (part := await reader.next()) is not None:
        if not isinstance(part, BodyPartReader):
            raise BadRequest("nested multipart is not supported", code="invalid_multipart")
        if part.name == "file":
            if received:
                raise ValidationFailed("invalid request", details={"file": ["Send one file per request."]})
            filename = part.filename
            await spool.receive(_chunks(part))
            received = True
        elif part.name in UploadFields._declared_fields:
            raw[part.name] = await _small(part)
        else:
            raise ValidationFailed("invalid request", details={part.name or "?": ["Unknown field."]})
    if not received:
        raise ValidationFailed("invalid request", details={"file": ["Missing data for required field."]})
    return filename, raw


@routes.post("/rooms/{room_id}/files")
@documented(
    "Upload a file (multipart/form-data)", responses={201: schemas.Uploaded, 200: schemas.Uploaded}, tags=("files",)
)
@limited("upload")
async def upload(request: web.Request) -> web.Response:
    user, room_id = caller_and_room(request)
    settings, files = request.app[SETTINGS], request.app[FILES]
    if not request.content_type.startswith("multipart/form-data"):
        raise UnsupportedMediaType(f"expected multipart/form-data, got {request.content_type}")
    length = request.content_length
    if length is not None and length > settings.max_upload_bytes + MULTIPART_SLACK:
        raise too_large(settings.max_upload_bytes)
    await files.check_can_upload(user, room_id)  # before a byte of the body is read
    with files.spool() as spool:
        try:
            filename, raw = await _read_form(await request.multipart(), spool)
        except ValueError as exc:  # aiohttp's word for a body that is not the multipart it claims
            raise BadRequest(f"malformed multipart body: {exc}", code="invalid_multipart") from None
        try:
            body = UploadFields().load(raw)
        except marshmallow.ValidationError as exc:
            raise ValidationFailed("invalid request", details=exc.messages_dict) from None
        meta = Upload(filename, body["content"], body["client_msg_id"], body["kind"] == "voice", body["send"])
        result = await files.upload(user, room_id, spool, meta)
    answer = {"file": result.file, "message": message_json(result.message) if result.message else None}
    return json(answer, status=200 if result.duplicate else 201)


def _headers(d: Download, etag: str | None) -> dict[str, str]:
    headers = {
        "Content-Type": d.content_type,
        "X-Content-Type-Options": "nosniff",
        "Content-Disposition": content_disposition(d.file.name, inline=d.inline),
        "Content-Security-Policy": CSP,
        # access-controlled: browsers may keep it, shared caches may not
        "Cache-Control": "private, max-age=86400",
        "Accept-Ranges": "bytes",
    }
    if etag:
        headers["ETag"] = etag
    return headers


async def _serve(request: web.Request, *, thumbnail: bool) -> web.StreamResponse:
    user, file_id = current_user_id(request), path_uuid(request, "file_id")
    d = await request.app[FILES].download(user, file_id, thumbnail=thumbnail)
    if d.local_path is not None:
        # sendfile, with Range, If-None-Match and its own ETag (a content-addressed file never changes)
        return web.FileResponse(d.local_path, headers=_headers(d, None))
    return await _stream(request, d)


async def _stream(request: web.Request, d: Download) -> web.StreamResponse:
    """From object storage: conditional and ranged requests answered here, the range passed on."""
    etag = f'"{d.blob}"'
    headers = _headers(d, etag)
    if any(t.value == d.blob or t.value == "*" for t in request.if_none_match or ()):
        return web.Response(status=304, headers={k: v for k, v in headers.items() if k != "Content-Type"})
    size = await d.blobs.size(d.blob)
    if size is None:
        raise NotFound("file not found", code="file_not_found")  # never for a committed file
    start, end, status = 0, size - 1, 200
    if "Range" in request.headers:
        try:
            rng = request.http_range
        except ValueError:
            rng = None
        if rng is None or (rng.start is None and rng.stop is None):
            return _unsatisfiable(size)
        if rng.start is not None and rng.start < 0:  # bytes=-N: the last N
            start = max(size + rng.start, 0)
        else:
            start = rng.start or 0
            end = size - 1 if rng.stop is None else min(rng.stop - 1, size - 1)
        if start >= size or start > end:
            return _unsatisfiable(size)
        status = 206
    got = await d.read(start, end)
    resp = web.StreamResponse(status=status, headers=headers)
    resp.content_length = got.end - got.start + 1
    if status == 206:
        resp.headers["Content-Range"] = f"bytes {got.start}-{got.end}/{got.total}"
    await resp.prepare(request)
    async for chunk in got.chunks:
        await resp.write(chunk)
    await resp.write_eof()
    return resp


def _unsatisfiable(size: int) -> web.Response:
    return web.Response(status=416, headers={"Content-Range": f"bytes */{size}"})


@routes.get("/files/{file_id}")
@documented("A file's bytes", responses={200: FILE_BYTES, 206: FILE_BYTES}, tags=("files",))
async def download(request: web.Request) -> web.StreamResponse:
    return await _serve(request, thumbnail=False)


@routes.get("/files/{file_id}/thumbnail")
@documented("An image's thumbnail", responses={200: FILE_BYTES, 206: FILE_BYTES}, tags=("files",))
async def thumbnail(request: web.Request) -> web.StreamResponse:
    return await _serve(request, thumbnail=True)
