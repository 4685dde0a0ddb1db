"""The key store's background task: keeps the cache fresh, listens for changes, writes ``last_used_at``.

Every half window (0.5 s) it checks the table's fingerprint (``KeyStore.refresh``); once a second it
writes the batched ``last_used_at`` values. On PostgreSQL it also holds one dedicated asyncpg connection
(outside the pool) that ``LISTEN``s on :data:`~apitest.auth.digests.NOTIFY_CHANNEL`: a notification marks
the cache stale and wakes the task at once. A dropped listener is reconnected by the same loop, backing off
to :data:`MAX_BACKOFF`; while it is down the polling still bounds a revocation to the window.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import TYPE_CHECKING, Any, Protocol

from apitest import logs
from apitest.auth.base import describe
from apitest.auth.digests import NOTIFY_CHANNEL

if TYPE_CHECKING:
    from apitest.auth.digests import KeyCache
    from apitest.db.engine import Database


class KeptStore(Protocol):
    """What the keeper needs of :class:`apitest.auth.keystore.KeyStore` (a protocol, so the store can own its
    keeper without an import circle)."""

    database: Database
    cache: KeyCache

    async def refresh(self) -> bool: ...

    async def flush_last_used(self) -> int: ...


log = logs.get("auth.keystore")

FLUSH_INTERVAL = 1.0
MAX_BACKOFF = 30.0
ASYNCPG_ONLY_ARGS = ("async_creator_fn", "prepared_statement_cache_size", "prepared_statement_name_func")


class Keeper:
    def __init__(self, store: KeptStore) -> None:
        self.store = store
        self.wake = asyncio.Event()
        self.listener: Any = None  # asyncpg.Connection while listening
        self._next_listen = 0.0
        self._backoff = 1.0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="api-key-cache")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self._close_listener()

    async def _loop(self) -> None:
        interval = max(0.05, self.store.cache.window / 2)
        flushed = time.monotonic()
        while True:
            if self.store.database.dialect == "postgresql":
                await self._ensure_listener()
            try:
                await self.store.refresh()
            except Exception as exc:  # the database may be down: requests then check (and fail) themselves
                log.warning("api key cache refresh failed", extra={"err": describe(exc)})
            if time.monotonic() - flushed >= FLUSH_INTERVAL:
                flushed = time.monotonic()
                await self.store.flush_last_used()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), interval)
            self.wake.clear()

    def _notified(self, *_: Any) -> None:
        self.store.cache.mark_stale()
        self.wake.set()

    async def _ensure_listener(self) -> None:
        if self.listener is not None and not self.listener.is_closed():
            return
        if time.monotonic() < self._next_listen:
            return
        await self._close_listener()
        try:
            self.listener = await self._connect()
            await self.listener.add_listener(NOTIFY_CHANNEL, self._notified)
        except Exception as exc:
            await self._close_listener()
            self._next_listen = time.monotonic() + self._backoff
            self._backoff = min(MAX_BACKOFF, self._backoff * 2)
            log.warning("api key change listener unavailable; polling only", extra={"err": describe(exc)})
            return
        self._backoff = 1.0
        self.store.cache.mark_stale()  # changes made while it was not listening are found by the next check

    async def _connect(self) -> Any:
        import asyncpg  # type: ignore[import-untyped]

        engine = self.store.database.engine
        args, kwargs = engine.dialect.create_connect_args(engine.url)
        for name in ASYNCPG_ONLY_ARGS:
            kwargs.pop(name, None)
        return await asyncpg.connect(*args, timeout=5, **kwargs)

    async def _close_listener(self) -> None:
        listener, self.listener = self.listener, None
        if listener is not None:
            with contextlib.suppress(Exception):
                await listener.close(timeout=2)
