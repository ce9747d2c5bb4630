"""Message commands (post, reply, edit, delete, react, mark read) and history queries.

Every path asks services/access.py first, inside the same read transaction as its lookups;
row-level security hides other rooms' rows underneath. A refused command appends nothing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from ..db import Cursor, Database
from ..errors import Conflict, Forbidden, NotFound, ValidationFailed
from ..events import AppendResult, EventStore, NewEvent, RecordedEvent
from ..events.types import EventType
from ..previews import edits as preview_edits
from ..projections import history as history_queries
from ..projections import receipts as receipt_queries
from ..projections import rooms as rooms_q
from .access import Access, access_in
from .devices import check_envelope
from .typing import typing as append_typing

MAX_DISTINCT_EMOJI = 50  # per message, as Slack caps it

#: What to store with a text besides it (author, room, content): mention entities (services/mentions.py).
Annotate = Callable[[UUID, UUID, str], Awaitable[dict[str, Any]]]


@dataclass(frozen=True, slots=True)
class Posted:
    message: history_queries.Message
    duplicate: bool  # an idempotent retry: the original message, nothing new appended


def message_from_event(e: RecordedEvent) -> history_queries.Message:
    """A message just posted, as history will show it (no read-back needed)."""
    return history_queries.Message(
        e.id, e.stream_id, e.actor_id, e.data["content"], e.recorded_at, None, False,
        e.data.get("thread_root"), 0, None, e.client_msg_id, e.data.get("attachments"),
        mentions=e.data.get("mentions"),
    )  # fmt: skip


def _message_not_found() -> NotFound:
    return NotFound("message not found", code="message_not_found")


async def _existing(cur: Cursor, viewer: UUID, room_id: UUID, message_id: int) -> history_queries.Message:
    message = await history_queries.get_message(cur, viewer, room_id, message_id)
    if message is None:
        raise _message_not_found()
    return message


def _alive(message: history_queries.Message) -> history_queries.Message:
    if message.deleted:
        raise Conflict("that message was deleted", code="message_deleted")
    return message


class MessageService:
    def __init__(self, db: Database, store: EventStore) -> None:
        self.db = db
        self.store = store
        self.annotate: Annotate | None = None
        # room id -> created encrypted; kept for good, since a room's encryption never changes
        self._encrypted: dict[UUID, bool] = {}
        # Checked before every post (author, room): mutes and slow mode (moderation/gate.py).
        self.gate: Callable[[UUID, UUID], Awaitable[None]] | None = None

    async def _encryption(self, room_id: UUID, data: dict[str, Any]) -> dict[str, Any]:
        """`data` as appended: in an encrypted room the content must be an envelope, and is marked."""
        encrypted = self._encrypted.get(room_id)
        if encrypted is None:
            encrypted = await rooms_q.is_encrypted(self.db, room_id)
            if encrypted is None:
                return data  # no such room: the append's access checks answer for it
            if len(self._encrypted) >= 100_000:
                self._encrypted.clear()
            self._encrypted[room_id] = encrypted
        if encrypted:
            check_envelope(data["content"])
            return {**data, "encrypted": True}
        return data

    # --- commands -------------------------------------------------------------------------------
    async def post(
        self,
        user_id: UUID,
        room_id: UUID,
        content: str,
        *,
        client_msg_id: str | None = None,
        thread_root: int | None = None,
        attachments: Sequence[dict[str, Any]] | None = None,
        previews: bool = True,
    ) -> Posted:
        """Post (or reply in a thread). The same user, room and client_msg_id again returns the
        original message with duplicate=True. `previews=False`: no link previews for it."""
        async with self.db.read(user_id) as cur:
            (await access_in(cur, user_id, room_id)).require_post()
            if thread_root is not None:
                root = _alive(await _existing(cur, user_id, room_id, thread_root))
                if root.thread_root is not None:
                    raise ValidationFailed(
                        "threads are one level deep", details={"thread_root": ["Reply to the thread's first message."]}
                    )
        data: dict[str, Any] = {"content": content}
        if thread_root is not None:
            data["thread_root"] = thread_root
        if attachments:
            data["attachments"] = list(attachments)
        if not previews:
            data["no_previews"] = True  # read by the link_previews follower (gochat/previews/)
        return await self._append_post(user_id, room_id, data, client_msg_id)

    async def post_as_subscriber(
        self, user_id: UUID, room_id: UUID, content: str, *, client_msg_id: str | None = None
    ) -> Posted:
        """`post` for a WebSocket connection subscribed to the room: no read transaction first.

        A subscription is a live proof of membership: ws/ makes one only for a member, and the
        relay drops it as the leave, kick or ban commits (on this node before the append returns,
        on others within the broker's delay): the same window `post`'s read-then-append leaves.
        The read costs four round trips, more than the append and the fan-out of a message
        together (docs/benchmarks.md, WebSocket gateway)."""
        return await (await self.submit_post_as_subscriber(user_id, room_id, content, client_msg_id=client_msg_id))

    async def submit_post_as_subscriber(
        self, user_id: UUID, room_id: UUID, content: str, *, client_msg_id: str | None = None
    ) -> Awaitable[Posted]:
        """`post_as_subscriber` in two halves: queued when this returns (a bad frame raises here),
        finished by awaiting what it returns. Posts submitted one after another are appended in
        that order, and their results may be awaited in any order (ws/pipeline.py pipelines a socket's)."""
        data = await self._prepared(user_id, room_id, {"content": content})
        event = NewEvent(EventType.MESSAGE_POSTED, room_id, data, actor_id=user_id, client_msg_id=client_msg_id)
        return self._posted(user_id, room_id, self.store.submit(event))

    async def _prepared(self, user_id: UUID, room_id: UUID, data: dict[str, Any]) -> dict[str, Any]:
        """A post's data as appended, on every path: moderation's gate, the encrypted-room rule,
        then mention entities (plaintext only)."""
        if self.gate is not None:
            await self.gate(user_id, room_id)
        data = await self._encryption(room_id, data)
        if self.annotate is not None and not data.get("encrypted"):
            data = {**data, **await self.annotate(user_id, room_id, data["content"])}
        return data

    async def _append_post(
        self, user_id: UUID, room_id: UUID, data: dict[str, Any], client_msg_id: str | None
    ) -> Posted:
        data = await self._prepared(user_id, room_id, data)
        event = NewEvent(EventType.MESSAGE_POSTED, room_id, data, actor_id=user_id, client_msg_id=client_msg_id)
        return await self._posted(user_id, room_id, self.store.submit(event))

    async def _posted(self, user_id: UUID, room_id: UUID, pending: Awaitable[list[AppendResult]]) -> Posted:
        result = (await pending)[0]
        if not result.duplicate:
            return Posted(message_from_event(result.event), False)
        if result.event.type != EventType.MESSAGE_POSTED:
            raise Conflict("that client_msg_id was already used for something else", code="client_msg_id_reused")
        return Posted(await self.get(user_id, room_id, result.event.id), True)

    async def edit(
        self, user_id: UUID, room_id: UUID, message_id: int, content: str, *, previews: bool | None = None
    ) -> history_queries.Message:
        """Authors only, while members, and not once deleted; an unchanged text appends nothing
        (unless it turns previews off or on). The message keeps the link previews of the links the new
        text still has and loses the others at once; new links are previewed as a post's are.
        `previews`: whether to preview the new text; not given, as the message's text said last."""
        async with self.db.read(user_id) as cur:
            acc = (await access_in(cur, user_id, room_id)).require_read()
            message = await _existing(cur, user_id, room_id, message_id)
            if message.user_id != user_id:
                raise Forbidden("only the author edits a message", code="not_the_author")
            acc.require_post()
            _alive(message)
            text_id = await history_queries.text_id(cur, room_id, message_id)
        declined = await self._declined_previews(text_id)
        if previews is None:
            previews = not declined
        if content.strip() != message.content or previews == declined:
            data: dict[str, Any] = {"message_id": message_id, "content": content}
            if not previews:
                data["no_previews"] = True  # read by the history projection and the link_previews follower
            data = await self._encryption(room_id, data)
            if self.annotate is not None and not data.get("encrypted"):
                data = {**data, **await self.annotate(user_id, room_id, content)}
            edited = NewEvent(EventType.MESSAGE_EDITED, room_id, data, actor_id=user_id)
            await self.store.append(
                edited, *preview_edits.with_edit(room_id, user_id, message_id, message.previews, data)
            )
        return await self.get(user_id, room_id, message_id)

    async def _declined_previews(self, text_id: int) -> bool:
        """Whether the post or edit whose text a message shows asked for no previews."""
        event = await self.store.get(text_id)
        return bool(event and event.data.get("no_previews"))

    async def delete(self, user_id: UUID, room_id: UUID, message_id: int) -> None:
        """The author (still a member) or a room admin; deleting a tombstone again is a no-op."""
        async with self.db.read(user_id) as cur:
            acc = (await access_in(cur, user_id, room_id)).require_read()
            message = await _existing(cur, user_id, room_id, message_id)
            if message.user_id == user_id:
                acc.require_post()
            else:
                acc.require_moderator()
        if not message.deleted:
            data = {"message_id": message_id}
            # its files go with it, in the same append (projections/files.py; blobs collected after)
            dropped = [
                NewEvent(EventType.FILE_DELETED, room_id, {"file_id": a["id"]}, actor_id=user_id)
                for a in message.attachments or ()
                if isinstance(a, dict) and "id" in a
            ]
            await self.store.append(NewEvent(EventType.MESSAGE_DELETED, room_id, data, actor_id=user_id), *dropped)

    async def react(self, user_id: UUID, room_id: UUID, message_id: int, emoji: str) -> None:
        await self._reaction(user_id, room_id, message_id, emoji, add=True)

    async def unreact(self, user_id: UUID, room_id: UUID, message_id: int, emoji: str) -> None:
        await self._reaction(user_id, room_id, message_id, emoji, add=False)

    async def _reaction(self, user_id: UUID, room_id: UUID, message_id: int, emoji: str, *, add: bool) -> None:
        """Members only, on a message not deleted; adding twice or removing what is not there
        appends nothing."""
        async with self.db.read(user_id) as cur:
            (await access_in(cur, user_id, room_id)).require_post()
            _alive(await _existing(cur, user_id, room_id, message_id))
            reacted, distinct = await history_queries.reaction_state(cur, room_id, message_id, emoji, user_id)
        if reacted == add:
            return
        if add and distinct >= MAX_DISTINCT_EMOJI:
            raise Conflict(f"a message takes at most {MAX_DISTINCT_EMOJI} different emoji", code="too_many_reactions")
        data = {"message_id": message_id, "emoji": emoji}
        kind = EventType.REACTION_ADDED if add else EventType.REACTION_REMOVED
        await self.store.append_one(NewEvent(kind, room_id, data, actor_id=user_id))

    async def typing(self, user_id: UUID, room_id: UUID) -> None:
        """A member is typing (services/typing.py; the caller debounces)."""
        await append_typing(self.db, self.store, user_id, room_id)

    async def mark_read(self, user_id: UUID, room_id: UUID, message_id: int) -> receipt_queries.Receipt:
        """Move the caller's marker to a message of the room; never backwards (an older message
        appends nothing and returns the marker as it is)."""
        async with self.db.read(user_id) as cur:
            (await access_in(cur, user_id, room_id)).require_post()
            await _existing(cur, user_id, room_id, message_id)
            receipt = await receipt_queries.get_receipt(cur, room_id, user_id)
        if receipt is not None and message_id <= receipt.last_read_id:
            return receipt
        await self.store.append_one(
            NewEvent(EventType.RECEIPT_READ, room_id, {"message_id": message_id}, actor_id=user_id)
        )
        async with self.db.read(user_id) as cur:
            return await receipt_queries.get_receipt(cur, room_id, user_id) or receipt_queries.Receipt(message_id, 0)

    # --- queries --------------------------------------------------------------------------------
    async def _reader(self, cur: Cursor, user_id: UUID, room_id: UUID) -> Access:
        return (await access_in(cur, user_id, room_id)).require_read()

    async def get(self, user_id: UUID, room_id: UUID, message_id: int) -> history_queries.Message:
        async with self.db.read(user_id) as cur:
            await self._reader(cur, user_id, room_id)
            return await _existing(cur, user_id, room_id, message_id)

    async def history(
        self, user_id: UUID, room_id: UUID, *, before: int | None = None, after: int | None = None, limit: int = 50
    ) -> history_queries.Page:
        async with self.db.read(user_id) as cur:
            await self._reader(cur, user_id, room_id)
            return await history_queries.page(cur, user_id, room_id, before=before, after=after, limit=limit)

    async def context(self, user_id: UUID, room_id: UUID, message_id: int, limit: int = 50) -> history_queries.Context:
        """The messages around one (jump to message)."""
        async with self.db.read(user_id) as cur:
            await self._reader(cur, user_id, room_id)
            around = await history_queries.context(cur, user_id, room_id, message_id, limit)
        if around is None:
            raise _message_not_found()
        return around

    async def thread(
        self, user_id: UUID, room_id: UUID, message_id: int, *, after: int | None = None, limit: int = 50
    ) -> tuple[history_queries.Message, history_queries.Page]:
        """A thread's root and a page of its replies; a reply's id opens the thread it is in."""
        async with self.db.read(user_id) as cur:
            await self._reader(cur, user_id, room_id)
            root = await _existing(cur, user_id, room_id, message_id)
            if root.thread_root is not None:
                root = await _existing(cur, user_id, room_id, root.thread_root)
            return root, await history_queries.thread(cur, user_id, room_id, root.id, after=after, limit=limit)

    async def my_rooms(self, user_id: UUID) -> list[receipt_queries.RoomEntry]:
        async with self.db.read(user_id) as cur:
            return await receipt_queries.my_rooms(cur, user_id)
