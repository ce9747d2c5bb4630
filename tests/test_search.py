"""Search over HTTP, with real users: stemming, web-search syntax, words the language would drop,
ranking, highlights, cursor pages, filters, edits and deletes, who finds what (private rooms,
former members, bans), bad input, and row-level security underneath."""

from __future__ import annotations

import base64
import uuid
from typing import Any

import pytest
from helpers import Account, signup
from room_helpers import head, make_room, ok, post, refused

from gochat.db import Database
from gochat.events import EventStore, NewEvent
from gochat.keys import DB, PROJECTIONS, SEARCH
from gochat.projections.engine import ProjectionRunner, advance
from gochat.projections.search import SearchProjection, ensure_language
from gochat.settings import Settings, SettingsError


async def room_with(client: Any, type_: str = "public") -> tuple[Account, Account, str]:
    alice, bob = await signup(client), await signup(client)
    room = await make_room(client, alice, type_, members=[bob])
    return alice, bob, room["id"]


async def indexed(client: Any) -> None:
    """The search projection follows the log (it is not inline): wait until it has everything
    appended so far, as the app's follower does a moment after each commit."""
    runner = client.app[PROJECTIONS]
    await runner.catch_up(runner.get(SearchProjection.name))


async def search(client: Any, who: Account, q: str, room: str | None = None, **params: Any) -> dict[str, Any]:
    await indexed(client)
    url = f"/rooms/{room}/search" if room else "/search"
    body: dict[str, Any] = await ok(await client.get(url, params={"q": q, **params}, headers=who.headers))
    return body


async def found(client: Any, who: Account, q: str, room: str | None = None, **params: Any) -> list[str]:
    """The contents found, in the order given."""
    return [r["content"] for r in (await search(client, who, q, room, **params))["results"]]


async def posted(client: Any, who: Account, room: str, *contents: str) -> list[dict[str, Any]]:
    return [await post(client, who, room, c) for c in contents]


# --- matching -------------------------------------------------------------------------------------
async def test_words_are_stemmed_both_ways(client: Any) -> None:
    alice, _, room = await room_with(client)
    await posted(client, alice, room, "the foxes are out", "a fox was seen", "nothing here")
    assert sorted(await found(client, alice, "fox", room)) == ["a fox was seen", "the foxes are out"]
    assert sorted(await found(client, alice, "FOXES", room)) == ["a fox was seen", "the foxes are out"]
    assert await found(client, alice, "jumping", room) == []


async def test_quotes_make_a_phrase(client: Any) -> None:
    alice, _, room = await room_with(client)
    await posted(client, alice, room, "the quick brown fox", "brown and quick, the fox")
    assert await found(client, alice, '"quick brown fox"', room) == ["the quick brown fox"]
    assert await found(client, alice, '"quick brown foxes"', room) == ["the quick brown fox"]  # stemmed too
    assert len(await found(client, alice, "quick brown fox", room)) == 2


async def test_or_finds_either_word(client: Any) -> None:
    alice, _, room = await room_with(client)
    await posted(client, alice, room, "I like cats", "I like dogs", "I like birds")
    assert sorted(await found(client, alice, "cats or dogs", room)) == ["I like cats", "I like dogs"]
    assert sorted(await found(client, alice, "cat OR dog", room)) == ["I like cats", "I like dogs"]


async def test_a_minus_excludes_every_form_of_the_word(client: Any) -> None:
    alice, _, room = await room_with(client)
    await posted(client, alice, room, "fox and dog", "fox and dogs", "fox alone")
    assert await found(client, alice, "fox -dog", room) == ["fox alone"]
    # "-dogs" also excludes "dog": the exclusion covers the word as written and its stem
    assert await found(client, alice, "fox -dogs", room) == ["fox alone"]


async def test_words_the_language_drops_still_match_as_written(client: Any) -> None:
    """English drops "was", "who", "the" as stop words; the `simple` half of the index keeps them,
    so a German sentence, a band's name, or a phrase of stop words is found."""
    alice, _, room = await room_with(client)
    await posted(client, alice, room, "Weißt du, was das ist?", "Tickets for The Who tonight", "Straße gesperrt")
    assert await found(client, alice, "was", room) == ["Weißt du, was das ist?"]
    assert await found(client, alice, '"the who"', room) == ["Tickets for The Who tonight"]
    assert await found(client, alice, "straße", room) == ["Straße gesperrt"]
    hit = (await search(client, alice, "was", room))["results"][0]
    assert "<mark>was</mark>" in hit["highlight"]


# --- ranking and highlights -----------------------------------------------------------------------
async def test_better_matches_come_first_and_recency_breaks_ties(client: Any) -> None:
    alice, _, room = await room_with(client)
    stem_only, exact, older_twin, newer_twin = await posted(
        client, alice, room, "one fox", "foxes everywhere", "zebra sighting", "zebra sighting"
    )
    results = (await search(client, alice, "foxes", room))["results"]
    assert [r["id"] for r in results] == [exact["id"], stem_only["id"]]  # the word as written outranks its stem
    assert results[0]["rank"] > results[1]["rank"]
    twins = (await search(client, alice, "zebra", room))["results"]
    assert [r["id"] for r in twins] == [newer_twin["id"], older_twin["id"]]
    assert twins[0]["rank"] == twins[1]["rank"]
    recent = (await search(client, alice, "fox", room, order="recent"))["results"]
    assert [r["id"] for r in recent] == [exact["id"], stem_only["id"]]


async def test_results_are_messages_with_an_escaped_highlight(client: Any) -> None:
    alice, bob, room = await room_with(client)
    message = await post(client, alice, room, "<b>Foxes</b> & hounds: the fox <script>")
    await ok(await client.put(f"/rooms/{room}/messages/{message['id']}/reactions/👍", headers=bob.headers))
    [hit] = (await search(client, bob, "fox", room))["results"]
    assert hit["highlight"] == "&lt;b&gt;<mark>Foxes</mark>&lt;/b&gt; &amp; hounds: the <mark>fox</mark> &lt;script&gt;"
    assert {k: v for k, v in hit.items() if k not in ("highlight", "rank", "reactions")} == {
        k: v for k, v in message.items() if k != "reactions"
    }
    assert hit["reactions"] == [{"emoji": "👍", "count": 1, "me": True}]
    assert hit["rank"] > 0


async def test_a_long_message_is_highlighted_around_the_match(client: Any) -> None:
    alice, _, room = await room_with(client)
    filler = " ".join(["lorem ipsum dolor sit amet"] * 60)
    await post(client, alice, room, f"{filler} the needle is here {filler}")
    [hit] = (await search(client, alice, "needle", room))["results"]
    assert "<mark>needle</mark>" in hit["highlight"]
    assert len(hit["highlight"]) < 400 < len(hit["content"])


# --- pages and filters ----------------------------------------------------------------------------
async def test_cursor_pages_have_no_duplicates_and_no_gaps(client: Any) -> None:
    alice, _, room = await room_with(client)
    # ranks repeat (same texts) and differ (lengths), so pages end inside runs of ties too
    ids = [m["id"] for m in await posted(client, alice, room, *[f"apple {'pie ' * (i % 4)}" for i in range(23)])]
    everything = await search(client, alice, "apple", room, limit=100)
    assert everything["next_cursor"] is None
    expected = [r["id"] for r in everything["results"]]
    assert sorted(expected) == sorted(ids)
    seen: list[int] = []
    cursor: str | None = None
    pages = 0
    while True:
        params = {"limit": 5, **({"cursor": cursor} if cursor else {})}
        page = await search(client, alice, "apple", room, **params)
        seen += [r["id"] for r in page["results"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == expected
    assert pages == 5


async def test_filters_by_room_sender_and_dates(client: Any) -> None:
    alice, bob, room = await room_with(client)
    other = (await make_room(client, alice, "public"))["id"]
    first = await post(client, alice, room, "meeting notes one")
    second = await post(client, bob, room, "meeting notes two")
    third = await post(client, alice, other, "meeting notes three")
    everywhere = await search(client, alice, "meeting")
    assert {r["id"] for r in everywhere["results"]} == {first["id"], second["id"], third["id"]}
    assert {r["room_id"] for r in everywhere["results"]} == {room, other}
    assert await found(client, alice, "meeting", room_id=other) == ["meeting notes three"]
    assert sorted(await found(client, alice, "meeting", user_id=str(alice.id))) == [
        "meeting notes one",
        "meeting notes three",
    ]
    assert await found(client, alice, "meeting", room, user_id=str(bob.id)) == ["meeting notes two"]
    since, until = second["timestamp"], third["timestamp"]
    assert await found(client, alice, "meeting", since=since, until=until) == ["meeting notes two"]
    assert await found(client, alice, "meeting", room, until=second["timestamp"]) == ["meeting notes one"]
    assert await found(client, alice, "meeting", before=second["id"]) == ["meeting notes one"]


# --- the index follows the log --------------------------------------------------------------------
async def test_an_edit_re_indexes_and_a_delete_removes(client: Any) -> None:
    alice, _, room = await room_with(client)
    message = await post(client, alice, room, "apple pie recipe")
    url = f"/rooms/{room}/messages/{message['id']}"
    await ok(await client.patch(url, json={"content": "banana bread recipe"}, headers=alice.headers))
    assert await found(client, alice, "apple", room) == []
    assert await found(client, alice, "banana", room) == ["banana bread recipe"]
    await ok(await client.delete(url, headers=alice.headers), 204)
    assert await found(client, alice, "recipe", room) == []
    async with client.app[DB].cursor() as cur:
        await cur.execute("SELECT count(*) FROM message_search WHERE message_id = %s", (message["id"],))
        assert (await cur.fetchone())[0] == 0


async def test_a_search_appends_nothing(client: Any) -> None:
    alice, _, room = await room_with(client)
    await post(client, alice, room, "hello world")
    before = await head(client)
    await search(client, alice, "hello", room)
    await search(client, alice, "hello")
    assert await head(client) == before


# --- who finds what -------------------------------------------------------------------------------
@pytest.mark.parametrize("type_", ["private", "group"])
async def test_a_closed_room_is_never_found_by_outsiders(client: Any, type_: str) -> None:
    alice, bob, room = await room_with(client, type_)
    eve = await signup(client)
    await post(client, alice, room, "the secret plan")
    assert await found(client, bob, "secret") == ["the secret plan"]
    assert await found(client, eve, "secret") == []
    await refused(client, client.get(f"/rooms/{room}/search", params={"q": "secret"}, headers=eve.headers), 404)
    await refused(client, client.get("/search", params={"q": "secret", "room_id": room}, headers=eve.headers), 404)


async def test_former_members_find_nothing_of_a_private_room(client: Any) -> None:
    alice, bob, room = await room_with(client, "private")
    await post(client, alice, room, "roadmap draft")
    assert await found(client, bob, "roadmap") == ["roadmap draft"]
    await ok(await client.post(f"/rooms/{room}/leave", json={}, headers=bob.headers), 204)
    assert await found(client, bob, "roadmap") == []
    await refused(client, client.get(f"/rooms/{room}/search", params={"q": "roadmap"}, headers=bob.headers), 404)


async def test_public_rooms_are_searched_by_all_but_the_banned(client: Any) -> None:
    alice, bob, room = await room_with(client, "public")
    carol, eve = await signup(client), await signup(client)
    await post(client, alice, room, "release party on friday")
    await ok(await client.post(f"/rooms/{room}/leave", json={}, headers=bob.headers), 204)
    assert await found(client, bob, "party") == ["release party on friday"]  # left: still public to them
    assert await found(client, carol, "party") == ["release party on friday"]  # never joined
    assert await found(client, carol, "party", room) == ["release party on friday"]
    await ok(await client.post(f"/rooms/{room}/bans/{eve.id}", json={"reason": "spam"}, headers=alice.headers), 204)
    assert await found(client, eve, "party") == []
    await refused(
        client, client.get(f"/rooms/{room}/search", params={"q": "party"}, headers=eve.headers), 403, "banned"
    )


# --- bad input ------------------------------------------------------------------------------------
def as_cursor(text: str) -> str:
    """A cursor as the server encodes one (url-safe base64 of JSON, unpadded)."""
    return base64.urlsafe_b64encode(text.encode()).rstrip(b"=").decode()


async def test_bad_queries_are_422_and_append_nothing(client: Any) -> None:
    alice, _, room = await room_with(client)
    for params in (
        {},
        {"q": ""},
        {"q": "   "},
        {"q": "x" * 257},
        {"q": "a\x00b"},
        {"q": "fox", "limit": "0"},
        {"q": "fox", "limit": "101"},
        {"q": "fox", "limit": "ten"},
        {"q": "fox", "cursor": "not a cursor"},
        {"q": "fox", "cursor": "WzEsIC0xXQ"},  # [1, -1]
        {"q": "fox", "cursor": as_cursor("[1e308, 5]")},  # beyond a real, the rank's type
        {"q": "fox", "cursor": as_cursor("[" + "9" * 400 + ", 5]")},  # a rank no float holds
        {"q": "fox", "cursor": as_cursor("[1, " + "9" * 30 + "]")},  # beyond a bigint
        {"q": "fox", "before": "²"},
        {"q": "fox", "limit": "²"},
        {"q": "fox", "since": "yesterday"},
        {"q": "fox", "user_id": "bob"},
        {"q": "fox", "order": "random"},
    ):
        await refused(client, client.get(f"/rooms/{room}/search", params=params, headers=alice.headers), 422)
    await refused(client, client.get("/search", params={"q": ""}, headers=alice.headers), 422)
    await refused(client, client.get("/search", params={"q": "fox"}), 401)
    await refused(client, client.get(f"/rooms/{uuid.uuid4()}/search", params={"q": "x"}, headers=alice.headers), 404)
    assert (await search(client, alice, "x" * 256, room))["results"] == []


async def test_any_string_is_just_text(client: Any) -> None:
    alice, _, room = await room_with(client)
    await posted(client, alice, room, "drop table messages now", "it's a back\\slash")
    for q in ("'; DROP TABLE messages; --", "&|!():*", "\\", "'", '"', "-", "<->", "a:*", "--", "))((", "‮evil"):
        await search(client, alice, q, room)
        await search(client, alice, q)
    assert await found(client, alice, "'; DROP TABLE messages; --", room) == ["drop table messages now"]
    assert await found(client, alice, "&|!():*", room) == []
    assert await found(client, alice, "-drop", room) == []  # nothing to look for, only to exclude
    assert await found(client, alice, "it's", room) == ["it's a back\\slash"]
    assert len(await found(client, alice, "drop or slash", room)) == 2


# --- row-level security and the SQL underneath ----------------------------------------------------
async def test_message_search_forces_row_level_security(db: Database) -> None:
    async with db.cursor() as cur:
        await cur.execute("SELECT relrowsecurity, relforcerowsecurity FROM pg_class WHERE relname = 'message_search'")
        assert await cur.fetchone() == (True, True)
        await cur.execute(
            "SELECT cmd FROM pg_policies WHERE tablename = 'message_search' AND 'gochat_app' = ANY(roles)"
        )
        assert await cur.fetchall() == [("SELECT",)]
        await cur.execute(
            "SELECT privilege_type FROM information_schema.role_table_grants"
            " WHERE grantee = 'gochat_app' AND table_name = 'message_search'"
        )
        assert await cur.fetchall() == [("SELECT",)]


async def test_filterless_queries_see_nothing_of_a_private_room(client: Any) -> None:
    alice, bob, room = await room_with(client, "private")
    eve = await signup(client)
    await post(client, alice, room, "confidential numbers")
    await indexed(client)
    db = client.app[DB]
    for who, expected in ((bob.id, 1), (eve.id, 0), (None, 0)):
        async with db.read(who) as cur:
            await cur.execute("SELECT count(*) FROM message_search")
            assert (await cur.fetchone())[0] == expected, who
            # even the index function, asked for the room by name
            await cur.execute(
                "SELECT count(*) FROM gochat_search_hits(to_tsquery('confidential'), %s, NULL, NULL, NULL, NULL,"
                " NULL, NULL, false, 10)",
                (room,),
            )
            assert (await cur.fetchone())[0] == expected, who


@pytest.mark.parametrize("type_", ["public", "private", "group"])
async def test_readable_rooms_follow_gochat_can_read_in_every_state(client: Any, type_: str) -> None:
    owner, member, room = await room_with(client, type_)
    invited, banned, outsider, leaver = [await signup(client) for _ in range(4)]
    if type_ != "group":
        for who in (invited, banned, leaver):
            await ok(await client.post(f"/rooms/{room}/members", json={"user_id": str(who.id)}, headers=owner.headers))
        await ok(await client.post(f"/rooms/{room}/join", json={}, headers=leaver.headers))
        await ok(await client.post(f"/rooms/{room}/leave", json={}, headers=leaver.headers), 204)
        await ok(await client.post(f"/rooms/{room}/bans/{banned.id}", json={}, headers=owner.headers), 204)
    for who in (owner, member, invited, banned, outsider, leaver):
        async with client.app[DB].read(who.id) as cur:
            await cur.execute("SELECT gochat_can_read(%s), %s IN (SELECT gochat_readable_rooms())", (room, room))
            can_read, listed = await cur.fetchone()
            assert can_read == listed, who.username


async def indexed_authors(db: Database) -> list[uuid.UUID]:
    async with db.cursor() as cur:
        await cur.execute("SELECT user_id FROM message_search ORDER BY message_id")
        return [r[0] for r in await cur.fetchall()]


async def test_erasing_a_user_removes_what_they_wrote_and_a_rebuild_keeps_it_out(
    db: Database, store: EventStore
) -> None:
    room, alice, bob = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    for n, user in enumerate((alice, bob)):
        names = {"username": f"user{n}", "username_norm": f"user{n}", "display_name": f"U{n}"}
        await store.append_one(NewEvent("user.registered", user, names))
    await store.append_one(NewEvent("room.created", room, {"name": "r", "type": "public", "topic": ""}, actor_id=bob))
    for user in (alice, bob, alice):
        await store.append_one(NewEvent("message.posted", room, {"content": "my secret"}, actor_id=user))
    search = SearchProjection()
    runner = ProjectionRunner(db, store, [search])
    await runner.catch_up(search)
    assert await indexed_authors(db) == [alice, bob, alice]
    await store.append_one(NewEvent("user.erased", alice, {}, actor_id=alice))
    await runner.catch_up(search)
    assert await indexed_authors(db) == [bob]
    async with db.transaction() as cur:  # rebuild from zero: the users table already says "erased"
        await cur.execute("TRUNCATE message_search")
        await advance(cur, [search.name], 0)
    await runner.catch_up(search)
    assert await indexed_authors(db) == [bob]


# --- language -------------------------------------------------------------------------------------
async def german_matches(db: Database) -> int:
    """Messages that "Haus" finds with German stems ("Häuser" is one)."""
    async with db.cursor() as cur:
        await cur.execute("SELECT count(*) FROM message_search WHERE tsv @@ gochat_search_query('german', 'Haus')")
        return int((await cur.fetchone())[0])


async def test_a_new_language_re_indexes_the_log(db: Database, store: EventStore) -> None:
    room, user = uuid.uuid4(), uuid.uuid4()
    await store.append_one(NewEvent("room.created", room, {"name": "r", "type": "public", "topic": ""}, actor_id=user))
    await store.append_one(NewEvent("message.posted", room, {"content": "Die Häuser brennen"}, actor_id=user))
    assert await ensure_language(db, "english") is False
    english = SearchProjection("english")
    await ProjectionRunner(db, store, [english]).catch_up(english)
    assert await german_matches(db) == 0  # English does not stem "Häuser" to "haus"
    assert await ensure_language(db, "english") is False
    assert await german_matches(db) == 0
    assert await ensure_language(db, "german") is True
    async with db.cursor() as cur:
        await cur.execute("SELECT count(*) FROM message_search")
        assert (await cur.fetchone())[0] == 0
    german = SearchProjection("german")
    await ProjectionRunner(db, store, [german]).catch_up(german)
    assert await german_matches(db) == 1
    with pytest.raises(ValueError):
        await ensure_language(db, "klingon")


def test_the_language_setting_must_be_a_configuration_name() -> None:
    base = {"JWT_SECRET": "s" * 40}
    assert Settings.from_env(base).search_language == "english"
    assert Settings.from_env({**base, "GOCHAT_SEARCH_LANGUAGE": "pg_catalog.german"}).search_language == (
        "pg_catalog.german"
    )
    with pytest.raises(SettingsError, match="GOCHAT_SEARCH_LANGUAGE"):
        Settings.from_env({**base, "GOCHAT_SEARCH_LANGUAGE": "english'; --"})


async def test_the_service_is_wired_with_the_configured_language(client: Any) -> None:
    assert client.app[SEARCH].language == "english"


async def test_a_large_room_is_searched_through_the_index_with_the_same_answers(
    db: Database, store: EventStore
) -> None:
    """Rooms under 2,000 messages are scanned, larger ones go through the GIN index: same rows."""
    small, large, user = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    for room in (small, large):
        data = {"name": "r", "type": "public", "topic": ""}
        await store.append_one(NewEvent("room.created", room, data, actor_id=user))
    async with db.transaction() as cur:
        await cur.execute(
            "INSERT INTO message_search SELECT r.room, g, NULL, now(),"
            " gochat_search_document('english', CASE WHEN g %% 7 = 0 THEN 'foxes ' || g ELSE 'hounds ' || g END)"
            " FROM (VALUES (%s::uuid, 1500), (%s::uuid, 2500)) AS r(room, n), generate_series(1, r.n) AS g",
            (small, large),
        )
    async with db.read(user) as cur:
        for room, n in ((small, 1500), (large, 2500)):
            expected = [g for g in range(n, 0, -1) if g % 7 == 0][:50]
            await cur.execute(
                "SELECT message_id FROM gochat_search_hits(gochat_search_query('english', 'fox'), %s,"
                " NULL, NULL, NULL, NULL, NULL, NULL, true, 50)",
                (room,),
            )
            assert [r[0] for r in await cur.fetchall()] == expected, n
