"""apitest.server: what the serving process does besides running uvicorn."""

from __future__ import annotations


def test_the_heap_is_settled_once_the_app_is_built() -> None:
    import gc

    from apitest.server import GC_THRESHOLDS, settle_heap

    saved = gc.get_threshold()
    try:
        settle_heap()
        assert gc.get_threshold() == GC_THRESHOLDS
        assert gc.get_freeze_count() > 0  # what existed is out of the collector's sight
    finally:
        gc.unfreeze()
        gc.set_threshold(*saved)
