"""Projection "files": the files shared in rooms and a reference count per stored blob.

Link previews' images are files too (`preview_of`: their message, gochat/previews/); they go with
their message (message.deleted, or the author's erasure).

Inline (an upload's file is fetchable as soon as its 201 is sent), written once in SQL
(sql/functions/gochat_apply_files.sql). It does not read message.posted: a message's attachments
travel in the post's own data (history stores them with the message), and a deleted message's
files are dropped by the `file.deleted` events appended with its `message.deleted`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from ..db import Cursor
from ..events.types import EventType
from .base import SqlProjection


class FilesProjection(SqlProjection):
    name = "files"
    tables = ("files", "blob_refs")
    # message.deleted: a link preview's image goes with its message (sql/functions/gochat_apply_files.sql)
    handles = frozenset(
        {EventType.FILE_UPLOADED, EventType.FILE_DELETED, EventType.USER_ERASED, EventType.MESSAGE_DELETED}
    )
    function = "gochat_apply_files"


@dataclass(frozen=True, slots=True)
class StoredFile:
    id: UUID
    room_id: UUID
    uploader_id: UUID | None
    blob: str
    thumbnail_blob: str | None
    name: str
    size: int
    content_type: str
    kind: str
    attachment: dict[str, Any]


_COLUMNS = "id, room_id, uploader_id, blob, thumbnail_blob, name, size, content_type, kind, attachment"


async def live_file(cur: Cursor, file_id: UUID) -> StoredFile | None:
    """A file not deleted (row-level security applies on a user's read cursor)."""
    await cur.execute(f"SELECT {_COLUMNS} FROM files WHERE id = %s AND deleted_id IS NULL", (file_id,))
    row = await cur.fetchone()
    return StoredFile(*row) if row else None


async def live_files(cur: Cursor, room_id: UUID, ids: Sequence[UUID]) -> list[StoredFile]:
    await cur.execute(
        f"SELECT {_COLUMNS} FROM files WHERE id = ANY(%s::uuid[]) AND room_id = %s AND deleted_id IS NULL",
        (list(ids), room_id),
    )
    return [StoredFile(*row) for row in await cur.fetchall()]


async def stored_bytes(cur: Cursor, user_id: UUID) -> int:
    """What the user's live uploads take (the storage quota counts these)."""
    await cur.execute(
        "SELECT coalesce(sum(size), 0) FROM files WHERE uploader_id = %s AND deleted_id IS NULL"
        " AND preview_of IS NULL",  # link previews' images are the server's doing, not the user's
        (user_id,),
    )
    row = await cur.fetchone()
    return int(row[0])


async def unreferenced_blobs(cur: Cursor, limit: int = 1000) -> list[str]:
    await cur.execute("SELECT blob FROM blob_refs WHERE refs <= 0 LIMIT %s", (limit,))
    return [r[0] for r in await cur.fetchall()]


async def blob_referenced(cur: Cursor, blob: str) -> bool:
    await cur.execute("SELECT EXISTS (SELECT 1 FROM blob_refs WHERE blob = %s AND refs > 0)", (blob,))
    row = await cur.fetchone()
    return bool(row[0])


async def forget_blob(cur: Cursor, blob: str) -> None:
    """Drop a count that reached zero once its blob is gone from storage (an upload of the same
    bytes later starts a new count)."""
    await cur.execute("DELETE FROM blob_refs WHERE blob = %s AND refs <= 0", (blob,))
