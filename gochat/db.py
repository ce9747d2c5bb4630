"""The aiopg pool and transactions: the only module that knows how we talk to PostgreSQL.

aiopg runs psycopg2 in autocommit mode; transactions are explicit `BEGIN`/`COMMIT` on one pooled
connection. Nothing here relies on session state that a transaction-pooling proxy (PgBouncer,
Neon's pooler) would lose: per-request settings use `set_config(..., true)` inside the transaction.
"""

from __future__ import annotations

import asyncio
import errno
import functools
import os
import select
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from typing import Any, Protocol
from uuid import UUID

import aiopg
import orjson
import psycopg2
import psycopg2.errorcodes
import psycopg2.errors
import psycopg2.extensions
import psycopg2.extras

from .errors import Unavailable

# What other modules catch or compare, named here: this is the only module that imports psycopg2.
DatabaseError = psycopg2.Error  # every error the driver raises; `.pgcode` is the SQLSTATE
UNIQUE_VIOLATION = psycopg2.errorcodes.UNIQUE_VIOLATION
UndefinedTable = psycopg2.errors.UndefinedTable
LockNotAvailable = psycopg2.errors.LockNotAvailable
DeadlockDetected = psycopg2.errors.DeadlockDetected

Cursor = aiopg.Cursor


class Executor(Protocol):
    """What a projection's write path needs: a cursor, or a StatementBatch gathering its writes."""

    async def execute(self, operation: str, parameters: Any = None) -> Any: ...


class StatementBatch:
    """Write statements gathered and sent as one query string: one round trip for all of them.

    psycopg2 interpolates parameters on the client in any case (`mogrify` is what `execute` sends),
    so the statements run exactly as if executed one by one, in order, in the same transaction.
    Nothing can be read back: callers that need a result use `cursor` after `flush`.
    """

    def __init__(self, cursor: Cursor) -> None:
        self.cursor = cursor
        self._parts: list[bytes] = []

    async def execute(self, operation: str, parameters: Any = None) -> None:
        self._parts.append(self.cursor.mogrify(operation, parameters))

    async def flush(self, *tail: str) -> None:
        parts = [*self._parts, *(t.encode() for t in tail)]
        self._parts.clear()
        if parts:
            await self.cursor.execute(b"\n;\n".join(parts).decode())  # a newline ends a trailing -- comment


APP_ROLE = "gochat_app"
# statement_timeout is set per transaction (SET LOCAL): a role's own settings do not apply under
# SET LOCAL ROLE, and a pooled session must not keep one across uses. SET takes no snapshot, so a
# transaction() caller may still SET TRANSACTION ISOLATION LEVEL first thing.
_BEGIN_AS_APP = (
    f"BEGIN READ ONLY; SET LOCAL ROLE {APP_ROLE}; SET LOCAL statement_timeout = %s;"
    " SELECT set_config('app.user_id', %s, true)"
)
_BEGIN = "BEGIN; SET LOCAL statement_timeout = %s"

_registered = False
_parse_uuid = functools.lru_cache(maxsize=1 << 14)(UUID)  # ~5 MB when full
_UUID = psycopg2.extensions.new_type((2950,), "UUID", lambda text, _cur: None if text is None else _parse_uuid(text))


def _register_adapters() -> None:
    global _registered
    if _registered:
        return
    psycopg2.extras.register_default_jsonb(loads=orjson.loads, globally=True)
    psycopg2.extras.register_default_json(loads=orjson.loads, globally=True)
    psycopg2.extras.register_uuid()  # type: ignore[no-untyped-call]  # the adapter for parameters
    # Results: room and user ids recur in every answer (GET /rooms alone reads ~800), so parsed ids
    # are kept; a UUID is immutable, so sharing one object is safe.
    psycopg2.extensions.register_type(_UUID)
    psycopg2.extensions.register_type(psycopg2.extensions.new_array_type((2951,), "UUID[]", _UUID))
    _registered = True


def is_connection_error(exc: BaseException) -> bool:
    return isinstance(exc, psycopg2.OperationalError | psycopg2.InterfaceError | OSError | TimeoutError)


@asynccontextmanager
async def _open_cursor(conn: aiopg.Connection) -> AsyncIterator[Cursor]:
    """`conn.cursor()`, minus its garbage. An aiopg cursor and its `Transaction` refer to each other,
    so a used cursor is freed only by the cyclic collector: under load thousands of them (with
    psycopg2 cursors and compilers) pile up between two collections, each then long enough to stall
    every append in flight (bench/append.py's paced p99; figures in docs/benchmarks.md). Breaking
    the cycle on close lets reference counting free them at once."""
    cur = await conn.cursor()
    try:
        yield cur
    finally:
        cur.close()
        # aiopg private: the back reference. Should a release rename it, the cycle (and the pauses)
        # come back, nothing breaks; tests/test_db.py notices.
        with suppress(AttributeError):
            cur._transaction._cursor = None  # type: ignore[assignment]


def _raise_if_timed_out(exc: asyncio.CancelledError) -> None:
    """aiopg turns a statement cancelled by the server (statement_timeout) into CancelledError,
    as if the task had been cancelled. When it was not, say what happened: 503, not a dropped request."""
    task = asyncio.current_task()
    timed_out = isinstance(exc.__context__, psycopg2.extensions.QueryCanceledError)
    if timed_out and (task is None or not task.cancelling()):
        raise Unavailable("a database statement took too long", code="statement_timeout") from exc.__context__


# aiopg connections made by our pools, by socket: see _FreshDescriptor.
_open_connections: weakref.WeakSet[aiopg.Connection] = weakref.WeakSet()


class _SelectAnyDescriptor:
    """What aiopg.connection sees as its `select` module. When a query fails, aiopg asks whether
    the connection's socket is still open with `select.select`, which raises ValueError for a
    descriptor of 1024 or more (FD_SETSIZE): the exception escapes aiopg's reader callback, the
    query's waiter is never told, and the query hangs until its timeout. Any node holding a
    thousand sockets hits it on every SQL error (a unique violation on a retried client_msg_id,
    a connection killed). The same question asked with poll(), which has no such limit."""

    @staticmethod
    def select(
        rlist: list[int], wlist: list[int], xlist: list[int], timeout: float | None = None
    ) -> tuple[list[int], list[int], list[int]]:
        poller = select.poll()
        for fd in rlist:
            poller.register(fd, select.POLLIN)
        ready = poller.poll(None if timeout is None else timeout * 1000)
        if any(events & select.POLLNVAL for _, events in ready):
            raise OSError(errno.EBADF, os.strerror(errno.EBADF))  # what select() says of a closed fd
        return [fd for fd, _ in ready], [], []


aiopg.connection.select = _SelectAnyDescriptor  # type: ignore[assignment,attr-defined]


class _FreshDescriptor(psycopg2.extensions.connection):
    """A psycopg2 connection that takes its socket's descriptor number back from everything that
    held it before, so the event loop watches the new socket and nothing else unwatches it.

    When PostgreSQL goes away, libpq closes a dead connection's socket itself, while the aiopg
    Connection around it keeps the number (`_fileno`) and its reader in the loop. A new connection
    given the same number then either fails in aiopg's `add_reader` (uvloop kept a closed handle:
    "the handler is closed"), or is registered as already watched and never woken; or the dead
    one's eventual close removes the reader of the new one. Either way its queries hang until
    aiopg's timeout. A socket just opened shares its number with no other open file, so any other
    claim to that number is stale: the dead connections forget it, the loop drops its watchers."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._fd = fd = self.fileno()
        for dead in list(_open_connections):
            if getattr(dead, "_fileno", None) == fd:
                dead._fileno = None  # its close() must not unwatch the new socket
        _unwatch(fd)

    def poll(self) -> int:
        """As psycopg2's; but once the connection is lost, stop watching its socket at once, while
        the number is still its own (aiopg leaves the reader when the socket is still open, and the
        socket is closed later, by the garbage collector, when the number may be anyone's)."""
        try:
            return int(super().poll())
        except psycopg2.Error:
            if self.closed or _status(self) == _BAD:
                _unwatch(self._fd)
            raise


_BAD = 1  # libpq's CONNECTION_BAD


def _status(conn: psycopg2.extensions.connection) -> int | None:
    with suppress(Exception):
        return int(conn.info.status)
    return None


def _unwatch(fd: int) -> None:
    with suppress(RuntimeError):  # no running loop: nothing to forget
        loop = asyncio.get_running_loop()
        with suppress(Exception):
            loop.remove_reader(fd)
        with suppress(Exception):
            loop.remove_writer(fd)


async def _opened(conn: aiopg.Connection) -> None:
    _open_connections.add(conn)


class Database:
    """A pool plus helpers for running one unit of work in one transaction.

    Every path takes a connection through `_connection`: at most `maxsize` callers hold or wait
    inside the pool, and one that cannot get a connection within `acquire_timeout` (the pool
    exhausted, or the database unreachable) gets Unavailable (503 with Retry-After) rather than
    waiting on; a failed connection attempt is one mapped error too (see _FreshDescriptor)."""

    def __init__(self, pool: aiopg.Pool, *, acquire_timeout: float = 5.0) -> None:
        self.pool = pool
        self.acquire_timeout = acquire_timeout
        # Milliseconds PostgreSQL lets any one statement run (0: no limit, the server's default);
        # the app sets GOCHAT_PG_STATEMENT_TIMEOUT. A statement cancelled for it is Unavailable,
        # code statement_timeout (_raise_if_timed_out): a 503.
        self.statement_timeout = 0
        self._session_timeouts: weakref.WeakKeyDictionary[aiopg.Connection, int] = weakref.WeakKeyDictionary()
        self._slots = asyncio.Semaphore(pool.maxsize or 1_000_000)

    @asynccontextmanager
    async def _connection(self) -> AsyncIterator[aiopg.Connection]:
        try:
            async with asyncio.timeout(self.acquire_timeout):
                await self._slots.acquire()
        except TimeoutError:
            raise Unavailable("database busy: no connection free", retry_after=1.0) from None
        try:
            conn = await self._acquire()
        except BaseException:
            self._slots.release()
            raise
        try:
            yield conn
        finally:
            try:
                await self.pool.release(conn)
            finally:
                self._slots.release()

    async def _acquire(self) -> aiopg.Connection:
        for _ in range(3):
            try:
                async with asyncio.timeout(self.acquire_timeout):
                    return await self.pool.acquire()
            except AssertionError:
                # aiopg asserts that the free connection it hands out is open; one whose server
                # process was killed while the pool connected another fails it. That one is
                # dropped from the pool on the way: take the next.
                continue
            except RuntimeError as exc:  # the pool closing (shutdown); or the event loop's, in a connect
                raise Unavailable("database unavailable") from exc
        raise Unavailable("database unavailable")

    @classmethod
    async def connect(
        cls, dsn: str, *, minsize: int = 2, maxsize: int = 20, timeout: float = 30.0, acquire_timeout: float = 5.0
    ) -> Database:
        _register_adapters()
        try:
            pool = await aiopg.create_pool(
                dsn,
                minsize=minsize,
                maxsize=maxsize,
                timeout=timeout,
                enable_hstore=False,
                enable_json=False,
                enable_uuid=False,
                pool_recycle=300.0,
                connection_factory=_FreshDescriptor,
                on_connect=_opened,
            )
        except psycopg2.Error as exc:
            raise Unavailable(f"cannot connect to the database: {exc}".strip()) from exc
        return cls(pool, acquire_timeout=acquire_timeout)

    def pool_stats(self) -> tuple[int, int, int]:
        """(lent out, idle, callers waiting) for the metrics. aiopg keeps its waiters in the pool's
        condition variable and has no public count of them."""
        pool = self.pool
        waiters = getattr(getattr(pool, "_cond", None), "_waiters", None) or ()
        return pool.size - pool.freesize, pool.freesize, len(waiters)

    async def close(self) -> None:
        self.pool.close()
        await self.pool.wait_closed()

    async def _session_timeout(self, conn: aiopg.Connection, cur: Cursor) -> None:
        """Bound what runs outside transaction() and read() (autocommit statements, the writer's
        own transactions) by the server too, not only by aiopg's client-side timeout, which leaves
        an abandoned query running in PostgreSQL. Set once per pooled connection (a round trip
        when it is new or the setting changed), as a session default that SET LOCAL overrides.
        Never set, it stays the server's (a role's setting, say) while ours is 0."""
        if self._session_timeouts.get(conn, 0) != self.statement_timeout:
            await cur.execute("SELECT set_config('statement_timeout', %s, false)", (str(self.statement_timeout),))
            self._session_timeouts[conn] = self.statement_timeout

    def _timeout(self, statement_timeout: int | None) -> str:
        return str(self.statement_timeout if statement_timeout is None else statement_timeout)

    @asynccontextmanager
    async def transaction(
        self, *, user_id: UUID | None = None, statement_timeout: int | None = None
    ) -> AsyncIterator[Cursor]:
        """One transaction; `user_id` becomes `app.user_id` for row-level security policies.
        `statement_timeout` (ms; 0: none) overrides the database's, for maintenance that may run long."""
        try:
            async with self._connection() as conn, _open_cursor(conn) as cur:
                await cur.execute(_BEGIN, (self._timeout(statement_timeout),))
                try:
                    if user_id is not None:
                        await cur.execute("SELECT set_config('app.user_id', %s, true)", (str(user_id),))
                    yield cur
                except BaseException:
                    # A cancelled or broken connection is discarded by the pool on release.
                    if not conn.closed:
                        with suppress(Exception):
                            await cur.execute("ROLLBACK")
                    raise
                await cur.execute("COMMIT")
        except (psycopg2.OperationalError, psycopg2.InterfaceError, TimeoutError) as exc:
            raise Unavailable("database unavailable") from exc
        except asyncio.CancelledError as exc:
            _raise_if_timed_out(exc)
            raise

    @asynccontextmanager
    async def read(self, user_id: UUID | None) -> AsyncIterator[Cursor]:
        """A read-only transaction on behalf of a user, as the non-owner app role, so row-level
        security hides every room the user may not see even if a query forgets its filter."""
        try:
            async with self._connection() as conn, _open_cursor(conn) as cur:
                await cur.execute(_BEGIN_AS_APP, (self._timeout(None), str(user_id) if user_id else ""))
                try:
                    yield cur
                finally:
                    if not conn.closed:
                        with suppress(Exception):
                            await cur.execute("ROLLBACK")
        except (psycopg2.OperationalError, psycopg2.InterfaceError, TimeoutError) as exc:
            raise Unavailable("database unavailable") from exc
        except asyncio.CancelledError as exc:
            _raise_if_timed_out(exc)
            raise

    @asynccontextmanager
    async def connection_cursor(self) -> AsyncIterator[tuple[aiopg.Connection, Cursor]]:
        """A pooled connection and a cursor on it, for callers that manage the transaction themselves
        (the event store's writer); connection errors are the caller's to map."""
        try:
            async with self._connection() as conn, _open_cursor(conn) as cur:
                await self._session_timeout(conn, cur)
                yield conn, cur
        except asyncio.CancelledError as exc:
            _raise_if_timed_out(exc)
            raise

    @asynccontextmanager
    async def cursor(self) -> AsyncIterator[Cursor]:
        """An autocommit cursor, for single statements that need no transaction."""
        try:
            async with self._connection() as conn, _open_cursor(conn) as cur:
                await self._session_timeout(conn, cur)
                yield cur
        except (psycopg2.OperationalError, psycopg2.InterfaceError, TimeoutError) as exc:
            raise Unavailable("database unavailable") from exc
        except asyncio.CancelledError as exc:
            _raise_if_timed_out(exc)
            raise

    async def fetchval(self, sql: str, params: Any = None) -> Any:
        async with self.cursor() as cur:
            await cur.execute(sql, params)
            row = await cur.fetchone()
            return None if row is None else row[0]

    async def ping(self) -> bool:
        try:
            return bool(await self.fetchval("SELECT 1"))
        except Exception:
            return False


def with_database(dsn: str, name: str) -> str:
    """`dsn` (a URL or key=value pairs) naming database `name` instead."""
    return psycopg2.extensions.make_dsn(dsn, dbname=name)


def json_text(obj: Any) -> str:
    return orjson.dumps(obj).decode()
