"""Messages, threads, reactions, read markers and unread counts as the service layer sees them,
and row-level security on their tables."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any
from uuid import UUID

import psycopg2
import pytest

from gochat.db import Database
from gochat.errors import Conflict, Forbidden, NotFound, ValidationFailed
from gochat.events import EventStore
from gochat.services.messages import MessageService
from gochat.services.rooms import RoomService


async def everyone_exists(ids: Iterable[UUID]) -> set[UUID]:
    return set(ids)


@pytest.fixture
def rooms(db: Database, store: EventStore) -> RoomService:
    return RoomService(db, store, everyone_exists)


@pytest.fixture
def messages(db: Database, store: EventStore) -> MessageService:
    return MessageService(db, store)


def users(n: int) -> list[UUID]:
    return [uuid.uuid4() for _ in range(n)]


async def new_room(rooms: RoomService, owner: UUID, type_: str = "public", members: Iterable[UUID] = ()) -> UUID:
    """A room with `members` in it: invited, then each accepting (groups: joined at once)."""
    members = list(members)
    room, _ = await rooms.create(owner, name="Room", type_=type_, members=members)
    room_id = UUID(str(room["id"]))
    if type_ != "group":
        for member in members:
            await rooms.accept(member, room_id)
    return room_id


async def post_many(messages: MessageService, user: UUID, room: UUID, n: int) -> list[int]:
    return [(await messages.post(user, room, f"message {i}")).message.id for i in range(n)]


async def unread(messages: MessageService, user: UUID, room: UUID) -> tuple[int, int]:
    entry = next(e for e in await messages.my_rooms(user) if e.room["id"] == room)
    return entry.receipt.last_read_id, entry.receipt.unread_count


# --- posting --------------------------------------------------------------------------------------
async def test_a_posted_message_is_in_history_at_once(rooms: RoomService, messages: MessageService) -> None:
    alice, bob = users(2)
    room = await new_room(rooms, alice, members=[bob])
    posted = await messages.post(alice, room, "  hello, world  ")
    assert not posted.duplicate
    assert (posted.message.content, posted.message.user_id, posted.message.room_id) == ("hello, world", alice, room)
    page = await messages.history(bob, room)
    assert [m.id for m in page.messages] == [posted.message.id]
    assert page.messages[0] == posted.message
    assert not page.has_more


async def test_a_retry_with_the_same_client_msg_id_returns_the_original(
    rooms: RoomService, messages: MessageService, store: EventStore
) -> None:
    alice = users(1)[0]
    room = await new_room(rooms, alice)
    first = await messages.post(alice, room, "once", client_msg_id="c-1")
    head = await store.head()
    again = await messages.post(alice, room, "once (retried)", client_msg_id="c-1")
    assert again.duplicate
    assert again.message.id == first.message.id
    assert again.message.content == "once"
    assert again.message.client_msg_id == "c-1"
    assert await store.head() == head
    assert len((await messages.history(alice, room)).messages) == 1


@pytest.mark.parametrize("content", ["", "   \n\t ", "x" * 4001])
async def test_empty_or_too_long_content_is_refused_and_nothing_appended(
    rooms: RoomService, messages: MessageService, store: EventStore, content: str
) -> None:
    alice = users(1)[0]
    room = await new_room(rooms, alice)
    head = await store.head()
    with pytest.raises(ValidationFailed):
        await messages.post(alice, room, content)
    assert await store.head() == head
    assert (await messages.post(alice, room, "y" * 4000 + "   ")).message.content == "y" * 4000


async def test_outsiders_cannot_post_and_private_rooms_stay_hidden(
    rooms: RoomService, messages: MessageService, store: EventStore
) -> None:
    alice, eve = users(2)
    public = await new_room(rooms, alice, "public")
    private = await new_room(rooms, alice, "private")
    head = await store.head()
    with pytest.raises(Forbidden):
        await messages.post(eve, public, "hi")
    with pytest.raises(NotFound):
        await messages.post(eve, private, "hi")
    with pytest.raises(NotFound):
        await messages.post(eve, uuid.uuid4(), "hi")
    assert await store.head() == head


async def test_private_content_reaches_no_outsider_by_any_query(rooms: RoomService, messages: MessageService) -> None:
    alice, eve = users(2)
    room = await new_room(rooms, alice, "private")
    root = (await messages.post(alice, room, "secret")).message.id
    await messages.post(alice, room, "secret reply", thread_root=root)
    for query in (
        messages.history(eve, room),
        messages.context(eve, room, root),
        messages.thread(eve, room, root),
        messages.get(eve, room, root),
        messages.mark_read(eve, room, root),
    ):
        with pytest.raises(NotFound):
            await query
    assert await messages.my_rooms(eve) == []


async def test_a_public_room_is_readable_without_joining_but_not_by_the_banned(
    rooms: RoomService, messages: MessageService
) -> None:
    alice, bob = users(2)
    room = await new_room(rooms, alice, "public")
    await messages.post(alice, room, "open to all")
    assert [m.content for m in (await messages.history(bob, room)).messages] == ["open to all"]
    await rooms.ban(alice, room, bob)
    with pytest.raises(Forbidden):
        await messages.history(bob, room)


# --- history pages --------------------------------------------------------------------------------
async def test_history_pages_follow_the_protocol(rooms: RoomService, messages: MessageService) -> None:
    alice = users(1)[0]
    room = await new_room(rooms, alice)
    ids = await post_many(messages, alice, room, 7)

    async def ids_of(**kw: Any) -> tuple[list[int], bool]:
        page = await messages.history(alice, room, **kw)
        return [m.id for m in page.messages], page.has_more

    assert await ids_of(limit=3) == (ids[4:], True)  # the newest three, ascending
    assert await ids_of(limit=3, before=ids[4]) == (ids[1:4], True)
    assert await ids_of(limit=3, before=ids[1]) == (ids[:1], False)
    assert await ids_of(limit=3, after=ids[0]) == (ids[1:4], True)  # the oldest three after it
    assert await ids_of(limit=3, after=ids[3]) == (ids[4:], False)
    assert await ids_of(limit=3, after=ids[6]) == ([], False)
    assert await ids_of(limit=7) == (ids, False)  # exactly a page: nothing more
    assert await ids_of(limit=6) == (ids[1:], True)
    assert await ids_of(limit=10, after=ids[0], before=ids[3]) == (ids[1:3], False)
    assert await ids_of(limit=1, after=ids[0], before=ids[3]) == (ids[1:2], True)


async def test_context_is_the_messages_around_one(rooms: RoomService, messages: MessageService) -> None:
    alice = users(1)[0]
    room = await new_room(rooms, alice)
    ids = await post_many(messages, alice, room, 10)
    around = await messages.context(alice, room, ids[5], limit=5)
    assert [m.id for m in around.messages] == ids[3:8]
    assert (around.has_more_before, around.has_more_after) == (True, True)
    edge = await messages.context(alice, room, ids[0], limit=5)
    assert [m.id for m in edge.messages] == ids[:3]
    assert (edge.has_more_before, edge.has_more_after) == (False, True)
    with pytest.raises(NotFound):
        await messages.context(alice, room, ids[-1] + 1000)


# --- edit and delete ------------------------------------------------------------------------------
async def test_only_the_author_edits_and_the_edit_is_stamped(rooms: RoomService, messages: MessageService) -> None:
    alice, bob = users(2)
    room = await new_room(rooms, alice, members=[bob])
    m = (await messages.post(bob, room, "teh typo")).message
    assert m.edited_at is None
    with pytest.raises(Forbidden):
        await messages.edit(alice, room, m.id, "owner rewrites")  # not even the owner
    edited = await messages.edit(bob, room, m.id, "the typo")
    assert edited.content == "the typo"
    assert edited.edited_at is not None
    assert edited.created_at == m.created_at
    with pytest.raises(NotFound):
        await messages.edit(bob, room, m.id + 1000, "nothing there")


async def test_delete_leaves_a_tombstone_without_content_or_reactions(
    rooms: RoomService, messages: MessageService, store: EventStore
) -> None:
    alice, bob, carol = users(3)
    room = await new_room(rooms, alice, members=[bob, carol])
    m = (await messages.post(bob, room, "regrettable")).message
    await messages.react(carol, room, m.id, "👍")
    with pytest.raises(Forbidden):
        await messages.delete(carol, room, m.id)  # neither author nor admin
    await messages.delete(bob, room, m.id)
    head = await store.head()
    await messages.delete(bob, room, m.id)  # again: nothing new
    assert await store.head() == head
    (tomb,) = (await messages.history(carol, room)).messages
    assert (tomb.id, tomb.user_id, tomb.created_at) == (m.id, bob, m.created_at)
    assert (tomb.deleted, tomb.content, tomb.reactions) == (True, "", ())
    with pytest.raises(Conflict):
        await messages.edit(bob, room, m.id, "undo")
    with pytest.raises(Conflict):
        await messages.react(carol, room, m.id, "👍")
    async with store.db.cursor() as cur:
        await cur.execute("SELECT count(*) FROM messages WHERE content LIKE '%%regrettable%%'")
        assert (await cur.fetchone())[0] == 0


async def test_admins_delete_anyones_message(rooms: RoomService, messages: MessageService) -> None:
    alice, bob = users(2)
    room = await new_room(rooms, alice, members=[bob])
    m = (await messages.post(bob, room, "spam")).message
    await messages.delete(alice, room, m.id)
    assert (await messages.get(bob, room, m.id)).deleted


# --- reactions ------------------------------------------------------------------------------------
async def test_reactions_are_counted_per_emoji(rooms: RoomService, messages: MessageService, store: EventStore) -> None:
    alice, bob, carol = users(3)
    room = await new_room(rooms, alice, members=[bob, carol])
    m = (await messages.post(alice, room, "lunch?")).message
    await messages.react(bob, room, m.id, "🍕")
    await messages.react(carol, room, m.id, "🍕")
    await messages.react(carol, room, m.id, ":tada:")
    head = await store.head()
    await messages.react(carol, room, m.id, ":tada:")  # twice is once
    assert await store.head() == head
    seen_by_bob = (await messages.get(bob, room, m.id)).reactions
    assert [(r.emoji, r.count, r.me) for r in seen_by_bob] == [("🍕", 2, True), (":tada:", 1, False)]
    await messages.unreact(bob, room, m.id, "🍕")
    await messages.unreact(bob, room, m.id, "🍕")
    assert [(r.emoji, r.count, r.me) for r in (await messages.get(bob, room, m.id)).reactions] == [
        ("🍕", 1, False),
        (":tada:", 1, False),
    ]
    with pytest.raises(ValidationFailed):
        await messages.react(bob, room, m.id, "not an emoji")
    with pytest.raises(NotFound):
        await messages.react(bob, room, m.id + 1000, "🍕")


# --- threads --------------------------------------------------------------------------------------
async def test_threads_are_one_level_and_counted_on_their_root(rooms: RoomService, messages: MessageService) -> None:
    alice, bob = users(2)
    room = await new_room(rooms, alice, members=[bob])
    other_room = await new_room(rooms, alice)
    root = (await messages.post(alice, room, "thoughts?")).message
    r1 = (await messages.post(bob, room, "yes", thread_root=root.id)).message
    r2 = (await messages.post(alice, room, "great", thread_root=root.id)).message
    assert r1.thread_root == root.id
    got_root, replies = await messages.thread(bob, room, root.id)
    assert (got_root.reply_count, got_root.last_reply_id) == (2, r2.id)
    assert [m.id for m in replies.messages] == [r1.id, r2.id]
    assert not replies.has_more
    assert (await messages.thread(bob, room, r1.id))[0].id == root.id  # a reply opens its thread
    _first, more = await messages.thread(bob, room, root.id, limit=1)
    assert [m.id for m in more.messages] == [r1.id]
    assert more.has_more
    with pytest.raises(ValidationFailed):
        await messages.post(bob, room, "deeper", thread_root=r1.id)
    with pytest.raises(NotFound):
        await messages.post(alice, other_room, "elsewhere", thread_root=root.id)
    await messages.delete(bob, room, r1.id)
    assert (await messages.get(bob, room, root.id)).reply_count == 1


# --- read markers and unread counts ---------------------------------------------------------------
async def test_unread_counts_follow_posts_reads_and_deletes(rooms: RoomService, messages: MessageService) -> None:
    alice, bob = users(2)
    room = await new_room(rooms, alice, members=[bob])
    ids = await post_many(messages, alice, room, 4)
    assert await unread(messages, bob, room) == (0, 4)
    assert await unread(messages, alice, room) == (ids[-1], 0)  # writing is reading
    receipt = await messages.mark_read(bob, room, ids[1])
    assert (receipt.last_read_id, receipt.unread_count) == (ids[1], 2)
    back = await messages.mark_read(bob, room, ids[0])  # never backwards
    assert (back.last_read_id, back.unread_count) == (ids[1], 2)
    await messages.delete(alice, room, ids[3])
    assert await unread(messages, bob, room) == (ids[1], 1)
    await messages.delete(alice, room, ids[0])  # already read: no change
    assert await unread(messages, bob, room) == (ids[1], 1)
    mine = (await messages.post(bob, room, "caught up")).message.id
    assert await unread(messages, bob, room) == (mine, 0)
    assert await unread(messages, alice, room) == (ids[-1], 1)


async def test_a_recount_skips_deleted_messages(rooms: RoomService, messages: MessageService) -> None:
    alice, bob = users(2)
    room = await new_room(rooms, alice, members=[bob])
    ids = await post_many(messages, alice, room, 4)
    await messages.delete(alice, room, ids[2])
    assert await unread(messages, bob, room) == (0, 3)
    receipt = await messages.mark_read(bob, room, ids[0])
    assert (receipt.last_read_id, receipt.unread_count) == (ids[0], 2)  # ids[1] and ids[3]
    assert await unread(messages, bob, room) == (ids[0], 2)


async def test_joining_starts_at_the_newest_message_and_leaving_drops_the_marker(
    rooms: RoomService, messages: MessageService
) -> None:
    alice, bob = users(2)
    room = await new_room(rooms, alice)
    ids = await post_many(messages, alice, room, 3)
    await rooms.join(bob, room)
    assert await unread(messages, bob, room) == (ids[-1], 0)
    await messages.post(alice, room, "welcome")
    assert await unread(messages, bob, room) == (ids[-1], 1)
    await rooms.leave(bob, room)
    assert all(e.room["id"] != room for e in await messages.my_rooms(bob))
    with pytest.raises(Forbidden):
        await messages.mark_read(bob, room, ids[0])


async def test_marking_a_message_of_another_room_is_not_found(
    rooms: RoomService, messages: MessageService, store: EventStore
) -> None:
    alice = users(1)[0]
    room, other = await new_room(rooms, alice), await new_room(rooms, alice)
    elsewhere = (await messages.post(alice, other, "there")).message.id
    head = await store.head()
    with pytest.raises(NotFound):
        await messages.mark_read(alice, room, elsewhere)
    assert await store.head() == head


async def test_my_rooms_lists_unread_and_the_last_message_newest_first(
    rooms: RoomService, messages: MessageService
) -> None:
    alice, bob = users(2)
    quiet = await new_room(rooms, alice, members=[bob])
    busy = await new_room(rooms, alice, members=[bob])
    await messages.post(alice, quiet, "anyone?")
    await messages.post(alice, busy, "first")
    last = (await messages.post(alice, busy, "second")).message
    entries = await messages.my_rooms(bob)
    assert [e.room["id"] for e in entries] == [busy, quiet]
    assert [e.receipt.unread_count for e in entries] == [2, 1]
    assert entries[0].last_message == last
    assert entries[0].role == "member"


# --- row-level security ---------------------------------------------------------------------------
MESSAGE_TABLES = ("messages", "reactions", "receipts")


async def test_message_tables_force_row_level_security_with_read_only_policies(db: Database) -> None:
    async with db.cursor() as cur:
        await cur.execute(
            "SELECT relname, relrowsecurity, relforcerowsecurity FROM pg_class WHERE relname = ANY(%s)",
            (list(MESSAGE_TABLES),),
        )
        flags = {r[0]: (r[1], r[2]) for r in await cur.fetchall()}
        await cur.execute(
            "SELECT tablename, cmd FROM pg_policies WHERE tablename = ANY(%s) AND 'gochat_app' = ANY(roles)",
            (list(MESSAGE_TABLES),),
        )
        app_policies = sorted(await cur.fetchall())
        await cur.execute(
            "SELECT table_name, privilege_type FROM information_schema.role_table_grants"
            " WHERE grantee = 'gochat_app' AND table_name = ANY(%s)",
            (list(MESSAGE_TABLES),),
        )
        grants = sorted(await cur.fetchall())
    assert flags == dict.fromkeys(MESSAGE_TABLES, (True, True))
    assert app_policies == [(t, "SELECT") for t in sorted(MESSAGE_TABLES)]
    assert grants == [(t, "SELECT") for t in sorted(MESSAGE_TABLES)]


async def test_queries_without_a_room_filter_see_no_foreign_rows(
    rooms: RoomService, messages: MessageService, db: Database
) -> None:
    alice, bob = users(2)
    secret = await new_room(rooms, alice, "private")
    mine = await new_room(rooms, bob, "private")
    m = (await messages.post(alice, secret, "secret")).message.id
    await messages.react(alice, secret, m, "🤫")
    await messages.post(bob, mine, "mine")
    async with db.read(bob) as cur:
        await cur.execute("SELECT DISTINCT room_id FROM messages")
        assert [r[0] for r in await cur.fetchall()] == [mine]
        await cur.execute("SELECT count(*) FROM reactions")
        assert (await cur.fetchone())[0] == 0
        await cur.execute("SELECT DISTINCT user_id FROM receipts")
        assert [r[0] for r in await cur.fetchall()] == [bob]
    async with db.read(None) as cur:  # app.user_id unset: nothing at all
        for table in MESSAGE_TABLES:
            await cur.execute(f"SELECT count(*) FROM {table}")
            assert (await cur.fetchone())[0] == 0, table
    with pytest.raises(psycopg2.Error):
        async with db.read(bob) as cur:
            await cur.execute("UPDATE messages SET content = 'x'")


@pytest.mark.parametrize("type_", ["public", "private", "group"])
async def test_the_rls_checks_follow_the_access_rules_for_every_state(
    rooms: RoomService, db: Database, type_: str
) -> None:
    owner, invited, banned, outsider = users(4)
    members = [uuid.uuid4()] if type_ == "group" else []
    room = await new_room(rooms, owner, type_, members)
    if type_ != "group":
        await rooms.add_member(owner, room, invited)
        await rooms.ban(owner, room, banned)
    public = type_ == "public"
    expected = {  # user: (gochat_can_read, gochat_can_see)
        owner: (True, True),
        outsider: (public, public),
        **({} if type_ == "group" else {invited: (public, True), banned: (False, public)}),
    }
    for user, want in expected.items():
        async with db.read(user) as cur:
            await cur.execute("SELECT gochat_can_read(%s), gochat_can_see(%s)", (room, room))
            assert await cur.fetchone() == want, user
    async with db.read(None) as cur:
        await cur.execute("SELECT gochat_can_read(%s), gochat_can_see(%s)", (room, room))
        assert await cur.fetchone() == (False, False)
