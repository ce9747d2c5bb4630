"""The log as the projections see it now: room events read back with each message's current state.

The log keeps what was written; the history projection keeps what may still be read (a deleted
message is a tombstone, an edit replaces the text, an erased author's content is blank). Every
path that sends log events to users after the fact (WebSocket resume, `join` with `since`, the
relay's gap fill and first read of a room) reads through `CurrentLog`, so none of them serves
text that history no longer has, nor the name of a file the files projection dropped. One query
per read: the events LEFT JOINed to their message's (or file's) row, and `DATA` below is the one
rule applied to each.

Live frames are rendered from the event as it commits (relay.on_commit): at that moment the event
is the current state, so the hot path pays nothing for this.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any
from uuid import UUID

from ..events.model import RecordedEvent
from ..events.scan import DataView
from ..events.store import EventStore

# The rule, once, in SQL (CurrentLog below and the export's LogScan both select it): a post or edit
# of a message history no longer holds as written loses its text; a post says `deleted`, or
# carries the edited text and `edited_at`. `m.deleted IS NOT FALSE` also covers a missing row: history
# is inline, so only a projection being rebuilt can lack a committed message, and withholding the
# text then errs on the safe side. An erased author's messages are tombstones in history too.
JOIN = (
    " LEFT JOIN messages m ON e.type IN ('message.posted', 'message.edited', 'message.link_preview')"
    " AND m.room_id = e.stream_id"
    " AND m.id = CASE WHEN e.type = 'message.posted' THEN e.id ELSE (e.data->>'message_id')::bigint END"
    " LEFT JOIN files f ON e.type = 'file.uploaded' AND f.id = (e.data->>'file_id')::uuid"
)
# A file the files projection no longer holds (its message deleted, its uploader erased; a missing
# row errs on the safe side, as above) keeps only its id, and `preview_of` for a link preview's
# image, in the upload (both outside the sealed fields): its name and attachment go, sealed or not.
_FILE_GONE = (
    """(e.data - 'sealed') || jsonb_build_object('name', '', 'deleted', true, 'attachment', jsonb_strip_nulls("""
    "jsonb_build_object('id', e.data->'file_id', 'preview_of', e.data->'preview_of', 'deleted', true)))"
)
# Mentions follow the text they point into: history's (cleared with it, re-decided by an edit).
# A link preview (gochat/previews/) carries the message's previews now: none for a message history
# no longer holds, and only those its text still links after an edit (so a preview an edit dropped
# never comes back in a replay). What history replaces needs no opening: a tombstone's, an edit's
# and a preview's sealed fields are dropped here, and only a live post keeps its sealed attachments
# for the reader to open (events/sealing.py).
DATA = (
    f"CASE WHEN e.type = 'file.uploaded' THEN CASE WHEN f.deleted_id IS NULL AND f.id IS NOT NULL THEN e.data"
    f" ELSE {_FILE_GONE} END"
    " WHEN e.type = 'message.link_preview' THEN (e.data - 'sealed') || CASE WHEN m.deleted IS NOT FALSE"
    """ THEN '{"previews": [], "deleted": true}'::jsonb"""
    " ELSE jsonb_build_object('previews', coalesce(m.previews, '[]'::jsonb)) END"
    " WHEN e.type NOT IN ('message.posted', 'message.edited') THEN e.data"
    " WHEN m.deleted IS NOT FALSE THEN (e.data - 'mentions' - 'sealed') || CASE e.type WHEN 'message.posted'"
    """ THEN '{"content": "", "attachments": null, "deleted": true}'::jsonb ELSE '{"content": ""}'::jsonb END"""
    " ELSE (e.data - 'mentions' - CASE e.type WHEN 'message.edited' THEN 'sealed' ELSE '' END)"
    " || jsonb_build_object('content', m.content)"
    " || CASE WHEN m.mentions IS NULL THEN '{}'::jsonb ELSE jsonb_build_object('mentions', m.mentions) END"
    " || CASE WHEN e.type = 'message.posted' AND m.edited_at IS NOT NULL THEN jsonb_build_object("
    """ 'edited_at', to_char(m.edited_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')) ELSE '{}'::jsonb END"""
    " END"
)
# For the log tools: the export reads through it unless the operator asks for the raw log.
VIEW = DataView(JOIN, DATA)
_COLUMNS = (
    "e.id, e.stream_id, e.version, e.type, e.schema_version, " + DATA + ", e.metadata, e.actor_id, e.client_msg_id,"
    " e.recorded_at"
)


def select(columns: str, where: str) -> str:
    """A query of `columns` over the events matching `where` (unqualified column names, as in the
    events table), at most `%s` of them, joined to their messages, in id order."""
    return f"SELECT {columns} FROM (SELECT * FROM events WHERE {where} ORDER BY id LIMIT %s) e{JOIN} ORDER BY e.id"


class CurrentLog:
    """Reads of room streams, each message-bearing event brought up to its message's current state."""

    def __init__(self, store: EventStore) -> None:
        self.store = store

    async def _select(self, where: str, params: Sequence[Any], limit: int) -> list[RecordedEvent]:
        upcast = self.store.registry.upcast
        sealer = self.store.sealer
        async with self.store.db.cursor() as cur:
            await cur.execute(select(_COLUMNS, where), (*params, limit))
            rows = await cur.fetchall()
        # personal fields the DATA rule did not replace (attachments, names) are opened; what it put
        # in (history's current text, a tombstone's blanks) wins over the sealed original
        await sealer.prepare(r[5] for r in rows)
        out = []
        for id_, stream, version, type_, sv, data, metadata, actor, cmid, at in rows:
            sv, data = upcast(type_, sv, sealer.open(type_, stream, data))
            out.append(RecordedEvent(id_, stream, version, type_, sv, data, metadata, actor, cmid, at))
        return out

    async def read_stream(self, stream_id: UUID, after: int = 0, limit: int = 1000) -> list[RecordedEvent]:
        return await self._select("stream_id = %s AND id > %s", (stream_id, after), limit)

    async def read_streams(self, stream_ids: Iterable[UUID], after: int = 0, limit: int = 1000) -> list[RecordedEvent]:
        """Events of several streams after a global position, in id order (WebSocket resume)."""
        return await self._select("stream_id = ANY(%s) AND id > %s", (list(stream_ids), after), limit)
