"""The bounded audit buffer and its single writer task.

The capture middleware hands every event to :meth:`AuditWriter.put`, which never touches the database: it
appends to a bounded in-memory queue. When the queue is full while the database is healthy (the traffic
outruns the writer for longer than the buffer lasts), the request waits up to ``backpressure_wait`` for room
before it is answered (bounded backpressure, counted); when the queue is still full then, or at once during
a database outage, the event is dropped, counted and logged (``audit buffer full; dropping events`` on the
1st and every 1000th drop). :meth:`AuditWriter.offer` is the non-waiting form. One
writer task takes batches of up to ``batch_size`` events (written as soon as a batch is full, or once
the oldest queued event has waited ``flush_interval``) and stores each batch in one transaction.

The queue is bounded twice: ``buffer_size`` events and ``buffer_bytes`` bytes (:func:`record_size`, an
estimate of what an event holds in memory: bodies, headers, query, text fields), so a flood of large
requests is dropped and counted like a flood of small ones instead of growing the process.

When the database fails, the writer keeps the batch and retries it with exponential backoff while new
events keep queueing, bounded by the buffer. When the database refuses rows themselves
(:class:`InvalidRecordError`), the writer retries one record at a time; a refused record is written again
with its offending fields replaced and marked (:mod:`apitest.audit.scrub`), and only if even that is
refused is it dropped alone, counted and logged. The batch and every later event are always written.
:meth:`AuditWriter.close` drains the queue on shutdown before the engine is disposed; whatever cannot be
written before its deadline is dropped, counted and logged. Nothing is lost silently.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from typing import Any

from apitest import logs
from apitest.audit.records import AuditStore, EventRecord, InvalidRecordError
from apitest.audit.scrub import minimal, scrubbed

log = logs.get("audit")

DROP_WARN_EVERY = 1000
MAX_BATCH_BYTES = 32 * 1024 * 1024  # bodies can be up to 2 × max_payload_bytes per event


@dataclass
class AuditStats:
    """Counters of the audit pipeline, read by ``/metrics`` and the portal dashboard."""

    buffer_size: int = 0  # capacity of the queue
    buffer_bytes: int = 0  # capacity of the queue in bytes (record_size estimates)
    queued: int = 0  # events waiting now, including the batch being written
    queued_bytes: int = 0  # their estimated size
    accepted_total: int = 0  # events taken into the queue
    written_total: int = 0  # events stored
    dropped_total: int = 0  # events lost: buffer full, refused by the database, or not drained in time
    rejected_total: int = 0  # of the dropped: rows the database refused (a constraint or a value)
    scrubbed_total: int = 0  # rows the database refused, written with their offending fields replaced and marked
    write_errors_total: int = 0  # failed write attempts (each retry counts)
    batches_total: int = 0  # successful batch writes
    batch_seconds_total: float = 0.0  # time spent in successful batch writes
    backpressure_waits_total: int = 0  # requests that waited for room in a full buffer (healthy database)
    backpressure_seconds_total: float = 0.0  # time those requests waited
    last_batch_size: int = 0
    last_batch_ms: float = 0.0
    last_error: str | None = None
    last_error_at: datetime | None = None
    last_write_at: datetime | None = None

    def snapshot(self) -> dict[str, Any]:
        """Plain JSON-ready data (timestamps as RFC 3339)."""
        data = asdict(self)
        for key in ("last_error_at", "last_write_at"):
            value = data[key]
            data[key] = value.isoformat().replace("+00:00", "Z") if value else None
        data["last_batch_ms"] = round(self.last_batch_ms, 3)
        data["batch_seconds_total"] = round(self.batch_seconds_total, 6)
        return data


def _map_size(values: dict[str, list[str]] | None) -> int:
    if not values:
        return 0
    size = 0
    for name, items in values.items():  # plain loops: this runs on every audited request
        size += len(name) + 16 + 8 * len(items)
        for value in items:
            size += len(value)
    return size


def record_size(record: EventRecord) -> int:
    """An estimate of the memory ``record`` holds: a fixed overhead plus its variable-length parts."""
    size = 512 + len(record.path) + len(record.error_message or "") + len(record.user_agent or "")
    if record.details:
        size += 64 * len(record.details)
    payload = record.payload
    if payload is None:
        return size
    return (
        size
        + 512
        + len(payload.request_body or b"")
        + len(payload.response_body or b"")
        + _map_size(payload.request_headers)
        + _map_size(payload.request_query)
        + _map_size(payload.response_headers)
    )


def _release(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


class AuditWriter:
    """Bounded queue plus one writer task that batches events into ``store.append_many``."""

    def __init__(
        self,
        store: AuditStore,
        *,
        buffer_size: int = 8192,
        buffer_bytes: int = 64 * 1024 * 1024,
        batch_size: int = 2000,
        flush_interval: float = 0.2,
        retry_initial: float = 0.1,
        retry_max: float = 5.0,
        write_timeout: float = 30.0,
        backpressure_wait: float = 0.0,
    ) -> None:
        self.store = store
        self.buffer_size = max(1, buffer_size)
        self.buffer_bytes = max(1, buffer_bytes)
        self.batch_size = max(1, batch_size)
        self.flush_interval = max(0.0, flush_interval)
        self.retry_initial = retry_initial
        self.retry_max = retry_max
        self.write_timeout = write_timeout
        self.backpressure_wait = max(0.0, backpressure_wait)
        self.after_batch: list[Callable[[list[EventRecord]], Awaitable[None]]] = []  # run after each stored batch
        self.stats = AuditStats(buffer_size=self.buffer_size, buffer_bytes=self.buffer_bytes)
        self._queue: deque[tuple[float, EventRecord, int]] = deque()  # (queued at, record, record_size)
        self._inflight: list[EventRecord] = []
        self._inflight_bytes = 0
        self._wakeup = asyncio.Event()
        self._progress = asyncio.Event()
        self._reserved = 0  # places held by reserve() for events being built
        self._waiters: deque[asyncio.Future[None]] = deque()  # producers waiting for room, first come first
        self._failing = False  # the last write attempt failed: the database is out, so nobody waits for room
        self._accepted_seq = 0  # sequence number of the newest accepted event
        self._settled_seq = 0  # events written or dropped by the writer, in order
        self._urgent = 0  # pending flush() calls: write without waiting for the interval
        self._closing = False
        self._stopped = False
        self._task: asyncio.Task[None] | None = None

    # Request path -------------------------------------------------------------------------------

    def _full(self, size: int) -> bool:
        slots = len(self._queue) + self._reserved
        return slots >= self.buffer_size or self.stats.queued_bytes + size > self.buffer_bytes

    def _may_wait(self) -> bool:
        return self.backpressure_wait > 0 and not (self._stopped or self._closing or self._failing)

    async def reserve(self) -> bool:
        """Hold a place in the buffer for an event about to be built, before its response ends.

        The audit stage calls this before it passes on the last message of a response, so the bounded wait for
        room (:meth:`_wait_for_room`) holds the client back: a client waiting for the end of its response sends
        no next request. Waiting after the response had ended would slow nobody down, and the waiting events
        would pile up. ``False`` when no place is held (the buffer is still full after the wait, the writer
        stopped, or the database is out): :meth:`put` then decides as without a reservation."""
        if self._full(0) and self._may_wait():
            await self._wait_for_room(0)
        if self._stopped or self._full(0):
            return False
        self._reserved += 1
        return True

    def release(self) -> None:
        """Give back a place :meth:`reserve` held for an event that will not be queued."""
        self._reserved = max(0, self._reserved - 1)
        self._wake_waiters()

    async def put(self, record: EventRecord, *, reserved: bool = False) -> bool:
        """Queue ``record``; when the buffer is full while the database is healthy, first wait up to
        ``backpressure_wait`` for the writer to make room (bounded backpressure, counted in
        ``backpressure_waits_total`` / ``backpressure_seconds_total``). ``reserved``: a place was held for it
        by :meth:`reserve`, so it is queued at once (only the byte budget can still refuse it). ``False`` when
        it was dropped."""
        size = record_size(record)
        if reserved:
            self._reserved = max(0, self._reserved - 1)
            return self.offer(record, size)
        if self._full(size) and self._may_wait():
            await self._wait_for_room(size)
        return self.offer(record, size)

    async def _wait_for_room(self, size: int) -> None:
        """Wait in line (first come, first served) until the writer has made room, or the wait is over.

        Each waiter has its own future, and the writer wakes only as many as the room it made can take
        (:meth:`_wake_waiters`): at saturation every request waits here, and waking all of them on every
        batch (an ``asyncio.Event``) cost more CPU than the requests themselves."""
        loop = asyncio.get_running_loop()
        started = time.monotonic()
        deadline = started + self.backpressure_wait
        self.stats.backpressure_waits_total += 1
        first = True
        try:
            while self._full(size) and self._may_wait():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return
                waiter: asyncio.Future[None] = loop.create_future()
                if first:
                    self._waiters.append(waiter)
                else:
                    self._waiters.appendleft(waiter)  # woken but still no room: keep its place at the front
                first = False
                timer = loop.call_later(remaining, _release, waiter)
                try:
                    await waiter
                finally:
                    timer.cancel()
        finally:
            self.stats.backpressure_seconds_total += time.monotonic() - started

    def _wake_waiters(self, everyone: bool = False) -> None:
        """Wake the waiters the room now free can take (all of them when ``everyone``: the writer stopped or the
        database is out, and nobody should wait any longer)."""
        room = len(self._waiters) if everyone else self.buffer_size - len(self._queue) - self._reserved
        while self._waiters and room > 0:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                room -= 1

    def offer(self, record: EventRecord, size: int | None = None) -> bool:
        """Queue ``record`` without blocking; ``False`` when it was dropped (counted and logged)."""
        size = record_size(record) if size is None else size
        if self._stopped or self._full(size):
            self._drop_full()
            return False
        self._queue.append((time.monotonic(), record, size))
        self._accepted_seq += 1
        self.stats.accepted_total += 1
        self.stats.queued += 1
        self.stats.queued_bytes += size
        if len(self._queue) == 1 or len(self._queue) >= self.batch_size:
            self._wakeup.set()
        return True

    def discard(self, reason: str) -> None:
        """Count an event that could not even be built (a capture bug); it is logged by the caller."""
        self.stats.dropped_total += 1
        self.stats.last_error = reason
        self.stats.last_error_at = datetime.now(UTC)

    def _drop_full(self) -> None:
        self.stats.dropped_total += 1
        if self.stats.dropped_total % DROP_WARN_EVERY == 1:
            reason = "writer stopped" if self._stopped else "buffer full"
            log.warning(
                "audit buffer full; dropping events",
                extra={
                    "dropped_total": self.stats.dropped_total,
                    "buffer_size": self.buffer_size,
                    "buffer_bytes": self.buffer_bytes,
                    "queued_bytes": self.stats.queued_bytes,
                    "reason": reason,
                },
            )

    # Lifecycle ----------------------------------------------------------------------------------

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="audit-writer")

    async def flush(self, within: float = 10.0) -> bool:
        """Write everything accepted so far without waiting for the interval; ``True`` when it all settled."""
        target = self._accepted_seq
        self._urgent += 1
        self._wakeup.set()
        deadline = time.monotonic() + within
        try:
            while self._settled_seq < target:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._task is None or self._task.done():
                    return False
                self._progress.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._progress.wait(), remaining)
            return True
        finally:
            self._urgent -= 1

    async def close(self, within: float = 10.0) -> None:
        """Drain: write what is queued, then stop. Events still unwritten at the deadline are dropped and counted."""
        self._closing = True
        self._wake_waiters(everyone=True)
        self._wakeup.set()
        task = self._task
        if task is not None and not task.done():
            await asyncio.wait({task}, timeout=within)
            # Python 3.11's wait_for can swallow a cancellation that races with its inner call finishing
            # (gh-86296), and the retry loop would then go on forever: cancel until the task is really done.
            while not task.done():
                task.cancel()
                await asyncio.wait({task}, timeout=0.05)
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._stopped = True
        self._wake_waiters(everyone=True)
        lost = len(self._queue) + len(self._inflight)
        if lost:
            self._queue.clear()
            self._inflight = []
            self._inflight_bytes = 0
            self.stats.dropped_total += lost
            self.stats.queued = 0
            self.stats.queued_bytes = 0
            log.error(
                "audit drain incomplete; dropping events",
                extra={"dropped": lost, "dropped_total": self.stats.dropped_total, "timeout_s": within},
            )
        log.info("audit writer stopped", extra=self.stats.snapshot())

    # Writer task --------------------------------------------------------------------------------

    async def _run(self) -> None:
        while True:
            if not self._queue:
                if self._closing:
                    return
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            if not (self._closing or self._urgent) and len(self._queue) < self.batch_size:
                remaining = self._queue[0][0] + self.flush_interval - time.monotonic()
                if remaining > 0:
                    self._wakeup.clear()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wakeup.wait(), remaining)
                    continue
            self._inflight = self._take()
            try:
                await self._write(self._inflight)
            except Exception:  # a bug here must not end auditing for the life of the process
                log.exception("audit writer error; dropping batch", extra={"batch_size": len(self._inflight)})
                self.stats.dropped_total += len(self._inflight)
            self._settle(len(self._inflight), self._inflight_bytes)
            self._inflight = []
            self._inflight_bytes = 0

    def _take(self) -> list[EventRecord]:
        batch: list[EventRecord] = []
        size = 0
        while self._queue and len(batch) < self.batch_size:
            _, record, record_bytes = self._queue[0]
            if batch and size + record_bytes > MAX_BATCH_BYTES:
                break
            size += record_bytes
            self._queue.popleft()
            batch.append(record)
        self._inflight_bytes = size
        if batch:
            self._wake_waiters()  # the queue has room again (its bytes are released when the batch settles)
        return batch

    def _settle(self, count: int, size: int) -> None:
        self._settled_seq += count
        self.stats.queued -= count
        self.stats.queued_bytes -= size
        self._progress.set()
        self._wake_waiters()

    async def _write(self, batch: list[EventRecord]) -> None:
        """Store ``batch``, retrying with backoff while the database fails; returns once every record is
        written or deliberately dropped."""
        delay = self.retry_initial
        while True:
            started = time.perf_counter()
            try:
                await asyncio.wait_for(self.store.append_many(batch), self.write_timeout)
            except InvalidRecordError:
                await self._write_each(batch)
                return
            except Exception as exc:
                self._failed(exc, len(batch), delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.retry_max)
                continue
            self._failing = False
            elapsed = time.perf_counter() - started
            self.stats.written_total += len(batch)
            self.stats.batches_total += 1
            self.stats.batch_seconds_total += elapsed
            self.stats.last_batch_size = len(batch)
            self.stats.last_batch_ms = elapsed * 1000
            self.stats.last_write_at = datetime.now(UTC)
            await self._after_batch(batch)
            return

    async def _after_batch(self, batch: list[EventRecord]) -> None:
        """The hook run after a batch is stored (e.g. per-minute rollups); a failing hook is logged, never
        retried, and never costs the rows."""
        for hook in self.after_batch:
            try:
                await hook(batch)
            except Exception:
                log.exception("audit after-batch hook failed", extra={"batch_size": len(batch)})

    async def _write_each(self, batch: list[EventRecord]) -> None:
        """One record per transaction, so one bad row does not take the batch with it."""
        for record in batch:
            try:
                await self._write_one(record)
            except InvalidRecordError as refused:
                exc = refused
                payload = record.payload
                if payload is not None and payload.replayed_from:
                    # The replayed event may be gone (retention): keep the row, lose only the link.
                    record = replace(record, payload=replace(payload, replayed_from=None))
                    try:
                        await self._write_one(record)
                        continue
                    except InvalidRecordError as again:
                        exc = again
                if await self._write_replaced(record, exc):
                    continue
                self.stats.dropped_total += 1
                self.stats.rejected_total += 1
                self.stats.last_error = f"{type(exc).__name__}: {exc}"
                self.stats.last_error_at = datetime.now(UTC)
                log.error(
                    "audit event refused by the database; dropping it",
                    extra={"event_id": record.id, "method": record.method, "path": record.path, "err": str(exc)},
                )

    async def _write_replaced(self, record: EventRecord, exc: InvalidRecordError) -> bool:
        """Write a refused record with its offending fields replaced and marked (:mod:`apitest.audit.scrub`);
        ``True`` when one of the replacements was stored."""
        for candidate in (scrubbed(record), minimal(record, str(exc))):
            if candidate is None:
                continue
            try:
                await self._write_one(candidate)
            except InvalidRecordError as again:
                exc = again
                continue
            self.stats.scrubbed_total += 1
            log.warning(
                "audit event refused by the database; stored with fields replaced",
                extra={"event_id": record.id, "err": str(exc), "details": candidate.details},
            )
            return True
        return False

    async def _write_one(self, record: EventRecord) -> None:
        delay = self.retry_initial
        while True:
            try:
                await asyncio.wait_for(self.store.append_many([record]), self.write_timeout)
            except InvalidRecordError:
                raise
            except Exception as exc:
                self._failed(exc, 1, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.retry_max)
                continue
            self.stats.written_total += 1
            self.stats.last_write_at = datetime.now(UTC)
            return

    def _failed(self, exc: BaseException, batch_size: int, retry_in: float) -> None:
        message = f"{type(exc).__name__}: {exc}".strip()
        if isinstance(exc, TimeoutError):
            message = f"TimeoutError: write took longer than {self.write_timeout:g}s"
        self._failing = True
        self._wake_waiters(
            everyone=True
        )  # producers waiting for room stop waiting: during an outage events are dropped
        self.stats.write_errors_total += 1
        self.stats.last_error = message
        self.stats.last_error_at = datetime.now(UTC)
        log.warning(
            "audit write failed",
            extra={
                "err": message,
                "batch_size": batch_size,
                "retry_in_s": retry_in,
                "queued": self.stats.queued,
                "write_errors_total": self.stats.write_errors_total,
            },
        )
