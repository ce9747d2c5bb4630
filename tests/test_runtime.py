"""Process tuning: what `gochat serve` does once started."""

from __future__ import annotations

import gc

from gochat.runtime import freeze_startup_heap


def test_freezing_the_startup_heap_takes_it_out_of_the_collectors_sight() -> None:
    try:
        freeze_startup_heap()
        assert gc.get_freeze_count() > 1000  # the modules loaded for this test run, at least
        assert len(gc.get_objects()) < gc.get_freeze_count()
    finally:
        gc.unfreeze()
    assert gc.get_freeze_count() == 0
