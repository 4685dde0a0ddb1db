from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from apitest.audit.records import EventRecord
from apitest.audit.store_memory import MemoryAuditStore
from apitest.webhooks.delivery import Schedule, Sender
from apitest.webhooks.records import DeliveryFilters
from apitest.webhooks.service import WebhookService
from apitest.webhooks.store import WebhookStore
from tests.webhooks.conftest import subscription
from tests.webhooks.support import FakeClock, receiver

SCHEDULE = Schedule(max_attempts=3, base=10.0, cap=100.0, jitter=0.0)


@pytest.fixture
async def service(store: WebhookStore, clock: FakeClock) -> AsyncIterator[WebhookService]:
    sender = Sender(allowed_hosts=["127.0.0.1"], connect_timeout=2, timeout=5, max_response_bytes=1024)
    svc = WebhookService(store, sender, SCHEDULE, clock=clock, audit_store=MemoryAuditStore())
    yield svc
    await svc.stop()


async def test_two_failures_then_the_third_attempt_delivers_at_the_documented_backoff(
    service: WebhookService, store: WebhookStore, clock: FakeClock
) -> None:
    with receiver(503, 500, 204) as (url, script):
        await store.create_subscription(subscription(url=url))
        message_id, names, (delivery_id,) = await service.send("order.created", {"id": "ord_1"})
        assert names == ["hooks"] and message_id.startswith("msg_")
        start = clock()
        assert await service.deliver_due() == 1
        assert await service.deliver_due() == 0  # not due before the backoff
        clock.advance(9.9)
        assert await service.deliver_due() == 0
        clock.advance(0.1)
        assert await service.deliver_due() == 1
        clock.advance(19.9)
        assert await service.deliver_due() == 0
        clock.advance(0.1)
        assert await service.deliver_due() == 1
    delivery = await store.get_delivery(delivery_id)
    assert delivery is not None and delivery.state == "succeeded" and delivery.attempts == 3
    log = delivery.attempt_log
    assert [(a.number, a.status, a.outcome) for a in log] == [
        (1, 503, "retry"),
        (2, 500, "retry"),
        (3, 204, "succeeded"),
    ]
    assert [a.started_at - start for a in log] == [timedelta(0), timedelta(seconds=10), timedelta(seconds=30)]
    assert [a.next_attempt_at for a in log] == [start + timedelta(seconds=10), start + timedelta(seconds=30), None]
    bodies = {r.body for r in script.received}
    assert len(bodies) == 1  # every retry sends the same bytes
    assert json.loads(bodies.pop())["data"] == {"id": "ord_1"}
    assert {r.headers["webhook-id"] for r in script.received} == {message_id}
    assert (service.stats.attempts_total, service.stats.succeeded_total, service.stats.failed_total) == (3, 1, 2)


async def test_always_failing_ends_in_dead_letter_and_is_redelivered(
    service: WebhookService, store: WebhookStore, clock: FakeClock
) -> None:
    with receiver(500, 500, 500, 204) as (url, _):
        await store.create_subscription(subscription(url=url))
        _, _, (delivery_id,) = await service.send("order.created", {})
        for _ in range(3):
            await service.deliver_due()
            clock.advance(100)
        dead = await store.get_delivery(delivery_id)
        assert dead is not None and dead.state == "dead" and dead.attempts == 3 and dead.completed_at is not None
        assert dead.attempt_log[-1].outcome == "dead" and dead.attempt_log[-1].next_attempt_at is None
        assert service.stats.dead_total == 1
        assert await service.deliver_due() == 0
        assert await service.redeliver(delivery_id)
        assert await service.deliver_due() == 1
    done = await store.get_delivery(delivery_id)
    assert done is not None and done.state == "succeeded" and done.attempts == 4
    assert [a.number for a in done.attempt_log] == [1, 2, 3, 4]
    assert service.stats.redelivered_total == 1


async def test_a_non_retryable_status_dead_letters_at_once(service: WebhookService, store: WebhookStore) -> None:
    with receiver((410, {}, b"gone")) as (url, _):
        await store.create_subscription(subscription(url=url))
        _, _, (delivery_id,) = await service.send("order.created", {})
        await service.deliver_due()
    delivery = await store.get_delivery(delivery_id)
    assert delivery is not None and delivery.state == "dead" and delivery.attempts == 1
    assert delivery.last_error is not None and "not retried" in delivery.last_error
    assert delivery.attempt_log[0].response_body == b"gone"


async def test_sends_reach_subscriptions_by_type_or_name(service: WebhookService, store: WebhookStore) -> None:
    await store.create_subscription(subscription("all"))
    await store.create_subscription(subscription("orders", event_types=["order.created"]))
    await store.create_subscription(subscription("none", event_types=[]))
    await store.create_subscription(subscription("off", active=False))
    assert (await service.send("order.created", {}))[1] == ["all", "orders"]
    assert (await service.send("user.deleted", {}))[1] == ["all"]
    assert (await service.send("user.deleted", {}, "none"))[1] == ["none"]
    assert (await service.send("user.deleted", {}, "off"))[2] == []


def event(recorded_at: datetime, **fields: object) -> EventRecord:
    base: dict[str, object] = {
        "id": str(uuid.uuid4()),
        "ts": recorded_at,
        "method": "POST",
        "path": "/v1/orders",
        "status": 503,
        "success": False,
        "route_name": "create_order",
        "recorded_at": recorded_at,
    }
    return EventRecord(**(base | fields))  # type: ignore[arg-type]


async def test_the_audit_poller_enqueues_matching_rows_once(store: WebhookStore, clock: FakeClock) -> None:
    audit = MemoryAuditStore()
    sender = Sender(allowed_hosts=["127.0.0.1"], connect_timeout=1, timeout=1, max_response_bytes=10)
    service = WebhookService(store, sender, SCHEDULE, clock=clock, audit_store=audit)
    try:
        clock.now = datetime.now(UTC)
        assert await service.poll_audit() == 0  # first run: the cursor starts now
        await store.create_subscription(subscription("errors", filter="status=5xx route_name=create_order"))
        await store.create_subscription(subscription("text", filter="q=needle"))
        await store.create_subscription(subscription("sends-only"))
        clock.advance(1)
        base = clock()
        matching = event(base)
        rows = [
            matching,
            event(base, status=201, success=True),
            event(base, route_name="validate"),
            event(base, user_agent="apitest-webhooks/0.1.0"),  # our own delivery: never matched
            event(base - timedelta(hours=1)),  # recorded before the subscriptions existed
        ]
        audit.events = {r.id: r for r in rows}
        assert await service.poll_audit() == 1
        assert await service.poll_audit() == 0  # the settle window re-reads rows; nothing is enqueued twice
        service._seen.clear()  # another worker (no memory of it) re-reading the same rows
        assert await service.poll_audit() == 0
        (delivery,) = (await store.list_deliveries(DeliveryFilters())).deliveries
        assert (delivery.subscription_name, delivery.event_id, delivery.event_type) == (
            "errors",
            matching.id,
            "audit.event",
        )
        assert json.loads(delivery.payload)["data"]["id"] == matching.id
        cursor = await store.read_cursor()
        assert cursor is not None and cursor.ts == base
    finally:
        await service.stop()


async def test_free_text_filters_read_the_captured_payload(store: WebhookStore, clock: FakeClock) -> None:
    from apitest.audit.records import PayloadRecord

    audit = MemoryAuditStore()
    sender = Sender(allowed_hosts=["127.0.0.1"], connect_timeout=1, timeout=1, max_response_bytes=10)
    service = WebhookService(store, sender, SCHEDULE, clock=clock, audit_store=audit)
    try:
        clock.now = datetime.now(UTC)
        await service.poll_audit()
        await store.create_subscription(subscription("text", filter="q=needle"))
        clock.advance(1)
        hit = event(clock(), payload=PayloadRecord(request_body=b'{"note":"a needle here"}'))
        await audit.append_many([hit, event(clock(), payload=PayloadRecord(request_body=b"hay"))])
        for r in audit.events.values():
            r.recorded_at = clock()
        assert await service.poll_audit() == 1
        (delivery,) = (await store.list_deliveries(DeliveryFilters())).deliveries
        assert delivery.event_id == hit.id
    finally:
        await service.stop()


async def test_two_workers_never_send_a_delivery_twice(store: WebhookStore, clock: FakeClock) -> None:
    import asyncio

    from apitest.db.engine import Database

    other_db = Database(store.database.url)
    services = []
    try:
        with receiver(204) as (url, script):
            await store.create_subscription(subscription(url=url))
            for stores in (store, WebhookStore(other_db, clock)):
                sender = Sender(allowed_hosts=["127.0.0.1"], connect_timeout=2, timeout=5, max_response_bytes=64)
                services.append(WebhookService(stores, sender, SCHEDULE, clock=clock, concurrency=3))
            sent = [(await services[0].send("order.created", {"n": n}))[0] for n in range(12)]
            rounds = await asyncio.gather(*(s.deliver_due() for s in services for _ in range(2)))
            assert sum(rounds) == 12
        ids = [r.headers["webhook-id"] for r in script.received]
        assert sorted(ids) == sorted(sent)  # each message exactly once
        assert sum(s.stats.attempts_total for s in services) == 12
    finally:
        for s in services:
            await s.stop()
        await other_db.dispose()


async def test_purge_runs_at_most_hourly(store: WebhookStore, clock: FakeClock) -> None:
    sender = Sender(allowed_hosts=["127.0.0.1"], connect_timeout=1, timeout=1, max_response_bytes=10)
    service = WebhookService(store, sender, SCHEDULE, clock=clock, retention_days=1)
    calls: list[object] = []

    async def purge_finished(before: object) -> int:
        calls.append(before)
        return 0

    store.purge_finished = purge_finished  # type: ignore[method-assign]
    try:
        await service.purge()
        clock.advance(60)
        await service.purge()
        clock.advance(3600)
        await service.purge()
        assert calls == [clock.now - timedelta(seconds=3660) - timedelta(days=1), clock.now - timedelta(days=1)]
    finally:
        await service.stop()


async def test_a_failed_enqueue_is_retried_on_the_next_poll(store: WebhookStore, clock: FakeClock) -> None:
    audit = MemoryAuditStore()
    sender = Sender(allowed_hosts=["127.0.0.1"], connect_timeout=1, timeout=1, max_response_bytes=10)
    service = WebhookService(store, sender, SCHEDULE, clock=clock, audit_store=audit)
    real_enqueue = store.enqueue
    failures = [OSError("database went away")]

    async def flaky_enqueue(*args: Any, **kwargs: Any) -> list[str]:
        if failures:
            raise failures.pop()
        return await real_enqueue(*args, **kwargs)

    try:
        clock.now = datetime.now(UTC)
        await service.poll_audit()
        await store.create_subscription(subscription("errors", filter="status=5xx"))
        clock.advance(1)
        row = event(clock())
        audit.events = {row.id: row}
        store.enqueue = flaky_enqueue  # type: ignore[method-assign]
        with pytest.raises(OSError):
            await service.poll_audit()
        assert await service.poll_audit() == 1
    finally:
        await service.stop()


async def test_stopping_mid_attempt_hands_the_delivery_back(store: WebhookStore, clock: FakeClock) -> None:
    import asyncio
    import socket

    with socket.socket() as silent:  # accepts connections, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/hook"
        sender = Sender(allowed_hosts=["127.0.0.1"], connect_timeout=5, timeout=30, max_response_bytes=10)
        service = WebhookService(store, sender, SCHEDULE, clock=clock)
        await store.create_subscription(subscription(url=url))
        _, _, (delivery_id,) = await service.send("x.y", {})
        task = asyncio.create_task(service.deliver_due())
        for _ in range(200):
            delivery = await store.get_delivery(delivery_id)
            if delivery is not None and delivery.state == "delivering":
                break
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await service.stop()
    delivery = await store.get_delivery(delivery_id)
    assert delivery is not None and (delivery.state, delivery.attempts) == ("pending", 0)
    assert len(await store.claim_due(1, 30)) == 1  # due again at once, no lease to wait out


async def test_the_worker_loop_polls_then_sleeps_the_poll_interval(store: WebhookStore, clock: FakeClock) -> None:
    import asyncio

    naps: list[float] = []
    rounds: list[int] = []
    enough = asyncio.Event()

    async def sleep(seconds: float) -> None:
        naps.append(seconds)
        if len(naps) == 3:
            enough.set()
        await asyncio.sleep(0)

    sender = Sender(allowed_hosts=["127.0.0.1"], connect_timeout=1, timeout=1, max_response_bytes=10)
    service = WebhookService(store, sender, SCHEDULE, clock=clock, poll_interval=2.5, sleep=sleep)
    real_run_once = service.run_once

    async def counted() -> None:
        rounds.append(1)
        if len(rounds) == 2:
            raise OSError("database hiccup")  # logged; the loop goes on
        await real_run_once()

    service.run_once = counted  # type: ignore[method-assign]
    service.start()
    try:
        await asyncio.wait_for(enough.wait(), 10)
    finally:
        await service.stop()
    assert naps[:3] == [2.5, 2.5, 2.5] and len(rounds) >= 3
