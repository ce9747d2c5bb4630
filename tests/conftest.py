"""Fixtures: real PostgreSQL and real Redis, found or started, and a fresh database per test.

PostgreSQL: TEST_DATABASE_URL, else the server on 127.0.0.1:5432 when it answers, else an embedded
server started for the run. Each run migrates one template database; each test gets its own copy
(CREATE DATABASE ... TEMPLATE takes ~30 ms), and everything is dropped at the end.
Redis: TEST_REDIS_URL, else 127.0.0.1:6379 when it answers, else a `redis-server` on a free port.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg2
import pytest
import redis.asyncio
import structlog
from aiohttp.test_utils import TestClient

from gochat import migrations
from gochat.app import create_app
from gochat.cli import main
from gochat.db import Database
from gochat.embedded import EmbeddedPostgres
from gochat.events import EventStore, build_registry
from gochat.projections.catalog import all_projections
from gochat.projections.engine import InlineProjections
from gochat.redis_client import connect_redis
from gochat.settings import Settings

LOCAL_PG = "postgresql://postgres@127.0.0.1:5432/postgres"
LOCAL_REDIS = "redis://127.0.0.1:6379/0"
TEST_SECRET = "test-secret-" + "x" * 40


def with_database(dsn: str, name: str) -> str:
    parts = urlsplit(dsn)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


def _pg_answers(dsn: str) -> bool:
    try:
        psycopg2.connect(dsn, connect_timeout=2).close()
        return True
    except psycopg2.Error:
        return False


def _admin(dsn: str) -> Any:
    conn = psycopg2.connect(dsn)
    conn.autocommit = True
    return conn


class PgCluster:
    """A server this run may create databases on."""

    def __init__(self, admin_dsn: str) -> None:
        self.admin_dsn = admin_dsn
        self.run_id = f"gochat_t{os.getpid()}_{secrets.token_hex(3)}"
        self.template = f"{self.run_id}_tpl"
        self.created: list[str] = []
        self._n = 0

    def create_template(self) -> None:
        conn = _admin(self.admin_dsn)
        try:
            conn.cursor().execute(f'CREATE DATABASE "{self.template}"')
        finally:
            conn.close()
        self.created.append(self.template)

        async def migrate() -> None:
            db = await Database.connect(with_database(self.admin_dsn, self.template), minsize=1, maxsize=1)
            try:
                await migrations.migrate(db)
            finally:
                await db.close()

        asyncio.run(migrate())

    def new_database(self, *, migrated: bool = True) -> str:
        self._n += 1
        name = f"{self.run_id}_{self._n}"
        template = f' TEMPLATE "{self.template}"' if migrated else ""
        conn = _admin(self.admin_dsn)
        try:
            conn.cursor().execute(f'CREATE DATABASE "{name}"{template}')
        finally:
            conn.close()
        self.created.append(name)
        return with_database(self.admin_dsn, name)

    def drop(self, dsn: str) -> None:
        name = urlsplit(dsn).path.lstrip("/")
        conn = _admin(self.admin_dsn)
        try:
            conn.cursor().execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            conn.close()
        self.created.remove(name)

    def drop_all(self) -> None:
        conn = _admin(self.admin_dsn)
        try:
            for name in reversed(self.created):
                conn.cursor().execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            conn.close()


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PgCluster]:
    embedded = None
    tmp = None
    dsn = os.environ.get("TEST_DATABASE_URL")
    if not dsn:
        if _pg_answers(LOCAL_PG):
            dsn = LOCAL_PG
        else:
            tmp = tempfile.mkdtemp(prefix="gochat-test-pg-")
            embedded = EmbeddedPostgres(Path(tmp), cleanup="delete")
            dsn = embedded.start()
    cluster = PgCluster(dsn)
    cluster.create_template()
    try:
        yield cluster
    finally:
        cluster.drop_all()
        if embedded is not None:
            embedded.stop()
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture
def database_url(pg_cluster: PgCluster) -> Iterator[str]:
    """A freshly migrated database of this test's own, dropped when the test ends (dropping them
    all at the end of the run would bill minutes to the last test's timeout on a busy machine)."""
    dsn = pg_cluster.new_database()
    yield dsn
    pg_cluster.drop(dsn)


FreshDb = Callable[[], Awaitable[Database]]


@pytest.fixture
async def fresh_db(pg_cluster: PgCluster) -> AsyncIterator[FreshDb]:
    """Makes more freshly migrated databases (a log copied elsewhere and rebuilt there)."""
    opened: list[Database] = []

    async def make() -> Database:
        opened.append(await Database.connect(pg_cluster.new_database(), minsize=1, maxsize=4))
        return opened[-1]

    yield make
    for db in opened:
        await db.close()


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = await Database.connect(database_url, minsize=1, maxsize=10)
    try:
        yield database
    finally:
        await database.close()


@pytest.fixture
async def store(db: Database) -> AsyncIterator[EventStore]:
    """An event store with every projection applied inline, as the app runs it."""
    event_store = EventStore(db, build_registry(), node_id="test")
    event_store.inline.append(InlineProjections(event_store, all_projections()))
    event_store.start()
    try:
        yield event_store
    finally:
        await event_store.close()


# --- Redis ----------------------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _redis_answers(url: str) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 6379), timeout=1) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def start_redis_server(port: int | None = None) -> tuple[subprocess.Popen[bytes], str]:
    """A throwaway redis-server on a free port, or on `port` to restart one (tests that stop Redis
    on purpose)."""
    exe = shutil.which("redis-server")
    if exe is None:
        raise RuntimeError("redis-server is not installed and no Redis answers on 127.0.0.1:6379")
    port = port or _free_port()
    proc = subprocess.Popen(
        [exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    deadline = time.monotonic() + 10
    while not _redis_answers(url):
        if time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError("redis-server did not start")
        time.sleep(0.05)
    return proc, url


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    url = os.environ.get("TEST_REDIS_URL")
    if url:
        yield url
        return
    if _redis_answers(LOCAL_REDIS):
        yield LOCAL_REDIS
        return
    proc, url = start_redis_server()
    try:
        yield url
    finally:
        proc.terminate()
        proc.wait(5)


class RedisServer:
    """A redis-server of this test's own that can be stopped and started again on its port."""

    def __init__(self) -> None:
        self.proc, self.url = start_redis_server()
        self.port = urlsplit(self.url).port

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait(5)

    def start(self) -> None:
        self.proc, _ = start_redis_server(self.port)

    def command(self, *args: str) -> Any:
        with redis.Redis.from_url(self.url) as client:
            return client.execute_command(*args)


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    server = RedisServer()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
async def redis_prefix(redis_url: str) -> AsyncIterator[str]:
    """A key and channel prefix of this test's own; its keys are deleted afterwards."""
    prefix = f"gochat-test:{secrets.token_hex(4)}:"
    yield prefix
    client = redis.asyncio.Redis.from_url(redis_url)
    try:
        keys = [k async for k in client.scan_iter(match=prefix + "*")]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


@pytest.fixture
async def redis_client(redis_url: str) -> AsyncIterator[redis.asyncio.Redis]:
    """A command client configured as the app's (short timeouts, one immediate retry)."""
    client = connect_redis(redis_url)
    yield client
    await client.aclose()


async def eventually(check: Callable[[], bool], timeout: float = 15.0, what: str = "condition") -> None:
    """Poll until `check()` holds; fail after a generous `timeout` (a liveness bound, not a timing
    assertion)."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {timeout} s")
        await asyncio.sleep(0.02)


# --- the app --------------------------------------------------------------------------------------
@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        database_url=database_url,
        jwt_secret=TEST_SECRET,
        data_dir=tmp_path,
        environment="production",
        log_level="warning",
        db_pool_min=1,
        db_pool_max=10,
        node_id="test",
        previews=False,  # no test fetches a link it posts unless it serves the page (test_previews.py)
    )


@pytest.fixture
async def client(aiohttp_client: Callable[..., Any], settings: Settings) -> TestClient[Any, Any]:
    return await aiohttp_client(create_app(settings))  # type: ignore[no-any-return]


# --- the command line -----------------------------------------------------------------------------
@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """`gochat.cli.main` points logging at the test's captured stderr, which is closed after the test:
    put the previous set-up back so later tests do not log into a closed file."""
    config, root = structlog.get_config(), logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    structlog.configure(**config)
    root.handlers[:] = handlers
    root.setLevel(level)


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """`gochat ARGV...` in-process: exit code, stdout, stderr."""
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err
