"""Process tuning: what `gochat serve` does once started."""

from __future__ import annotations

import gc

from gochat.runtime import GC_THRESHOLDS, collect_young_less_often, freeze_startup_heap


def test_freezing_the_startup_heap_takes_it_out_of_the_collectors_sight() -> None:
    try:
        freeze_startup_heap()
        assert gc.get_freeze_count() > 1000  # the modules loaded for this test run, at least
        assert len(gc.get_objects()) < gc.get_freeze_count()
    finally:
        gc.unfreeze()
    assert gc.get_freeze_count() == 0


def test_young_objects_are_collected_less_often_than_pythons_default() -> None:
    before = gc.get_threshold()
    try:
        collect_young_less_often()
        assert gc.get_threshold() == GC_THRESHOLDS
        assert GC_THRESHOLDS[0] > 700  # CPython's default gen0 threshold
    finally:
        gc.set_threshold(*before)
