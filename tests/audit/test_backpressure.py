"""Bounded backpressure: a full buffer makes a request wait for room while the database is healthy, and
drops at once during an outage; the after-batch hooks see every stored batch."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from apitest.audit.buffer import AuditWriter
from apitest.audit.records import EventRecord


def event(n: int) -> EventRecord:
    return EventRecord(
        id=f"00000000-0000-4000-8000-{n:012d}", ts=datetime.now(UTC), method="GET", path="/", status=200, success=True
    )


class GatedStore:
    def __init__(self) -> None:
        self.gate = asyncio.Event()
        self.stored: list[EventRecord] = []
        self.fail = False

    async def append_many(self, records: list[EventRecord]) -> None:
        await self.gate.wait()
        if self.fail:
            raise ConnectionError("database down")
        self.stored += records


async def test_a_full_buffer_waits_for_room_and_loses_nothing() -> None:
    store = GatedStore()
    writer = AuditWriter(store, buffer_size=1, batch_size=1, flush_interval=0.0, backpressure_wait=30.0)  # type: ignore[arg-type]
    seen: list[int] = []

    async def hook(batch: list[EventRecord]) -> None:
        seen.append(len(batch))

    writer.after_batch.append(hook)
    writer.start()
    try:
        assert await writer.put(event(1))
        await asyncio.sleep(0.01)  # the writer takes it and waits on the database
        assert await writer.put(event(2))  # the buffer holds one
        waiting = asyncio.create_task(writer.put(event(3)))
        await asyncio.sleep(0.01)
        assert not waiting.done() and writer.stats.backpressure_waits_total == 1
        store.gate.set()
        assert await waiting
        assert await writer.flush(10)
    finally:
        await writer.close(5)
    assert writer.stats.dropped_total == 0
    assert len(store.stored) == writer.stats.written_total == 3
    assert seen == [1, 1, 1]


async def test_during_an_outage_a_full_buffer_drops_at_once() -> None:
    store = GatedStore()
    store.fail = True
    store.gate.set()
    writer = AuditWriter(
        store, buffer_size=1, batch_size=1, flush_interval=0.0, retry_initial=10.0, backpressure_wait=30.0
    )  # type: ignore[arg-type]
    writer.start()
    try:
        assert await writer.put(event(1))
        await asyncio.sleep(0.01)  # the first write fails: the database is out
        assert await writer.put(event(2))  # the buffer holds one more
        assert not await asyncio.wait_for(writer.put(event(3)), 1.0)
        assert writer.stats.dropped_total == 1 and writer.stats.backpressure_waits_total == 0
    finally:
        await writer.close(0.1)


async def test_waiters_get_room_first_come_first_served_and_only_as_many_as_fit() -> None:
    store = GatedStore()
    writer = AuditWriter(store, buffer_size=2, batch_size=2, flush_interval=0.0, backpressure_wait=30.0)  # type: ignore[arg-type]
    order: list[int] = []

    async def put(n: int) -> None:
        assert await writer.put(event(n))
        order.append(n)

    writer.start()
    try:
        for n in (1, 2):
            await writer.put(event(n))
        await asyncio.sleep(0.01)  # the writer took both and waits on the database
        for n in (3, 4):
            await writer.put(event(n))  # the buffer is full again
        waiting = []
        for n in (5, 6, 7, 8, 9):
            waiting.append(asyncio.create_task(put(n)))
            await asyncio.sleep(0)  # in this order
        await asyncio.sleep(0.01)
        assert order == [] and writer.stats.backpressure_waits_total == 5
        store.gate.set()
        await asyncio.gather(*waiting)
        assert await writer.flush(10)
    finally:
        await writer.close(5)
    assert order == [5, 6, 7, 8, 9]
    assert [r.id[-1] for r in store.stored] == list("123456789")
    assert writer.stats.dropped_total == 0


async def test_a_cancelled_waiter_leaves_the_line_without_losing_the_others() -> None:
    store = GatedStore()
    writer = AuditWriter(store, buffer_size=1, batch_size=1, flush_interval=0.0, backpressure_wait=30.0)  # type: ignore[arg-type]
    writer.start()
    try:
        await writer.put(event(1))
        await asyncio.sleep(0.01)
        await writer.put(event(2))
        gone = asyncio.create_task(writer.put(event(3)))
        kept = asyncio.create_task(writer.put(event(4)))
        await asyncio.sleep(0.01)
        gone.cancel()  # the client went away while its request waited
        store.gate.set()
        assert await kept
        assert await writer.flush(10)
    finally:
        await writer.close(5)
    assert sorted(r.id[-1] for r in store.stored) == ["1", "2", "4"]


async def test_a_held_place_is_queued_at_once_and_a_released_one_lets_the_next_in() -> None:
    store = GatedStore()
    writer = AuditWriter(store, buffer_size=1, batch_size=1, flush_interval=0.0, backpressure_wait=30.0)  # type: ignore[arg-type]
    writer.start()
    try:
        assert await writer.reserve()  # the only place
        waiting = asyncio.create_task(writer.reserve())
        await asyncio.sleep(0.01)
        assert not waiting.done()  # the buffer is full: held places count
        writer.release()  # the event of the first place will not be queued after all
        assert await waiting
        assert await writer.put(event(1), reserved=True)  # queued without waiting
        store.gate.set()
        assert await writer.flush(10)
    finally:
        await writer.close(5)
    assert [r.id for r in store.stored] == [event(1).id] and writer.stats.dropped_total == 0


async def test_a_full_buffer_holds_back_the_end_of_the_response_not_just_the_event() -> None:
    """The place is held before the last message of the response is passed on: a client waiting for the end
    of its response sends nothing more, so the events cannot pile up behind a slow database."""
    from apitest.audit.capture import AuditMiddleware
    from tests.support import make_settings

    store = GatedStore()
    writer = AuditWriter(store, buffer_size=1, batch_size=1, flush_interval=0.0, backpressure_wait=30.0)  # type: ignore[arg-type]
    settings = make_settings()

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
        await send({"type": "http.response.body", "body": b"ok"})

    audited = AuditMiddleware(app, settings=settings, writer=writer)
    sent: dict[int, list[str]] = {}

    async def request(n: int) -> None:
        scope = {"type": "http", "method": "GET", "path": f"/v1/{n}", "raw_path": f"/v1/{n}".encode()}
        scope |= {"headers": [], "query_string": b"", "client": ("127.0.0.1", n), "http_version": "1.1"}

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            sent.setdefault(n, []).append(message["type"])

        await audited(scope, receive, send)

    writer.start()
    try:
        await request(1)
        await asyncio.sleep(0.01)  # the writer took the first event and waits on the database
        await request(2)  # its event fills the buffer
        third = asyncio.create_task(request(3))
        await asyncio.sleep(0.05)
        assert sent[3] == ["http.response.start"]  # the end of its response waits for room
        store.gate.set()
        await third
        assert sent[3] == ["http.response.start", "http.response.body"]
        assert await writer.flush(10)
    finally:
        await writer.close(5)
    assert len(store.stored) == 3 and writer.stats.dropped_total == 0
