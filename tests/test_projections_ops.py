"""`gochat projections status|rebuild`: rebuilding into shadow tables under live traffic, resuming
an interrupted rebuild, the swap keeping row-level security and grants, and the status report."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import pytest
from conftest import FreshDb, run_cli
from test_projection_equivalence import RandomLog, copy_log

from gochat.db import Database
from gochat.events import EventStore, NewEvent, build_registry
from gochat.projections.catalog import all_projections
from gochat.projections.engine import InlineProjections, ProjectionRunner
from gochat.projections.rebuild import Rebuild, RebuildError, target
from gochat.projections.status import lags

SECRET = "projections-ops-secret-" + "x" * 32


# --- helpers --------------------------------------------------------------------------------------
async def dump(db: Database, schema: str = "public") -> dict[str, list[str]]:
    """Every projection table of `schema`, row by row, sorted."""
    tables: dict[str, list[str]] = {}
    async with db.cursor() as cur:
        for projection in all_projections():
            for table in projection.tables:
                await cur.execute(f"SELECT to_jsonb(t)::text FROM {schema}.{table} t ORDER BY 1")
                tables[table] = [r[0] for r in await cur.fetchall()]
    return tables


async def settled(db: Database) -> dict[str, list[str]]:
    """The live tables once followed projections (search) caught up, as the server's follower does."""
    runner = ProjectionRunner(db, EventStore(db, build_registry()), all_projections())
    for projection in runner.projections:
        await runner.catch_up(projection)
    return await dump(db)


async def rebuilt_from_zero(source: Database, fresh_db: FreshDb, until: int | None = None) -> dict[str, list[str]]:
    """The projection tables a plain catch-up from zero gives, on a copy of `source`'s log."""
    other = await fresh_db()
    await copy_log(source, other)
    runner = ProjectionRunner(other, EventStore(other, build_registry()), all_projections())
    for projection in runner.projections:
        await runner.catch_up(projection, until=until)
    return await dump(other)


async def catalog(db: Database) -> dict[str, list[tuple[Any, ...]]]:
    """What a swap must keep: policies, grants, row-level security, owners, index and constraint names."""
    queries = {
        "policies": "SELECT tablename, policyname, permissive, roles::text, cmd, qual, with_check FROM pg_policies"
        " WHERE schemaname = 'public'",
        "tables": "SELECT relname, relacl::text, relrowsecurity, relforcerowsecurity, pg_get_userbyid(relowner)"
        " FROM pg_class WHERE relnamespace = 'public'::regnamespace AND relkind = 'r'",
        "indexes": "SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'",
        "constraints": "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint"
        " WHERE connamespace = 'public'::regnamespace",
    }
    found = {}
    async with db.cursor() as cur:
        for name, sql in queries.items():
            await cur.execute(sql + " ORDER BY 1, 2")
            found[name] = [tuple(r) for r in await cur.fetchall()]
    return found


async def append_random(store: EventStore, log: RandomLog, n: int) -> int:
    last = 0
    for _ in range(n):
        event = log.next_event()
        last = (await store.append_one(event)).event.id
        log.appended(event, last)
    return last


async def checkpoints(db: Database) -> dict[str, int]:
    async with db.cursor() as cur:
        await cur.execute("SELECT name, position FROM projection_checkpoints")
        return {n: int(p) for n, p in await cur.fetchall()}


class Traffic:
    """Appends a random log through the store (inline projections, as the server) until stopped."""

    def __init__(self, store: EventStore, log: RandomLog) -> None:
        self.store, self.log = store, log
        self.ids: list[int] = []
        self.stop = asyncio.Event()
        self.task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while not self.stop.is_set():
            self.ids.append(await append_random(self.store, self.log, 1))
            await asyncio.sleep(0)

    async def finish(self) -> None:
        self.stop.set()
        await self.task


# --- rebuild ----------------------------------------------------------------------------------------
async def test_a_rebuild_under_live_traffic_loses_no_event_and_equals_a_rebuild_from_zero(
    store: EventStore, db: Database, fresh_db: FreshDb
) -> None:
    log = RandomLog(seed=7)
    before = await append_random(store, log, 1200)
    shape = await catalog(db)
    traffic = Traffic(store, log)
    rebuild = Rebuild(db, EventStore(db, build_registry()), target(all_projections(), "all"), page=50, keep_old=True)
    outcome = await rebuild.run()
    after_swap = len(traffic.ids)
    await eventually_more(traffic, after_swap + 20)
    await traffic.finish()

    assert outcome.swapped
    head = await store.head()
    # the test did what it says: events committed while the rebuild ran, and after its swap
    assert any(before < i <= outcome.position for i in traffic.ids)
    assert any(i > outcome.position for i in traffic.ids)
    # the tables swapped in, kept current inline since, equal a rebuild from zero of the whole log
    assert await settled(db) == await rebuilt_from_zero(db, fresh_db)
    # and the inline tables they replaced were, at the swap, what a rebuild from zero gives there
    replaced, expected = await dump(db, "gochat_old_all"), await rebuilt_from_zero(db, fresh_db, outcome.position)
    inline = [t for p in all_projections() if p.inline for t in p.tables]
    assert {t: replaced[t] for t in inline} == {t: expected[t] for t in inline}
    positions = await checkpoints(db)
    assert {p.name: positions[p.name] for p in all_projections()} == {p.name: head for p in all_projections()}
    assert "rebuild:all" not in positions
    assert await catalog(db) == shape


async def eventually_more(traffic: Traffic, n: int) -> None:
    for _ in range(3000):
        if len(traffic.ids) >= n or traffic.task.done():
            return
        await asyncio.sleep(0.01)


async def test_a_stopped_rebuild_resumes_where_it_stopped(store: EventStore, db: Database, fresh_db: FreshDb) -> None:
    await append_random(store, RandomLog(seed=3), 800)
    history = target(all_projections(), "history")
    stop = asyncio.Event()

    class StopAfterTwoPages:
        pages = 0

        def begin(self, after: int, upto: int) -> None:
            pass

        def advance(self, position: int, events: int) -> None:
            self.pages += 1
            if self.pages == 2:
                stop.set()

    first = await Rebuild(db, store, history, page=40, progress=StopAfterTwoPages()).run(stop)
    assert not first.swapped
    assert 0 < first.position < await store.head()
    assert (await checkpoints(db))["rebuild:history"] == first.position
    live = await settled(db)

    second = await Rebuild(db, store, history, page=40).run()
    assert second.swapped
    assert second.started_at == first.position
    async with db.cursor() as cur:  # it applied what was left, not the whole log again
        await cur.execute(
            "SELECT count(*) FROM events WHERE id > %s AND type = ANY(%s)", (first.position, list(history.handles))
        )
        assert second.events == (await cur.fetchone())[0]
    assert await settled(db) == live == await rebuilt_from_zero(db, fresh_db)


async def test_a_rebuild_cancelled_mid_page_resumes_from_its_last_committed_page(
    store: EventStore, db: Database, fresh_db: FreshDb
) -> None:
    await append_random(store, RandomLog(seed=4), 800)
    history = target(all_projections(), "history")

    two_pages = asyncio.Event()

    class AfterTwoPages:
        def begin(self, after: int, upto: int) -> None:
            pass

        def advance(self, position: int, events: int) -> None:
            if events >= 40:
                two_pages.set()

    task = asyncio.create_task(Rebuild(db, store, history, page=20, progress=AfterTwoPages()).run())
    await two_pages.wait()
    # Ctrl-C lands wherever the task is; asyncio.wait_for (aiopg's queries) may swallow one cancel
    # that races a query's completion, so keep asking until the task is done.
    while not task.done():
        task.cancel()
        await asyncio.sleep(0)
    with pytest.raises(asyncio.CancelledError):
        await task
    stopped_at = (await checkpoints(db))["rebuild:history"]
    assert 0 < stopped_at < await store.head()

    resumed = await Rebuild(db, store, history, page=500).run()
    assert resumed.started_at == stopped_at
    assert await settled(db) == await rebuilt_from_zero(db, fresh_db)


async def test_rebuilding_rooms_keeps_other_tables_policies_working(store: EventStore, db: Database) -> None:
    """messages' read policy names memberships: after memberships is swapped, members still read
    their rooms' messages as the app role, outsiders still read nothing."""
    owner, outsider, room = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    await store.append(
        NewEvent("room.created", room, {"name": "Private", "type": "private"}, actor_id=owner),
        NewEvent("member.joined", room, {"user_id": str(owner), "role": "owner"}, actor_id=owner),
        NewEvent("message.posted", room, {"content": "secret"}, actor_id=owner),
    )
    shape = await catalog(db)
    await Rebuild(db, store, target(all_projections(), "rooms")).run()
    assert await catalog(db) == shape

    async def visible(user: uuid.UUID) -> list[str]:
        async with db.read(user) as cur:
            await cur.execute("SELECT content FROM messages")
            return [r[0] for r in await cur.fetchall()]

    assert await visible(owner) == ["secret"]
    assert await visible(outsider) == []


async def test_a_rebuild_refuses_a_projection_table_with_a_view_on_it(store: EventStore, db: Database) -> None:
    async with db.cursor() as cur:
        await cur.execute("CREATE VIEW online_users AS SELECT user_id FROM presence WHERE status = 'online'")
    with pytest.raises(RebuildError, match="a view on presence"):
        await Rebuild(db, store, target(all_projections(), "presence")).run()


async def test_the_follower_polls_with_one_read_and_opens_no_transaction_while_at_the_head(
    store: EventStore, db: Database
) -> None:
    followers = ProjectionRunner(db, store, [p for p in all_projections() if not p.inline])
    for projection in followers.projections:
        await followers.catch_up(projection)
    caught_up: list[str] = []
    catch_up_together = followers.catch_up_together

    async def counting(projections: Any, until: int | None = None) -> int:
        caught_up.extend(p.name for p in projections)
        return await catch_up_together(projections, until)

    followers.catch_up_together = counting  # type: ignore[method-assign]
    followers.start_follower(interval=0.01)
    try:
        await asyncio.sleep(0.3)  # some 20 polls
        assert caught_up == []
        await append_random(store, RandomLog(seed=5), 20)
        names = [p.name for p in followers.projections]
        for _ in range(200):
            if not any((await lags(db, names)).values()):
                break
            await asyncio.sleep(0.02)
        assert not any((await lags(db, names)).values())
        assert set(caught_up) == set(names)
    finally:
        await followers.stop()


async def test_a_follower_that_fails_holds_back_none_of_the_others(store: EventStore, db: Database) -> None:
    followers = ProjectionRunner(db, store, [p for p in all_projections() if not p.inline])
    broken = followers.get("search")

    async def fail(cur: Any, events: Any) -> None:
        raise RuntimeError("a broken projection")

    broken.apply_batch = fail  # type: ignore[method-assign]
    await append_random(store, RandomLog(seed=13), 200)
    others = [p.name for p in followers.projections if p is not broken]
    followers.start_follower(interval=0.01)
    try:
        for _ in range(300):
            if not any((await lags(db, others)).values()):
                break
            await asyncio.sleep(0.02)
        assert not any((await lags(db, others)).values())
        assert (await lags(db, ["search"]))["search"] > 0
    finally:
        await followers.stop()


async def test_followers_caught_up_together_equal_each_caught_up_alone(
    store: EventStore, db: Database, fresh_db: FreshDb
) -> None:
    await append_random(store, RandomLog(seed=11), 700)
    followers = ProjectionRunner(db, store, [p for p in all_projections() if not p.inline], page=97)
    heard: dict[str, list[tuple[int, int]]] = {}

    async def listener(projection: Any, after: int, upto: int) -> None:
        heard.setdefault(projection.name, []).append((after, upto))

    await followers.catch_up(followers.get("search"), until=350)  # followers at different checkpoints
    await followers.catch_up(followers.get("notifications"), until=120)
    followers.listeners.append(listener)
    applied: dict[str, list[int]] = {}
    for projection in followers.projections:
        apply_batch = projection.apply_batch

        async def recording(cur: Any, events: Any, name: str = projection.name, apply: Any = apply_batch) -> None:
            applied.setdefault(name, []).extend(e.id for e in events)
            await apply(cur, events)

        projection.apply_batch = recording  # type: ignore[method-assign]
    await followers.catch_up_together(followers.projections)
    started = {"search": 350, "notifications": 120}
    async with db.cursor() as cur:
        for projection in followers.projections:  # each handled event past its checkpoint, once, in order
            await cur.execute(
                "SELECT id FROM events WHERE id > %s AND type = ANY(%s) ORDER BY id",
                (started.get(projection.name, 0), list(projection.handles)),
            )
            assert applied.get(projection.name, []) == [r[0] for r in await cur.fetchall()], projection.name
    assert await dump(db) == await rebuilt_from_zero(db, fresh_db)
    assert not any((await lags(db, [p.name for p in followers.projections])).values())
    for name, ranges in heard.items():  # told each page once, in order, none overlapping
        assert all(a < u for a, u in ranges), name
        assert all(ranges[i][1] <= ranges[i + 1][0] for i in range(len(ranges) - 1)), name
    assert set(heard) == {p.name for p in followers.projections}


async def test_followers_and_a_rebuild_need_one_connection_each(
    store: EventStore, database_url: str, fresh_db: FreshDb
) -> None:
    """A page is read with the connection of the transaction it is applied in: a catch-up that
    held one connection and waited for a second would wait on itself once the pool was full
    (seen: a pool of two, taken by a request and a follower, stood still until the timeout)."""
    await append_random(store, RandomLog(seed=17), 500)
    one = await Database.connect(database_url, minsize=0, maxsize=1, acquire_timeout=2.0)
    try:
        alone = EventStore(one, build_registry(), sealer=store.sealer)
        followers = ProjectionRunner(one, alone, [p for p in all_projections() if not p.inline], page=60)
        await followers.catch_up_together(followers.projections)
        assert not any((await lags(one, [p.name for p in followers.projections])).values())
        rebuilt = await Rebuild(one, alone, target(all_projections(), "history"), page=60).run()
        assert rebuilt.swapped
        assert await dump(one) == await rebuilt_from_zero(one, fresh_db)
    finally:
        await one.close()


def test_an_unknown_projection_is_refused() -> None:
    with pytest.raises(RebuildError, match="unknown projection 'histroy'"):
        target(all_projections(), "histroy")


# --- the commands -----------------------------------------------------------------------------------
def seed(database_url: str, *, inline: list[NewEvent], not_applied: list[NewEvent]) -> None:
    """Append `inline` with the projections applied, then `not_applied` past them (a lag)."""

    async def go() -> None:
        db = await Database.connect(database_url, minsize=1, maxsize=4)
        for events, projected in ((inline, True), (not_applied, False)):
            store = EventStore(db, build_registry())
            if projected:
                store.inline.append(InlineProjections(store, all_projections()))
            store.start()
            await store.append(*events)
            await store.close()
        await db.close()

    asyncio.run(go())


@pytest.fixture
def seeded(database_url: str, monkeypatch: pytest.MonkeyPatch) -> uuid.UUID:
    """A room with two messages and a reaction, projected; then three events the projections lack."""
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("JWT_SECRET", SECRET)
    room, alice = uuid.uuid4(), uuid.uuid4()
    seed(
        database_url,
        inline=[
            NewEvent("room.created", room, {"name": "General", "type": "public"}, actor_id=alice),
            NewEvent("member.joined", room, {"user_id": str(alice), "role": "owner"}, actor_id=alice),
            NewEvent("message.posted", room, {"content": "one"}, actor_id=alice),
            NewEvent("message.posted", room, {"content": "two"}, actor_id=alice),
            NewEvent("reaction.added", room, {"message_id": 3, "emoji": "👍"}, actor_id=alice),
        ],
        not_applied=[
            NewEvent("message.posted", room, {"content": "three"}, actor_id=alice),
            NewEvent("typing.started", room, {}, actor_id=alice),
            NewEvent("message.edited", room, {"message_id": 4, "content": "two!"}, actor_id=alice),
        ],
    )
    return room


def test_status_shows_each_projections_checkpoint_lag_and_rows(
    seeded: uuid.UUID, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run_cli(capsys, "projections", "status", "--format", "json")
    assert code == 0
    report = json.loads(out)
    assert report["head"] == 8
    by_name = {p["name"]: p for p in report["projections"]}
    assert set(by_name) == {p.name for p in all_projections()}
    assert (by_name["history"]["position"], by_name["history"]["lag"]) == (5, 3)
    assert by_name["history"]["rows"] == {"messages": 2, "reactions": 1}
    assert by_name["rooms"]["rows"] == {"rooms": 1, "memberships": 1}
    assert by_name["presence"]["rows"] == {"presence": 0}
    assert report["rebuilds"] == []


def test_status_as_a_table(seeded: uuid.UUID, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "projections", "status", "--format", "table")
    assert code == 0
    assert "log head 8" in out
    assert "messages" in out
    assert "reactions" in out


def test_rebuild_command_catches_up_and_swaps_then_status_shows_no_lag(
    seeded: uuid.UUID, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run_cli(capsys, "projections", "rebuild", "history", "--page", "2")
    assert code == 0, err
    assert out.startswith("rebuilt history up to position 8: 5 events in ")
    _, out, _ = run_cli(capsys, "projections", "status", "--format", "json")
    history = next(p for p in json.loads(out)["projections"] if p["name"] == "history")
    assert (history["position"], history["lag"], history["rows"]) == (8, 0, {"messages": 3, "reactions": 1})


def test_rebuild_command_refuses_an_unknown_name_and_discards_an_interrupted_rebuild(
    seeded: uuid.UUID, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run_cli(capsys, "projections", "rebuild", "everything")
    assert code == 2
    assert "unknown projection 'everything'" in err

    async def interrupted() -> None:
        db = await Database.connect(database_url, minsize=1, maxsize=2)
        await Rebuild(db, EventStore(db, build_registry()), target(all_projections(), "receipts")).prepare()
        await db.close()

    asyncio.run(interrupted())
    _, out, _ = run_cli(capsys, "projections", "status", "--format", "json")
    assert json.loads(out)["rebuilds"] == [{"name": "receipts", "position": 0, "lag": 8}]
    code, out, _ = run_cli(capsys, "projections", "rebuild", "receipts", "--discard")
    assert (code, out) == (0, "discarded the interrupted rebuild of receipts\n")
    _, out, _ = run_cli(capsys, "projections", "status", "--format", "json")
    assert json.loads(out)["rebuilds"] == []


async def test_inline_projections_fill_what_a_writer_without_them_appended(db: Database, fresh_db: FreshDb) -> None:
    """A store without inline projections (a tool, an older node) leaves them behind; the next
    append through the server's store projects the gap from the log first, with or without a plan."""
    room, user = uuid.uuid4(), uuid.uuid4()

    async def without_projections(*events: NewEvent) -> None:
        bare = EventStore(db, build_registry())
        bare.start()
        try:
            for event in events:
                await bare.append_one(event)
        finally:
            await bare.close()

    await without_projections(
        NewEvent("room.created", room, {"name": "gap", "type": "public"}, actor_id=user),
        NewEvent("member.joined", room, {"user_id": str(user), "role": "owner"}, actor_id=user),
        *(NewEvent("message.posted", room, {"content": f"unprojected {i}"}, actor_id=user) for i in range(5)),
    )
    store = EventStore(db, build_registry())
    store.inline.append(InlineProjections(store, all_projections()))
    store.start()
    try:
        # a post alone: the call that would project it finds the projections behind (GC001), writes
        # nothing, and is sent again in a transaction whose projections fill the gap first
        await store.append_one(NewEvent("message.posted", room, {"content": "projected"}, actor_id=user))
        await without_projections(NewEvent("message.posted", room, {"content": "unprojected 5"}, actor_id=user))
        # the same with a plan (an expected version)
        await store.append_one(NewEvent("message.posted", room, {"content": "also"}, actor_id=user, expected_version=9))
    finally:
        await store.close()

    async with db.cursor() as cur:
        await cur.execute("SELECT content FROM messages WHERE room_id = %s ORDER BY id", (room,))
        unprojected = [f"unprojected {i}" for i in range(5)]
        assert [r[0] for r in await cur.fetchall()] == [*unprojected, "projected", "unprojected 5", "also"]
    live = {k: v for k, v in (await dump(db)).items() if k != "message_search"}
    rebuilt = {k: v for k, v in (await rebuilt_from_zero(db, fresh_db)).items() if k != "message_search"}
    assert live == rebuilt


async def test_the_functions_of_the_append_plan_every_lookup_by_key(db: Database) -> None:
    # PL/pgSQL keeps a function's plans per connection: a plan made while the tables were small must
    # not scan (or hash) the whole of them once they have grown, on every append.
    posted = {p.posted_function for p in all_projections() if p.posted_function is not None}
    assert posted, "no projection applies message.posted with a function any more"
    names = [*posted, "gochat_append"]
    async with db.cursor() as cur:
        await cur.execute("SELECT proname, coalesce(proconfig, '{}') FROM pg_proc WHERE proname = ANY(%s)", (names,))
        config = {name: set(settings) for name, settings in await cur.fetchall()}
    assert set(config) == set(names)
    assert "enable_seqscan=off" in config.pop("gochat_append")
    for name, settings in config.items():
        assert {"enable_seqscan=off", "enable_hashjoin=off", "enable_mergejoin=off"} <= settings, name
