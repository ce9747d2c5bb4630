"""Process-level tuning for a long-running gochat process."""

from __future__ import annotations

import gc


def freeze_startup_heap() -> None:
    """Take everything alive now out of the cyclic garbage collector's sight.

    A full collection walks every tracked object, tens of thousands with the app loaded, every few
    seconds under load, stalling whatever append or frame is in flight (bench/append.py saw it as
    the paced run's p99; figures in docs/benchmarks.md). What exists at the end of start-up
    (modules, pools, the app) lives as long as the process, so scanning it again is pure cost.
    """
    gc.collect()
    gc.freeze()


# gen0 every 20,000 net container allocations instead of 700. A server's per-message objects
# (frames, coroutines, futures) die within a loop turn or two; collected every 700 allocations,
# the ones in flight survive into the older generations, and each full collection then walks every
# live connection's objects: a sixth of the full passes with these thresholds in bench/ws_fanout.py
# (docs/benchmarks.md, "Figures behind the code's comments").
GC_THRESHOLDS = (20_000, 20, 20)


def collect_young_less_often() -> None:
    """Let short-lived objects die before the collector looks at them (see GC_THRESHOLDS)."""
    gc.set_threshold(*GC_THRESHOLDS)
