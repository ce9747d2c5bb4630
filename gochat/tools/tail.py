"""`gochat events tail`: the last events as JSON lines, then (with -f) the log as it grows.

Following polls `id > last` rather than LISTEN/NOTIFY, which transaction-pooling proxies do not
carry. Positions become visible in commit order without gaps (see events/store.py), so reading up
to the head seen at each poll never skips an event that commits later.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import replace
from typing import BinaryIO

from ..events.scan import LogFilter, LogScan, RawEvent
from .formats import json_lines


async def tail(
    scan: LogScan,
    flt: LogFilter,
    out: BinaryIO,
    *,
    n: int = 10,
    follow: bool = False,
    interval: float = 0.5,
    stop: asyncio.Event | None = None,
    redact: Callable[[Sequence[RawEvent]], Sequence[RawEvent]] = list,
) -> None:
    window = await scan.pin(flt)
    assert window.upto is not None
    if n > 0:
        _emit(out, json_lines(redact(await scan.last(window, n))))
    position = window.upto
    stop = stop or asyncio.Event()
    while follow and not stop.is_set():
        with suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval)
        window = await scan.pin(replace(flt, after=position))
        async for rows in scan.batches(window):
            _emit(out, json_lines(redact(rows)))
        position = window.upto or position


def _emit(out: BinaryIO, lines: bytes) -> None:
    if lines:
        out.write(lines)
        out.flush()  # a reader on the other end of a pipe sees each event as it comes


@contextmanager
def stop_on_signals() -> Iterator[asyncio.Event]:
    """An event set by SIGINT or SIGTERM while the block runs (call from inside the event loop)."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    signals = (signal.SIGINT, signal.SIGTERM)
    for sig in signals:
        loop.add_signal_handler(sig, stop.set)
    try:
        yield stop
    finally:
        for sig in signals:
            loop.remove_signal_handler(sig)
