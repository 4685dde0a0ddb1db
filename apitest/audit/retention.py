"""Retention: a background task that deletes audit events older than ``audit.retention_days``.

It runs shortly after start and then every ``audit.retention_interval``, deleting in bounded batches
(one short transaction each, so the writer and readers are never blocked for long); payloads go with
their events (``ON DELETE CASCADE``). ``retention_days: 0`` keeps everything and starts no task.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from datetime import UTC, datetime, timedelta

from apitest import logs
from apitest.audit.records import AuditStore

log = logs.get("audit")

DELETE_BATCH = 5000
FIRST_RUN_DELAY = 5.0  # let the server finish starting before the first sweep


class RetentionJob:
    def __init__(
        self,
        store: AuditStore,
        *,
        retention_days: int,
        interval: float,
        batch_size: int = DELETE_BATCH,
        first_run_delay: float = FIRST_RUN_DELAY,
    ) -> None:
        self.store = store
        self.retention_days = retention_days
        self.interval = max(1.0, interval)
        self.batch_size = batch_size
        self.first_run_delay = first_run_delay
        self.deleted_total = 0
        self.last_run_at: datetime | None = None
        self.last_error: str | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def enabled(self) -> bool:
        return self.retention_days > 0

    def cutoff(self, now: datetime | None = None) -> datetime:
        return (now or datetime.now(UTC)) - timedelta(days=self.retention_days)

    async def run_once(self, now: datetime | None = None) -> int:
        """Delete everything older than the cutoff; returns how many events went."""
        cutoff = self.cutoff(now)
        started = time.perf_counter()
        deleted = await self.store.delete_older_than(cutoff, self.batch_size)
        self.deleted_total += deleted
        self.last_run_at = datetime.now(UTC)
        self.last_error = None
        if deleted:
            log.info(
                "audit retention deleted events",
                extra={
                    "deleted": deleted,
                    "cutoff": cutoff.isoformat(),
                    "duration_ms": round((time.perf_counter() - started) * 1000, 1),
                },
            )
        return deleted

    async def _loop(self) -> None:
        await asyncio.sleep(self.first_run_delay)
        while True:
            try:
                await self.run_once()
            except Exception as exc:  # the database may be down; try again next interval
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.warning("audit retention failed", extra={"err": self.last_error})
            await asyncio.sleep(self.interval)

    def start(self) -> None:
        if self.enabled and self._task is None:
            self._task = asyncio.create_task(self._loop(), name="audit-retention")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
