"""`gochat serve --workers N`: N server processes on one port, relaying to each other through Redis.

One Python process uses one core and may hold only as many sockets as its open-files limit, so a
machine is filled with several. Each worker is a whole node (`gochat serve --reuse-port`): it binds
the same port with SO_REUSEPORT and the kernel spreads new connections over the workers; they share
the database and Redis like nodes on different machines, so everything a cluster guarantees holds
between workers too (and only Redis can relay between them: N > 1 requires REDIS_URL).

The supervisor does what must happen once: the embedded PostgreSQL (when DATABASE_URL is unset),
the migrations, the development JWT secret. It restarts a worker that dies, with backoff, under a
fresh node id (the dead one's presence expires with its heartbeat), and on SIGTERM or SIGINT it
passes SIGTERM on so every worker drains, then exits.

Metrics: the workers share one PROMETHEUS_MULTIPROC_DIR (the operator's, emptied at start, or a
temporary one), so `GET /metrics` on any worker shows the whole node (metrics.py). A dead
worker's live gauges are dropped at once; its counters stay, so node totals never go backwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from types import FrameType

from prometheus_client import multiprocess

from . import migrations
from .db import Database
from .embedded import EmbeddedPostgres
from .log import get_logger
from .metrics import MULTIPROC_ENV
from .settings import Settings, ensure_dev_secret

log = get_logger("gochat.workers")

# A worker that lived this long before dying starts again at the shortest backoff.
STABLE_AFTER = 30.0
BACKOFF_FIRST, BACKOFF_CAP = 0.5, 30.0
_PR_SET_PDEATHSIG = 1


def raise_open_files_limit() -> int:
    """Raise the soft RLIMIT_NOFILE to the hard limit (each socket is a file); returns the limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
    return soft


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """Linux: a worker gets SIGTERM when the supervisor dies, even by SIGKILL (no orphans)."""
    with contextlib.suppress(Exception):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


@dataclass
class _Worker:
    index: int
    generation: int = 0
    proc: subprocess.Popen[bytes] | None = None
    started: float = 0.0
    failures: int = 0
    restart_at: float | None = None


class Supervisor:
    def __init__(self, settings: Settings, workers: int, *, argv: list[str]) -> None:
        self.settings = settings
        self.count = workers
        self.argv = argv  # the worker's command line after `python -m gochat`
        self.workers = [_Worker(i) for i in range(workers)]
        self.env = dict(os.environ)
        self._stopping = False
        self._embedded: EmbeddedPostgres | None = None
        self._metrics_dir: str | None = None  # ours to remove at exit

    # --- once, before the workers -------------------------------------------------------------------
    def prepare(self) -> None:
        settings = self.settings
        dsn = settings.database_url
        if dsn is None:
            self._embedded = EmbeddedPostgres(settings.data_dir)
            log.info("embedded_postgres_starting", pgdata=str(self._embedded.pgdata))
            dsn = self._embedded.start()
            self.env["DATABASE_URL"] = dsn
            # The workers see a DATABASE_URL now: keep them in the mode the embedded default implies.
            self.env.setdefault("GOCHAT_ENV", settings.environment)
        secret = ensure_dev_secret(settings).jwt_secret
        assert secret is not None
        self.env["JWT_SECRET"] = secret
        applied = asyncio.run(_migrate(dsn))
        log.info("migrated", applied=applied)
        self.env["GOCHAT_MIGRATE_ON_START"] = "off"
        self.env[MULTIPROC_ENV] = self._prepare_metrics_dir()

    def _prepare_metrics_dir(self) -> str:
        given = os.environ.get(MULTIPROC_ENV)
        if given:
            # prometheus_client's rule: the directory is emptied before the processes start, or
            # a previous run's counters would be added to this one's.
            os.makedirs(given, exist_ok=True)
            for name in os.listdir(given):
                if name.endswith(".db"):
                    os.unlink(os.path.join(given, name))
            return given
        self._metrics_dir = tempfile.mkdtemp(prefix="gochat-metrics-")
        return self._metrics_dir

    # --- the workers ---------------------------------------------------------------------------------
    def node_id(self, worker: _Worker) -> str:
        return f"{self.settings.node_id}-{worker.index}.{worker.generation}"

    def _spawn(self, worker: _Worker) -> None:
        env = dict(self.env, GOCHAT_NODE_ID=self.node_id(worker))
        worker.proc = subprocess.Popen(
            [sys.executable, "-m", "gochat", *self.argv],
            env=env,
            preexec_fn=_die_with_parent if sys.platform == "linux" else None,
        )
        worker.started = time.monotonic()
        worker.restart_at = None
        log.info("worker_started", worker=worker.index, node=self.node_id(worker), pid=worker.proc.pid)

    def _stop(self, signum: int, frame: FrameType | None) -> None:
        self._stopping = True

    def run(self) -> int:
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._stop)
        try:
            self.prepare()
            for worker in self.workers:
                self._spawn(worker)
            while not self._stopping:
                self._watch()
                time.sleep(0.1)
            return self._drain()
        finally:
            if self._embedded is not None:
                self._embedded.stop()
            if self._metrics_dir is not None:
                shutil.rmtree(self._metrics_dir, ignore_errors=True)

    def _watch(self) -> None:
        now = time.monotonic()
        for worker in self.workers:
            if worker.restart_at is not None:
                if now >= worker.restart_at:
                    worker.generation += 1
                    self._spawn(worker)
                continue
            assert worker.proc is not None
            code = worker.proc.poll()
            if code is None:
                continue
            lived = now - worker.started
            self._forget_metrics(worker.proc.pid)
            worker.failures = 1 if lived >= STABLE_AFTER else worker.failures + 1
            delay = min(BACKOFF_CAP, BACKOFF_FIRST * 2 ** (worker.failures - 1))
            worker.restart_at = now + delay
            log.warning("worker_exited", worker=worker.index, code=code, lived_s=round(lived, 1), restart_in_s=delay)

    def _forget_metrics(self, pid: int) -> None:
        """A dead worker's live gauges (its connections, its pool) leave the node's sums."""
        with contextlib.suppress(OSError):
            multiprocess.mark_process_dead(pid, self.env[MULTIPROC_ENV])  # type: ignore[no-untyped-call]

    def _drain(self) -> int:
        """SIGTERM every worker (each closes its sockets with 1001 and flushes its writes), then wait."""
        running = [w.proc for w in self.workers if w.proc is not None and w.proc.poll() is None]
        log.info("stopping_workers", running=len(running))
        for proc in running:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + self.settings.shutdown_timeout + 10
        for proc in running:
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.warning("worker_killed", pid=proc.pid)
                proc.kill()
                proc.wait()
        return 0


async def _migrate(dsn: str) -> list[str]:
    db = await Database.connect(dsn, minsize=1, maxsize=1)
    try:
        return [m.name for m in await migrations.migrate(db)]
    finally:
        await db.close()
