"""One `gochat serve` process for tests that need a real server (TLS, schemathesis): started on a
free port of 127.0.0.1 with the test's database, stopped with SIGTERM."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from conftest import TEST_SECRET


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def single_node(database_url: str, log: Path, **env: str) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    """The process and its port; `env` adds settings (the test's GOCHAT_*, Redis and telemetry
    variables are not inherited)."""
    port = free_port()
    inherited = ("GOCHAT_", "REDIS_URL", "PROMETHEUS", "OTEL_", "TLS_")
    full = {k: v for k, v in os.environ.items() if not k.startswith(inherited)}
    full.update(
        {
            "DATABASE_URL": database_url,
            "JWT_SECRET": TEST_SECRET,
            "HOST": "127.0.0.1",
            "PORT": str(port),
            "LOG_LEVEL": "warning",
            "GOCHAT_MIGRATE_ON_START": "off",  # the test databases are migrated already
            **env,
        }
    )
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "gochat", "serve"], env=full, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        yield proc, port
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
