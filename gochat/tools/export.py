"""`gochat events export`: the filtered log streamed page by page into a writer."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from ..db import Database
from ..events import build_registry
from ..events.scan import LogFilter, LogScan
from ..events.sealing import Sealer
from ..projections.current import VIEW as CURRENT_VIEW
from ..projections.users import UserQueries
from .formats import EventWriter
from .progress import ExportProgress, Silent
from .redact import RedactingWriter, Redactor


async def export(scan: LogScan, flt: LogFilter, writer: EventWriter, progress: ExportProgress | None = None) -> int:
    """Write the matching events up to the head as it is now (a growing log does not keep the export
    going); returns how many were written. The writer is closed (its format finished) on success."""
    progress = progress or Silent()
    flt = await scan.pin(flt)
    assert flt.upto is not None
    progress.begin(flt.after, flt.upto)
    count = 0
    async for rows in scan.batches(flt):
        writer.write(rows)
        count += len(rows)
        progress.advance(rows[-1][0], count)
    progress.advance(flt.upto, count)
    writer.close()
    return count


async def export_log(
    db: Database,
    flt: LogFilter,
    writer: EventWriter,
    *,
    raw: bool = False,
    batch_size: int = 10_000,
    sealer: Sealer | None = None,
    progress: ExportProgress | None = None,
) -> int:
    """`gochat events export`: each message as history holds it now (a deleted one a tombstone, an
    edited one with its current text: projections/current.py) unless the operator asks for the log
    as written (`raw`), and erased users' traces redacted either way; sealed fields opened by
    `sealer` (the process's, from its settings: events/sealing.py `configured_sealer`)."""
    view = None if raw else CURRENT_VIEW
    scan = LogScan(db, build_registry(), batch_size=batch_size, view=view, sealer=sealer)
    redactor = Redactor(await UserQueries(db).erased_ids())
    return await export(scan, flt, RedactingWriter(writer, redactor), progress)


@contextmanager
def open_output(path: str | None) -> Iterator[BinaryIO]:
    """stdout, or FILE written as FILE.partial and renamed once complete: a file by that name is
    always a whole export. A device or pipe (/dev/null, a FIFO) is written in place, never replaced."""
    if path is None or path == "-":
        yield sys.stdout.buffer
        sys.stdout.buffer.flush()
        return
    target = Path(path)
    if target.exists() and not target.is_file():
        with target.open("wb") as out:
            yield out
        return
    partial = target.with_name(target.name + ".partial")
    try:
        with partial.open("wb") as out:
            yield out
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    partial.replace(target)
