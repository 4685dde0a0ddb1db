from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Iterator

import pytest

from apitest.audit.buffer import AuditWriter
from apitest.audit.records import EventRecord, InvalidRecordError, PayloadRecord
from apitest.audit.store_memory import MemoryAuditStore
from apitest.audit.store_sql import StoreError
from tests.audit.conftest import event


class Captured(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def messages(self, level: int | None = None) -> list[str]:
        return [r.getMessage() for r in self.records if level is None or r.levelno == level]


@pytest.fixture
def audit_log() -> Iterator[Captured]:
    logger = logging.getLogger("apitest.audit")
    handler = Captured()
    logger.addHandler(handler)
    previous = logger.level
    logger.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous)


async def eventually(check: Callable[[], bool], within: float = 3.0) -> None:
    deadline = time.monotonic() + within
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.01)


class FlakyStore(MemoryAuditStore):
    """Refuses records whose path is /bad as the database would refuse a bad row; can hang."""

    def __init__(self) -> None:
        super().__init__()
        self.hang = False
        self.refuse_ids: set[str] = set()  # refused in every form

    async def append_many(self, records: list[EventRecord]) -> None:
        if self.hang:
            await asyncio.sleep(3600)
        if any(r.path == "/bad" or r.id in self.refuse_ids for r in records):
            self.append_calls.append(len(records))
            raise InvalidRecordError("value too long")
        await super().append_many(records)


async def test_batches_by_size_then_by_interval() -> None:
    store = MemoryAuditStore()
    writer = AuditWriter(store, batch_size=3, flush_interval=0.5)
    writer.start()
    started = time.monotonic()
    for i in range(7):
        assert writer.offer(event(i))
    await eventually(lambda: writer.stats.written_total == 6, within=0.3)  # full batches go at once
    assert store.append_calls == [3, 3]
    await eventually(lambda: writer.stats.written_total == 7)
    assert time.monotonic() - started >= 0.49  # the 7th waited for the interval
    assert store.append_calls == [3, 3, 1]
    assert (writer.stats.batches_total, writer.stats.last_batch_size, writer.stats.queued) == (3, 1, 0)
    await writer.close()


async def test_flush_writes_without_waiting_for_the_interval() -> None:
    store = MemoryAuditStore()
    writer = AuditWriter(store, batch_size=100, flush_interval=60)
    writer.start()
    for i in range(5):
        writer.offer(event(i))
    assert await writer.flush(within=1.0)
    assert store.append_calls == [5]
    await writer.close()


async def test_full_buffer_drops_counts_and_warns_on_1st_and_every_1000th(audit_log: Captured) -> None:
    writer = AuditWriter(MemoryAuditStore(), buffer_size=2)  # not started: nothing drains
    results = [writer.offer(event(i)) for i in range(2 + 2001)]
    assert results.count(True) == 2
    assert (writer.stats.accepted_total, writer.stats.dropped_total, writer.stats.queued) == (2, 2001, 2)
    warns = [r for r in audit_log.records if r.getMessage() == "audit buffer full; dropping events"]
    assert [r.__dict__["dropped_total"] for r in warns] == [1, 1001, 2001]
    assert all(r.levelno == logging.WARNING for r in warns)


async def test_failed_write_keeps_the_batch_and_retries_with_backoff(audit_log: Captured) -> None:
    store = MemoryAuditStore()
    store.fail_with = StoreError("ConnectionRefusedError: [Errno 111] Connect call failed")
    writer = AuditWriter(store, batch_size=10, flush_interval=0.01, retry_initial=0.01, retry_max=0.04)
    writer.start()
    first = [event(i) for i in range(4)]
    for record in first:
        writer.offer(record)
    await eventually(lambda: writer.stats.write_errors_total >= 4)
    later = [event(10 + i) for i in range(3)]
    for record in later:
        assert writer.offer(record)  # requests keep going while the database is down
    assert writer.stats.written_total == 0
    assert writer.stats.queued == 7
    assert writer.stats.last_error == "StoreError: ConnectionRefusedError: [Errno 111] Connect call failed"
    assert all(size == 4 for size in store.append_calls)  # the same batch, retried
    store.fail_with = None
    assert await writer.flush(within=2.0)
    assert set(store.events) == {r.id for r in first + later}
    assert (writer.stats.written_total, writer.stats.dropped_total, writer.stats.queued) == (7, 0, 0)
    assert "audit write failed" in audit_log.messages(logging.WARNING)
    await writer.close()


async def test_while_the_database_is_down_the_buffer_bounds_memory() -> None:
    store = MemoryAuditStore()
    store.fail_with = StoreError("down")
    writer = AuditWriter(store, buffer_size=3, batch_size=2, flush_interval=0.0, retry_initial=0.01, retry_max=0.02)
    writer.start()
    writer.offer(event(0))
    writer.offer(event(1))
    await eventually(lambda: writer.stats.write_errors_total >= 1)  # batch of 2 taken out and retrying
    accepted = [writer.offer(event(10 + i)) for i in range(5)]
    assert accepted == [True, True, True, False, False]
    assert writer.stats.dropped_total == 2
    store.fail_with = None
    assert await writer.flush(within=2.0)
    assert writer.stats.written_total == 5
    await writer.close()


async def test_a_row_the_database_refuses_is_stored_with_the_offending_fields_replaced(audit_log: Captured) -> None:
    store = FlakyStore()
    writer = AuditWriter(store, batch_size=10, flush_interval=0.01)
    writer.start()
    good = [event(i) for i in range(3)]
    bad = event(5, path="/bad", error_message="boom")
    for record in [good[0], bad, *good[1:]]:
        writer.offer(record)
    assert await writer.flush(within=2.0)
    assert set(store.events) == {r.id for r in [*good, bad]}
    stored = await store.get(bad.id)
    assert stored is not None
    assert (stored.path, stored.error_message, stored.status) == ("[unstorable]", "[unstorable]", bad.status)
    assert stored.details is not None and stored.details["audit_unstorable"] == ["path", "error_message"]
    assert stored.details["audit_refusal"] == "value too long"
    assert (writer.stats.written_total, writer.stats.dropped_total, writer.stats.scrubbed_total) == (4, 0, 1)
    assert "audit event refused by the database; stored with fields replaced" in audit_log.messages(logging.WARNING)
    await writer.close()


async def test_a_row_refused_in_every_form_is_dropped_alone(audit_log: Captured) -> None:
    store = FlakyStore()
    writer = AuditWriter(store, batch_size=10, flush_interval=0.01)
    writer.start()
    good = [event(i) for i in range(3)]
    bad = event(5)
    store.refuse_ids.add(bad.id)
    for record in [good[0], bad, *good[1:]]:
        writer.offer(record)
    assert await writer.flush(within=2.0)
    assert set(store.events) == {r.id for r in good}
    assert (writer.stats.written_total, writer.stats.dropped_total, writer.stats.rejected_total) == (3, 1, 1)
    assert writer.stats.write_errors_total == 0
    errors = [r for r in audit_log.records if r.levelno == logging.ERROR]
    assert [r.getMessage() for r in errors] == ["audit event refused by the database; dropping it"]
    assert errors[0].__dict__["event_id"] == bad.id
    await writer.close()


async def test_a_replay_of_a_deleted_event_keeps_its_row_without_the_link() -> None:
    store = MemoryAuditStore()
    writer = AuditWriter(store, flush_interval=0.01)
    writer.start()
    replay = event(payload=PayloadRecord(replayed_from="00000000-0000-4000-8000-000000000000"), source="replay")
    writer.offer(replay)
    writer.offer(event(1))
    assert await writer.flush(within=2.0)
    stored = await store.get(replay.id)
    assert stored is not None and stored.payload is not None and stored.payload.replayed_from is None
    assert (writer.stats.written_total, writer.stats.dropped_total) == (2, 0)
    await writer.close()


async def test_a_hanging_write_times_out_and_is_retried() -> None:
    store = FlakyStore()
    store.hang = True
    writer = AuditWriter(store, flush_interval=0.0, write_timeout=0.05, retry_initial=0.01)
    writer.start()
    writer.offer(event())
    await eventually(lambda: writer.stats.write_errors_total >= 1)
    assert writer.stats.last_error == "TimeoutError: write took longer than 0.05s"
    store.hang = False
    assert await writer.flush(within=2.0)
    assert writer.stats.written_total == 1
    await writer.close()


async def test_close_drains_everything_queued(audit_log: Captured) -> None:
    store = MemoryAuditStore()
    writer = AuditWriter(store, batch_size=50, flush_interval=60)
    writer.start()
    for i in range(120):
        writer.offer(event(i))
    await writer.close(within=5.0)
    assert len(store.events) == 120
    assert store.append_calls == [50, 50, 20]
    assert "audit writer stopped" in audit_log.messages(logging.INFO)
    assert not writer.offer(event(999))  # after shutdown: counted, not lost silently
    assert writer.stats.dropped_total == 1


async def test_close_gives_up_at_its_deadline_and_counts_what_is_lost(audit_log: Captured) -> None:
    store = MemoryAuditStore()
    store.fail_with = StoreError("down")
    writer = AuditWriter(store, batch_size=2, flush_interval=0.0, retry_initial=0.01, retry_max=0.02)
    writer.start()
    for i in range(5):
        writer.offer(event(i))
    started = time.monotonic()
    await writer.close(within=0.2)
    assert time.monotonic() - started < 1.0
    assert (writer.stats.written_total, writer.stats.dropped_total, writer.stats.queued) == (0, 5, 0)
    errors = [r for r in audit_log.records if r.getMessage() == "audit drain incomplete; dropping events"]
    assert len(errors) == 1 and errors[0].__dict__["dropped"] == 5


async def test_snapshot_is_json_ready() -> None:
    writer = AuditWriter(MemoryAuditStore(), buffer_size=7)
    writer.start()
    writer.offer(event())
    assert await writer.flush(within=2.0)
    snap = writer.stats.snapshot()
    json.dumps(snap)
    assert snap["buffer_size"] == 7 and snap["written_total"] == 1 and snap["last_write_at"].endswith("Z")
    await writer.close()


async def test_the_buffer_is_bounded_in_bytes_too() -> None:
    from apitest.audit.buffer import record_size

    store = MemoryAuditStore()
    store.fail_with = StoreError("down")
    big = PayloadRecord(request_headers={"X-Big": ["h" * 50_000]}, request_body=b"b" * 50_000)
    size = record_size(event(payload=big))
    assert size > 100_000
    writer = AuditWriter(store, buffer_size=1000, buffer_bytes=3 * size + 1000, batch_size=1, flush_interval=0.0)
    accepted = [writer.offer(event(i, payload=big)) for i in range(5)]
    assert accepted == [True, True, True, False, False]
    assert writer.stats.dropped_total == 2
    assert writer.stats.queued_bytes == 3 * size
    assert writer.offer(event(10))  # a small event still fits in what is left
    store.fail_with = None
    writer.start()
    assert await writer.flush(within=2.0)
    assert (writer.stats.written_total, writer.stats.queued, writer.stats.queued_bytes) == (4, 0, 0)
    await writer.close()
