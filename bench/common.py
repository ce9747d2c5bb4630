"""What every benchmark needs: a PostgreSQL server, throwaway migrated databases, percentiles, and
the results as a table on stdout plus JSON under bench/results/.

PostgreSQL is found the way tests/conftest.py finds it: BENCH_DATABASE_URL or DATABASE_URL, else
the server on 127.0.0.1:5432 when it answers, else an embedded one started for the run. Databases
are copies of one migrated template (fresh, empty tables per scenario) and are all dropped at exit.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import math
import os
import platform
import secrets
import shutil
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import orjson
import psycopg2

from gochat import migrations
from gochat.db import Database
from gochat.embedded import EmbeddedPostgres

LOCAL_PG = "postgresql://postgres@127.0.0.1:5432/postgres"
RESULTS_DIR = Path(__file__).resolve().parent / "results"


# --- PostgreSQL -----------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class PgServer:
    admin_dsn: str
    source: str  # where it came from: the variable's name, "local" or "embedded"
    version: str


def _with_database(dsn: str, name: str) -> str:
    parts = urlsplit(dsn)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


def _admin(dsn: str) -> Any:
    conn = psycopg2.connect(dsn, connect_timeout=5)
    conn.autocommit = True
    return conn


def _answers(dsn: str) -> bool:
    try:
        _admin(dsn).close()
        return True
    except psycopg2.Error:
        return False


def _server_version(dsn: str) -> str:
    conn = _admin(dsn)
    try:
        cur = conn.cursor()
        cur.execute("SHOW server_version")
        return str(cur.fetchone()[0])
    finally:
        conn.close()


@contextmanager
def postgres_server() -> Iterator[PgServer]:
    for var in ("BENCH_DATABASE_URL", "DATABASE_URL"):
        if os.environ.get(var):
            dsn = os.environ[var]
            yield PgServer(dsn, var, _server_version(dsn))
            return
    if _answers(LOCAL_PG):
        yield PgServer(LOCAL_PG, "local", _server_version(LOCAL_PG))
        return
    tmp = tempfile.mkdtemp(prefix="gochat-bench-pg-")
    embedded = EmbeddedPostgres(Path(tmp), cleanup="delete")
    try:
        dsn = embedded.start()
        yield PgServer(dsn, "embedded", _server_version(dsn))
    finally:
        embedded.stop()
        shutil.rmtree(tmp, ignore_errors=True)


class Databases:
    """Throwaway databases on one server, each a copy of a template migrated once."""

    def __init__(self, server: PgServer) -> None:
        self.server = server
        self.run_id = f"gochat_bench{os.getpid()}_{secrets.token_hex(3)}"
        self.template = f"{self.run_id}_tpl"
        self._created: list[str] = []

    def _create(self, name: str, template: str | None = None) -> str:
        conn = _admin(self.server.admin_dsn)
        try:
            suffix = f' TEMPLATE "{template}"' if template else ""
            conn.cursor().execute(f'CREATE DATABASE "{name}"{suffix}')
        finally:
            conn.close()
        self._created.append(name)
        return _with_database(self.server.admin_dsn, name)

    async def create_template(self) -> None:
        db = await Database.connect(self._create(self.template), minsize=1, maxsize=1)
        try:
            await migrations.migrate(db)
        finally:
            await db.close()

    def new(self) -> str:
        """The DSN of a fresh, migrated, empty database, on a server that has written out what the
        scenarios before it left in its buffers (a CHECKPOINT), so that they don't slow this one."""
        dsn = self._create(f"{self.run_id}_{len(self._created)}", self.template)
        conn = _admin(self.server.admin_dsn)
        try:
            conn.cursor().execute("CHECKPOINT")
        except psycopg2.Error:
            pass  # not allowed (a managed server): the figures may then carry the writes before
        finally:
            conn.close()
        return dsn

    def drop_all(self) -> None:
        conn = _admin(self.server.admin_dsn)
        try:
            for name in reversed(self._created):
                conn.cursor().execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            conn.close()


@asynccontextmanager
async def bench_databases() -> AsyncIterator[Databases]:
    with postgres_server() as server:
        dbs = Databases(server)
        try:
            await dbs.create_template()
            yield dbs
        finally:
            await asyncio.to_thread(dbs.drop_all)


# --- measuring ------------------------------------------------------------------------------------
def percentile(sorted_values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100) of values already sorted ascending; nan when empty."""
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(p / 100 * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def latency_summary(seconds: Sequence[float]) -> dict[str, float]:
    """p50, p99 and max of latencies given in seconds, in milliseconds."""
    ordered = sorted(seconds)
    return {
        "p50_ms": percentile(ordered, 50) * 1000,
        "p99_ms": percentile(ordered, 99) * 1000,
        "max_ms": (ordered[-1] * 1000) if ordered else math.nan,
    }


def load_average() -> float:
    """The 1-minute load average: anything well above 0 before a run means the figures are shared."""
    return os.getloadavg()[0]


class CpuMeter:
    """This process's CPU time over a wall-clock interval, as a share of one core."""

    def __init__(self) -> None:
        self.wall, self.cpu = time.perf_counter(), time.process_time()

    def share(self) -> float:
        return (time.process_time() - self.cpu) / max(time.perf_counter() - self.wall, 1e-9)


# --- reporting ------------------------------------------------------------------------------------
def _cell(value: Any) -> str:
    if isinstance(value, float):
        if math.isnan(value):
            return "-"
        return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def format_row(row: Sequence[Any]) -> list[str]:
    """Numbers as the tables show them: thousands separators, two decimals below 100, nan as '-'."""
    return [_cell(v) for v in row]


def format_table(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A Markdown table (pastes straight into docs/benchmarks.md), columns padded for the terminal."""
    cells = [format_row(row) for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]

    def line(values: Sequence[str], numeric: bool) -> str:
        padded = [
            v.rjust(w) if numeric and i else v.ljust(w) for i, (v, w) in enumerate(zip(values, widths, strict=True))
        ]
        return "| " + " | ".join(padded) + " |"

    rule = "|" + "|".join("-" * (w + 1) + (":" if i else "-") for i, w in enumerate(widths)) + "|"
    return "\n".join([line(list(columns), False), rule, *(line(r, True) for r in cells)])


def _git_commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True, cwd=RESULTS_DIR.parent
        )
        return out.stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def machine_info(server: PgServer) -> dict[str, Any]:
    return {
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "postgres": server.version,
        "postgres_source": server.source,
        "commit": _git_commit(),
        "load_1m": load_average(),
    }


def announce(machine: dict[str, Any]) -> None:
    """The machine_info line every benchmark prints first, with a warning when others share it."""
    print(f"PostgreSQL {machine['postgres']} ({machine['postgres_source']}), {machine['cores']} cores", flush=True)
    if machine["load_1m"] > 0.5:
        print(f"note: load average {machine['load_1m']:.2f} before the run: other work shares the CPUs", flush=True)


def write_results(name: str, payload: dict[str, Any]) -> Path:
    """bench/results/<name>.json, replaced by each run (git keeps the history)."""
    RESULTS_DIR.mkdir(exist_ok=True)
    path = RESULTS_DIR / f"{name}.json"
    body = {"benchmark": name, "at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), **payload}
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(orjson.dumps(body, option=orjson.OPT_INDENT_2) + b"\n")
    tmp.replace(path)
    return path
