"""`gochat events export|tail|stats`: the operators' and analysts' tools on the event log."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import select
import signal
import stat
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import psycopg2
import pyarrow.parquet as pq
import pytest
from conftest import TEST_SECRET, PgCluster, run_cli, with_database

from gochat.cli import main
from gochat.db import Database
from gochat.events import EventStore, NewEvent, RecordedEvent, build_registry
from gochat.events.catalog import MessagePosted
from gochat.events.registry import EventRegistry
from gochat.events.scan import FIELDS, LogFilter, LogScan
from gochat.tools.export import export, open_output
from gochat.tools.formats import JsonLinesWriter

TRICKY = 'a "quote", a comma,\na newline and ünïcode'


def append(database_url: str, *events: NewEvent) -> list[RecordedEvent]:
    """Append in one transaction, through the real store, and return what was recorded."""

    async def go() -> list[RecordedEvent]:
        db = await Database.connect(database_url, minsize=1, maxsize=2)
        store = EventStore(db, build_registry(), node_id="test")
        store.start()
        try:
            return [r.event for r in await store.append(*events)]
        finally:
            await store.close()
            await db.close()

    return asyncio.run(go())


@dataclass
class Log:
    room_a: uuid.UUID
    room_b: uuid.UUID
    alice: uuid.UUID
    bob: uuid.UUID
    events: list[RecordedEvent]
    later: datetime  # recorded_at of the second transaction: events 6..8

    def ids(self, keep: Callable[[RecordedEvent], bool]) -> list[int]:
        return [e.id for e in self.events if keep(e)]


@pytest.fixture
def log(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Log:
    """Eight events in two transactions, two rooms, two users; the CLI's environment points at them.
    No projections run here: the exports that compare with these events ask for the log as written (--raw)."""
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("JWT_SECRET", TEST_SECRET)
    a, b, alice, bob = uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    first = append(
        database_url,
        NewEvent("room.created", a, {"name": "General", "type": "public"}, actor_id=alice),
        NewEvent("member.joined", a, {"user_id": str(alice), "role": "owner"}, actor_id=alice),
        NewEvent("message.posted", a, {"content": "hello"}, actor_id=alice, client_msg_id="c-1"),
        NewEvent("message.posted", b, {"content": "elsewhere"}, actor_id=bob),
        NewEvent("reaction.added", a, {"message_id": 3, "emoji": "👍"}, actor_id=bob),
    )
    second = append(
        database_url,
        NewEvent("message.edited", a, {"message_id": 3, "content": "hello, edited"}, actor_id=alice),
        NewEvent("typing.started", b, {}, actor_id=bob),
        NewEvent("message.posted", a, {"content": TRICKY}, actor_id=bob, client_msg_id='x"y'),
    )
    assert second[0].recorded_at > first[-1].recorded_at
    return Log(a, b, alice, bob, first + second, second[0].recorded_at)


def json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines()]


def as_exported(e: RecordedEvent) -> dict[str, Any]:
    """An event as every format carries it, with data and metadata decoded."""
    return {
        "id": e.id,
        "stream_id": str(e.stream_id),
        "version": e.version,
        "type": e.type,
        "schema_version": e.schema_version,
        "data": dict(e.data),
        "metadata": dict(e.metadata),
        "actor_id": None if e.actor_id is None else str(e.actor_id),
        "client_msg_id": e.client_msg_id,
        "recorded_at": e.recorded_at,
    }


def parsed_jsonl(record: dict[str, Any]) -> dict[str, Any]:
    return {**record, "recorded_at": datetime.fromisoformat(record["recorded_at"])}


# --- export: formats ------------------------------------------------------------------------------
def test_export_writes_every_event_as_json_lines_in_log_order(log: Log, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(capsys, "events", "export", "--raw")
    assert (code, err) == (0, "")
    records = json_lines(out)
    assert [list(r) for r in records] == [list(FIELDS)] * 8
    assert [parsed_jsonl(r) for r in records] == [as_exported(e) for e in log.events]
    assert records[-1]["recorded_at"].endswith("Z")


def test_export_csv_reads_back_with_the_csv_module(log: Log, tmp_path: Path) -> None:
    path = tmp_path / "events.csv"
    assert main(["events", "export", "--raw", "--format", "csv", "--output", str(path)]) == 0
    with path.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert [list(r) for r in rows[:1]] == [list(FIELDS)]
    decoded = [
        {
            **r,
            "id": int(r["id"]),
            "version": int(r["version"]),
            "schema_version": int(r["schema_version"]),
            "data": json.loads(r["data"]),
            "metadata": json.loads(r["metadata"]),
            "actor_id": r["actor_id"] or None,
            "client_msg_id": r["client_msg_id"] or None,
            "recorded_at": datetime.fromisoformat(r["recorded_at"]),
        }
        for r in rows
    ]
    assert decoded == [as_exported(e) for e in log.events]
    assert decoded[-1]["data"]["content"] == TRICKY


def test_export_parquet_reads_back_with_pyarrow(log: Log, tmp_path: Path) -> None:
    path = tmp_path / "events.parquet"
    # The format follows the file's suffix when --format is not given.
    assert main(["events", "export", "--raw", "-o", str(path)]) == 0
    table = pq.read_table(path)
    assert table.column_names == list(FIELDS)
    assert str(table.schema.field("recorded_at").type) == "timestamp[us, tz=UTC]"
    rows = [{**r, "data": json.loads(r["data"]), "metadata": json.loads(r["metadata"])} for r in table.to_pylist()]
    assert rows == [as_exported(e) for e in log.events]


def test_export_to_a_file_leaves_no_partial_file_and_writes_devices_in_place(log: Log, tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    assert main(["events", "export", "--output", str(path), "--type", "typing.started"]) == 0
    assert [r["type"] for r in json_lines(path.read_text())] == ["typing.started"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["events.jsonl"]
    assert main(["events", "export", "--output", os.devnull]) == 0
    assert stat.S_ISCHR(os.stat(os.devnull).st_mode), "a device must be written to, never replaced"


def test_an_interrupted_export_leaves_no_file(tmp_path: Path) -> None:
    def half_an_export() -> None:
        with open_output(str(tmp_path / "events.jsonl")) as out:
            out.write(b'{"id":1}\n')
            assert [p.name for p in tmp_path.iterdir()] == ["events.jsonl.partial"]
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        half_an_export()
    assert list(tmp_path.iterdir()) == []


def test_export_pages_through_the_log_in_batches(log: Log, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "events", "export", "--raw", "--batch-size", "3", "--since", "1")
    assert code == 0
    assert [r["id"] for r in json_lines(out)] == list(range(2, 9))


# --- export: filters ------------------------------------------------------------------------------
FILTERS: list[tuple[str, Callable[[Log], list[str]], Callable[[Log, RecordedEvent], bool]]] = [
    ("room", lambda g: ["--room", str(g.room_a)], lambda g, e: e.stream_id == g.room_a),
    ("user", lambda g: ["--user", str(g.bob)], lambda g, e: e.actor_id == g.bob),
    ("room and user", lambda g: ["--room", str(g.room_a), "--user", str(g.bob)],
     lambda g, e: e.stream_id == g.room_a and e.actor_id == g.bob),
    ("type", lambda g: ["--type", "message.posted"], lambda g, e: e.type == "message.posted"),
    ("family", lambda g: ["--type", "message.*"], lambda g, e: e.type.startswith("message.")),
    ("types", lambda g: ["--type", "typing.started", "--type", "room.*"],
     lambda g, e: e.type in ("typing.started", "room.created")),
    ("since position", lambda g: ["--since", "5"], lambda g, e: e.id > 5),
    ("until position", lambda g: ["--until", "5"], lambda g, e: e.id <= 5),
    ("position window", lambda g: ["--since", "2", "--until", "4"], lambda g, e: 2 < e.id <= 4),
    ("since time", lambda g: ["--since", g.later.isoformat()], lambda g, e: e.recorded_at >= g.later),
    ("until time", lambda g: ["--until", g.later.isoformat()], lambda g, e: e.recorded_at < g.later),
    ("since time with Z", lambda g: ["--since", g.later.astimezone(UTC).isoformat().replace("+00:00", "Z")],
     lambda g, e: e.recorded_at >= g.later),
    ("time and type", lambda g: ["--since", g.later.isoformat(), "--type", "message.*"],
     lambda g, e: e.recorded_at >= g.later and e.type.startswith("message.")),
    ("nothing matches", lambda g: ["--room", str(uuid.uuid4())], lambda g, e: False),
]  # fmt: skip


@pytest.mark.parametrize(("args", "keep"), [f[1:] for f in FILTERS], ids=[f[0] for f in FILTERS])
def test_export_filters(
    log: Log,
    capsys: pytest.CaptureFixture[str],
    args: Callable[[Log], list[str]],
    keep: Callable[[Log, RecordedEvent], bool],
) -> None:
    code, out, _ = run_cli(capsys, "events", "export", "--raw", *args(log))
    assert code == 0
    expected = log.ids(lambda e: keep(log, e))
    assert [r["id"] for r in json_lines(out)] == expected
    assert expected or out == ""


def test_position_windows_chain_without_overlap(log: Log, capsys: pytest.CaptureFixture[str]) -> None:
    windows = [["--until", "3"], ["--since", "3", "--until", "6"], ["--since", "6"]]
    ids = []
    for window in windows:
        code, out, _ = run_cli(capsys, "events", "export", "--raw", *window)
        assert code == 0
        ids += [r["id"] for r in json_lines(out)]
    assert ids == list(range(1, 9))


# --- export: refusals -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("args", "names"),
    [
        (["export", "--format", "xml"], "--format"),
        (["export", "--since", "yesterday"], "--since"),
        (["export", "--until", "2025-13-01T00:00:00Z"], "--until"),
        (["export", "--room", "room-1"], "--room"),
        (["export", "--user", "42"], "--user"),
        (["export", "--type", "Message Posted"], "--type"),
        (["export", "--batch-size", "0"], "--batch-size"),
        (["tail", "-n", "-1"], "-n"),
        (["stats", "--format", "html"], "--format"),
    ],
)
def test_bad_input_is_refused_with_one_line_and_exit_code_2(
    log: Log, capsys: pytest.CaptureFixture[str], args: list[str], names: str
) -> None:
    code, out, err = run_cli(capsys, "events", *args)
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1
    assert err.startswith(f"gochat events {args[0]}: error: {names}")


# --- upcasting ------------------------------------------------------------------------------------
async def test_export_upcasts_old_events_to_the_current_schema(store: EventStore, db: Database) -> None:
    room = uuid.uuid4()
    await store.append_one(NewEvent("message.posted", room, {"content": "v1"}))
    newer = EventRegistry()
    newer.register("message.posted", MessagePosted(), version=2, upcasters={1: lambda d: {**d, "format": "plain"}})
    out = io.BytesIO()
    assert await export(LogScan(db, newer), LogFilter(), JsonLinesWriter(out)) == 1
    [record] = json_lines(out.getvalue().decode())
    assert record["schema_version"] == 2
    assert record["data"] == {"content": "v1", "thread_root": None, "attachments": None, "format": "plain"}
    # The log itself is unchanged: upcasting happens on read.
    assert (await store.read_stream(room))[0].schema_version == 1


async def test_export_stops_at_the_head_it_started_from(store: EventStore, db: Database) -> None:
    room = uuid.uuid4()
    await store.append(*(NewEvent("typing.started", room, {}) for _ in range(5)))

    class AppendingWriter(JsonLinesWriter):
        """Writes, and meanwhile the log keeps growing."""

        def write(self, rows: Any) -> None:
            super().write(rows)
            pending.append(asyncio.ensure_future(store.append_one(NewEvent("typing.started", room, {}))))

    pending: list[asyncio.Future[Any]] = []
    out = io.BytesIO()
    assert await export(LogScan(db, build_registry(), batch_size=2), LogFilter(), AppendingWriter(out)) == 5
    await asyncio.gather(*pending)
    assert await store.head() == 8


# --- tail -----------------------------------------------------------------------------------------
def test_tail_prints_the_last_n_events(log: Log, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "events", "tail")
    assert code == 0
    assert [r["id"] for r in json_lines(out)] == list(range(1, 9))  # fewer than the default 10
    _, out, _ = run_cli(capsys, "events", "tail", "-n", "3")
    assert [parsed_jsonl(r) for r in json_lines(out)] == [as_exported(e) for e in log.events[-3:]]
    _, out, _ = run_cli(capsys, "events", "tail", "-n", "2", "--room", str(log.room_b))
    assert [r["id"] for r in json_lines(out)] == log.ids(lambda e: e.stream_id == log.room_b)[-2:]
    _, out, _ = run_cli(capsys, "events", "tail", "-n", "0")
    assert out == ""


def cli_env(database_url: str) -> dict[str, str]:
    return {**os.environ, "DATABASE_URL": database_url, "JWT_SECRET": TEST_SECRET, "LOG_LEVEL": "warning"}


def read_line(stream: IO[bytes], timeout: float = 30.0) -> bytes:
    """The next line, or b"" if none comes in time (a safety net, not a timing assertion)."""
    ready, _, _ = select.select([stream], [], [], timeout)
    return stream.readline() if ready else b""


@pytest.fixture
def follower(database_url: str) -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gochat",
            "events",
            "tail",
            "-f",
            "-n",
            "1",
            "--type",
            "message.*",
            "--interval",
            "0.05",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=cli_env(database_url),
    )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT])
async def test_tail_follow_prints_events_appended_after_it_started(
    store: EventStore, follower: subprocess.Popen[bytes], stop: signal.Signals
) -> None:
    room = uuid.uuid4()
    await store.append_one(NewEvent("message.posted", room, {"content": "before"}))
    assert follower.stdout is not None
    # The existing event, printed first, shows the follower is running; it polls from there on.
    # (It may also have started before the append and be picking it up by following: same line.)
    assert json.loads(await asyncio.to_thread(read_line, follower.stdout))["data"]["content"] == "before"

    await store.append(
        NewEvent("typing.started", room, {}), NewEvent("message.edited", room, {"message_id": 1, "content": "after"})
    )
    line = json.loads(await asyncio.to_thread(read_line, follower.stdout))
    assert (line["id"], line["type"], line["data"]["content"]) == (3, "message.edited", "after")

    follower.send_signal(stop)
    assert await asyncio.to_thread(follower.wait, 30) == 0
    assert follower.stdout.read() == b""
    assert follower.stderr is not None
    assert follower.stderr.read() == b""


# --- stats ----------------------------------------------------------------------------------------
def test_stats_counts_events_per_day_and_type(log: Log, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "events", "stats", "--format", "json")
    assert code == 0
    day = log.later.date().isoformat()  # recorded_at is UTC
    assert json.loads(out) == [
        {"day": day, "type": "member.joined", "count": 1},
        {"day": day, "type": "message.edited", "count": 1},
        {"day": day, "type": "message.posted", "count": 3},
        {"day": day, "type": "reaction.added", "count": 1},
        {"day": day, "type": "room.created", "count": 1},
        {"day": day, "type": "typing.started", "count": 1},
    ]
    _, out, _ = run_cli(capsys, "events", "stats", "--since", log.later.isoformat(), "--type", "message.*")
    assert json.loads(out) == [
        {"day": day, "type": "message.edited", "count": 1},
        {"day": day, "type": "message.posted", "count": 1},
    ]


def test_stats_table(log: Log, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "events", "stats", "--format", "table", "--user", str(log.bob))
    assert code == 0
    rows = [line for line in out.splitlines() if "│" in line]
    assert any("message.posted" in r and r.rstrip(" │").endswith("2") for r in rows)
    assert any("total" in r and r.rstrip(" │").endswith("4") for r in rows)
    assert log.later.date().isoformat() in out


def test_a_database_without_the_log_is_named_not_traced(
    pg_cluster: PgCluster, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    name = f"{pg_cluster.run_id}_unmigrated"
    admin = psycopg2.connect(pg_cluster.admin_dsn)
    admin.autocommit = True
    try:
        admin.cursor().execute(f'CREATE DATABASE "{name}"')
    finally:
        admin.close()
    pg_cluster.created.append(name)
    monkeypatch.setenv("DATABASE_URL", with_database(pg_cluster.admin_dsn, name))
    monkeypatch.setenv("JWT_SECRET", TEST_SECRET)
    code, out, err = run_cli(capsys, "events", "tail")
    assert (code, out) == (1, "")
    assert err == "gochat events: this database has no event log yet (run `gochat migrate`)\n"


@pytest.mark.parametrize("command", ["export", "tail", "stats"])
def test_every_events_command_has_help(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["events", command, "--help"])
    assert info.value.code == 0
    assert "--room UUID" in capsys.readouterr().out


# --- the installed command --------------------------------------------------------------------------
def test_the_command_runs_as_a_program(log: Log, database_url: str) -> None:
    gochat = [sys.executable, "-m", "gochat", "events"]
    done = subprocess.run(
        [*gochat, "export", "--type", "message.*", "--format", "csv"],
        capture_output=True,
        env=cli_env(database_url),
        check=False,
    )
    assert (done.returncode, done.stderr) == (0, b"")
    rows = list(csv.DictReader(io.StringIO(done.stdout.decode(), newline="")))
    assert [int(r["id"]) for r in rows] == log.ids(lambda e: e.type.startswith("message."))

    refused = subprocess.run(
        [*gochat, "export", "--since", "last tuesday"], capture_output=True, env=cli_env(database_url), check=False
    )
    assert refused.returncode == 2
    assert refused.stdout == b""
    assert refused.stderr.decode().splitlines() == [
        "gochat events export: error: --since: 'last tuesday' is neither a log position (an integer)"
        " nor an RFC 3339 time"
    ]
