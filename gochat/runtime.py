"""Process-level tuning for a long-running gochat process."""

from __future__ import annotations

import gc


def freeze_startup_heap() -> None:
    """Take everything alive now out of the cyclic garbage collector's sight.

    A full collection walks every tracked object, and with the app loaded that is ~65,000 objects:
    10-40 ms on a 2-core machine, every few seconds under load, stalling whatever append or frame
    is in flight (bench/append.py saw it as the paced run's p99). What exists at the end of start-up
    (modules, pools, the app) lives as long as the process, so scanning it again is pure cost.
    """
    gc.collect()
    gc.freeze()
