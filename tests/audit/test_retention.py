from __future__ import annotations

import asyncio
import time
from datetime import timedelta

from apitest.audit.records import AuditFilters
from apitest.audit.retention import RetentionJob
from apitest.audit.store_memory import MemoryAuditStore
from tests.audit.conftest import T0, event


async def test_run_once_deletes_what_is_older_than_the_retention() -> None:
    store = MemoryAuditStore()
    await store.append_many([event(-8 * 86400), event(-7 * 86400 - 1), event(-7 * 86400 + 1), event(0)])
    job = RetentionJob(store, retention_days=7, interval=3600)
    assert job.cutoff(T0) == T0 - timedelta(days=7)
    assert await job.run_once(now=T0) == 2
    assert await store.count(AuditFilters()) == 2
    assert (job.deleted_total, job.last_error) == (2, None)
    assert job.last_run_at is not None


async def test_zero_days_keeps_everything_and_starts_nothing() -> None:
    job = RetentionJob(MemoryAuditStore(), retention_days=0, interval=1)
    assert not job.enabled
    job.start()
    assert job._task is None
    await job.stop()


class BrokenOnce(MemoryAuditStore):
    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    async def delete_older_than(self, cutoff, batch_size=5000):  # type: ignore[no-untyped-def]
        self.calls += 1
        if self.calls == 1:
            raise ConnectionError("database is down")
        return await super().delete_older_than(cutoff, batch_size)


async def test_the_periodic_task_survives_a_failed_sweep() -> None:
    store = BrokenOnce()
    await store.append_many([event(-30 * 86400)])  # T0 is in the past relative to now: 30 days before it too
    job = RetentionJob(store, retention_days=1, interval=0.0, first_run_delay=0.0)
    job.interval = 0.02  # below the production floor of 1 s, to keep the test short
    job.start()
    deadline = time.monotonic() + 3
    while job.deleted_total == 0:
        assert time.monotonic() < deadline, "retention never recovered"
        await asyncio.sleep(0.01)
    assert store.calls >= 2 and job.last_error is None
    await job.stop()
    assert await store.count(AuditFilters()) == 0
