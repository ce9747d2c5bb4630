"""`gochat serve` on a fresh machine: no DATABASE_URL, so it brings up an embedded PostgreSQL."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_serve_on_the_embedded_default_then_stop_on_sigterm(tmp_path: Path) -> None:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "JWT_SECRET", "REDIS_URL", "GOCHAT_ENV")}
    env.update({"GOCHAT_DATA_DIR": str(tmp_path / "var"), "PORT": str(port), "HOST": "127.0.0.1"})
    proc = subprocess.Popen(
        [sys.executable, "-m", "gochat", "serve"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        deadline = time.monotonic() + 90
        body = None
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as resp:
                    body = json.load(resp)
                    break
            except OSError:
                time.sleep(0.3)
        assert body is not None, proc.stdout.read().decode() if proc.poll() is not None and proc.stdout else "timeout"
        assert body["checks"]["database"] == "ok"
        assert body["checks"]["migrations"] == "current"
        assert (tmp_path / "var" / "pgdata" / "PG_VERSION").exists()
        assert (tmp_path / "var" / "jwt_secret").exists()
        pid_file = tmp_path / "var" / "pgdata" / "postmaster.pid"
        assert pid_file.exists()
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out.decode()
    assert not pid_file.exists(), "the embedded PostgreSQL was left running"
