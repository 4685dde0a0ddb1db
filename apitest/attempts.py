"""Attempt counters for ``/v1/attempts/{key}``: "fail the first N attempts of this key, then succeed".

A gateway retry resends the same URL, so a stateless endpoint answers every attempt the same way; these
counters give the fixture the server-side state a retry test needs. Each key counts its attempts in a
window of ``ttl_s`` seconds that starts with its first attempt (after which the count starts again at 1),
and ``DELETE /v1/attempts/{key}`` forgets the key at once.

The counting reuses the rate-limit counters of :mod:`apitest.counters` under the bucket
``attempts|<key>``: in the ``rate_limit_counters`` table when a database is configured (one atomic upsert
per attempt, so every worker of ``apitest serve --workers N`` agrees on the attempt number; expired rows
are purged with the rate-limit windows), else in this process's memory.
"""

from __future__ import annotations

import time
from typing import Any, cast

from sqlalchemy import Table, delete

from apitest.counters import Clock, CounterStore, MemoryCounters, SQLCounters
from apitest.db.models import RateLimitCounter

BUCKET = "attempts|"


class AttemptCounters:
    """Counts attempts per key, shared by every worker when ``database`` is set."""

    def __init__(self, database: Any | None, clock: Clock = time.time) -> None:
        self.database = database
        self.clock = clock
        self.memory = MemoryCounters()
        self.store: CounterStore = SQLCounters(database) if database is not None else self.memory

    async def next(self, key: str, ttl_s: int) -> int:
        """Count one attempt of ``key``; return its number (1 for the first within ``ttl_s``)."""
        count, _ = await self.store.hit(BUCKET + key, ttl_s * 1000, int(self.clock() * 1000))
        return count

    async def reset(self, key: str) -> bool:
        """Forget ``key``; ``True`` when it had a live count."""
        now_ms = int(self.clock() * 1000)
        if self.database is None:
            window = self.memory.windows.pop(BUCKET + key, None)
            return window is not None and window[1] > now_ms
        table = cast(Table, RateLimitCounter.__table__)
        async with self.database.engine.begin() as conn:
            result = await conn.execute(delete(table).where(table.c.key == BUCKET + key).returning(table.c.reset_at_ms))
            rows = result.all()
        return any(int(reset_at) > now_ms for (reset_at,) in rows)
