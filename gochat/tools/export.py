"""`gochat events export`: the filtered log streamed page by page into a writer."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from ..events.scan import LogFilter, LogScan
from .formats import EventWriter
from .progress import ExportProgress, Silent


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
