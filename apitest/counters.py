"""Fixed-window counters: "count one hit on this key in a window of N ms that starts with its first hit".

Shared by the rate-limit stage (:mod:`apitest.ratelimit`) and the ``/v1/attempts`` counters
(:mod:`apitest.attempts`). :class:`SQLCounters` keeps them in the ``rate_limit_counters`` table (one atomic
upsert per hit, so every worker of ``apitest serve --workers N`` shares them); :class:`MemoryCounters` in
this process's memory.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, Protocol, cast

from sqlalchemy import Table, case, delete
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import OperationalError

from apitest.db.models import RateLimitCounter

PURGE_EVERY_MS = 60_000
Clock = Callable[[], float]


class CounterStore(Protocol):
    async def hit(self, key: str, window_ms: int, now_ms: int) -> tuple[int, int]:
        """Count one request on ``key``; return (count in the window, window end in epoch ms)."""


class MemoryCounters:
    """Counters of one process (no database configured, or the database failed)."""

    def __init__(self) -> None:
        self.windows: dict[str, tuple[int, int]] = {}
        self.purged_ms = 0

    async def hit(self, key: str, window_ms: int, now_ms: int) -> tuple[int, int]:
        if now_ms - self.purged_ms >= PURGE_EVERY_MS:
            self.windows = {k: w for k, w in self.windows.items() if w[1] > now_ms}
            self.purged_ms = now_ms
        count, reset_at = self.windows.get(key, (0, 0))
        if reset_at <= now_ms:
            count, reset_at = 0, now_ms + window_ms
        self.windows[key] = (count + 1, reset_at)
        return count + 1, reset_at


SQLITE_LOCK_RETRIES = 8


class SQLCounters:
    """Counters in ``rate_limit_counters``: one atomic upsert per request, shared by every worker."""

    def __init__(self, database: Any) -> None:
        self.database = database
        self.table = cast(Table, RateLimitCounter.__table__)
        self.purged_ms = 0

    def upsert(self, key: str, window_ms: int, now_ms: int) -> Any:
        t = self.table
        insert = postgresql.insert if self.database.dialect == "postgresql" else sqlite.insert
        expired = t.c.reset_at_ms <= now_ms
        stmt = insert(t).values(key=key, count=1, reset_at_ms=now_ms + window_ms)
        stmt = stmt.on_conflict_do_update(
            index_elements=[t.c.key],
            set_={
                "count": case((expired, 1), else_=t.c.count + 1),
                "reset_at_ms": case((expired, now_ms + window_ms), else_=t.c.reset_at_ms),
            },
        )
        return stmt.returning(t.c.count, t.c.reset_at_ms)

    async def hit(self, key: str, window_ms: int, now_ms: int) -> tuple[int, int]:
        """Count one request. SQLite answers "database is locked" to a writer that loses a race between
        workers even within its busy timeout; the transaction was rolled back, so it is retried."""
        delay = 0.005
        for attempt in range(SQLITE_LOCK_RETRIES + 1):
            try:
                return await self._hit(key, window_ms, now_ms)
            except OperationalError as exc:
                if self.database.dialect != "sqlite" or "locked" not in str(exc) or attempt == SQLITE_LOCK_RETRIES:
                    raise
                await asyncio.sleep(delay)
                delay = min(delay * 2, 0.25)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _hit(self, key: str, window_ms: int, now_ms: int) -> tuple[int, int]:
        async with self.database.engine.begin() as conn:
            count, reset_at = (await conn.execute(self.upsert(key, window_ms, now_ms))).one()
            if now_ms - self.purged_ms >= PURGE_EVERY_MS:
                self.purged_ms = now_ms
                await conn.execute(delete(self.table).where(self.table.c.reset_at_ms <= now_ms))
        return int(count), int(reset_at)
