from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from apitest.audit.records import Cursor
from apitest.db.engine import Database
from apitest.webhooks.records import Attempt, DeliveryFilters
from apitest.webhooks.store import NameTaken, WebhookStore, new_id
from tests.webhooks.conftest import subscription
from tests.webhooks.support import FakeClock


def attempt_for(claim_delivery_id: str, number: int, clock: FakeClock, status: int = 500) -> Attempt:
    return Attempt(
        id=new_id(),
        delivery_id=claim_delivery_id,
        number=number,
        started_at=clock(),
        url="http://127.0.0.1:9/hook",
        outcome="retry",
        status=status,
        response_headers={"Content-Type": ["text/plain"]},
        response_body=b"\x00\xffbinary",
        error=f"status {status}",
    )


async def test_subscriptions_crud_and_unique_names(store: WebhookStore) -> None:
    sub = await store.create_subscription(subscription(filter="status=5xx"))
    assert sub.id and sub.created_at is not None
    with pytest.raises(NameTaken):
        await store.create_subscription(subscription())
    assert [s.name for s in await store.list_subscriptions()] == ["hooks"]
    found = await store.get_subscription("hooks")
    assert found is not None and found.id == sub.id and found.secret == sub.secret
    assert "secret" not in found.to_json()
    updated = await store.update_subscription(sub.id, {"active": False, "filter": None})
    assert updated is not None and not updated.active and updated.filter is None
    assert await store.delete_subscription(sub.id)
    assert await store.get_subscription(sub.id) is None


async def test_config_sync_upserts_by_name_and_deactivates_removed(store: WebhookStore) -> None:
    await store.sync_config([subscription("a"), subscription("b")])
    await store.create_subscription(subscription("by-api"))
    await store.sync_config([subscription("a", url="http://127.0.0.1:10/new")])
    subs = {s.name: s for s in await store.list_subscriptions()}
    assert subs["a"].url == "http://127.0.0.1:10/new" and subs["a"].active and subs["a"].source == "config"
    assert not subs["b"].active
    assert subs["by-api"].active and subs["by-api"].source == "api"


async def test_an_audit_event_is_enqueued_once_per_subscription(store: WebhookStore) -> None:
    a = await store.create_subscription(subscription("a"))
    b = await store.create_subscription(subscription("b"))
    first = await store.enqueue([a, b], "audit.event", b"{}", event_id="ev-1")
    again = await store.enqueue([a, b], "audit.event", b"{}", event_id="ev-1")
    sends = [await store.enqueue([a], "x", b"{}") for _ in range(2)]  # explicit sends have no event id
    assert len(first) == 2 and again == [] and all(len(s) == 1 for s in sends)


async def test_claims_are_exclusive_between_workers(database: Database, clock: FakeClock) -> None:
    stores = [WebhookStore(database, clock), WebhookStore(Database(database.url), clock)]
    try:
        sub = await stores[0].create_subscription(subscription())
        for _ in range(6):
            await stores[0].enqueue([sub], "x", b"{}")
        results = await asyncio.gather(*(s.claim_due(6, 60) for s in stores for _ in range(2)))
        ids = [c.delivery.id for claims in results for c in claims]
        assert len(ids) == 6 and len(set(ids)) == 6
        assert await stores[0].claim_due(10, 60) == []
    finally:
        await stores[1].database.dispose()


async def test_a_lapsed_claim_is_taken_over_and_the_old_worker_cannot_finish(
    store: WebhookStore, clock: FakeClock
) -> None:
    sub = await store.create_subscription(subscription())
    (delivery_id,) = await store.enqueue([sub], "x", b"{}")
    (old,) = await store.claim_due(1, lease=30)
    clock.advance(29)
    assert await store.claim_due(1, lease=30) == []
    clock.advance(2)
    (new,) = await store.claim_due(1, lease=30)
    assert new.delivery.id == delivery_id and new.token != old.token
    assert not await store.finish(old, attempt_for(delivery_id, 1, clock), "pending", clock())
    assert await store.finish(new, attempt_for(delivery_id, 1, clock), "pending", clock() + timedelta(seconds=5))
    delivery = await store.get_delivery(delivery_id)
    assert delivery is not None
    assert (delivery.state, delivery.attempts, len(delivery.attempt_log)) == ("pending", 1, 1)
    assert delivery.attempt_log[0].response_body == b"\x00\xffbinary"


async def test_inactive_subscriptions_are_not_claimed(store: WebhookStore) -> None:
    sub = await store.create_subscription(subscription())
    await store.enqueue([sub], "x", b"{}")
    await store.update_subscription(sub.id, {"active": False})
    assert await store.claim_due(5, 30) == []
    await store.update_subscription(sub.id, {"active": True})
    assert len(await store.claim_due(5, 30)) == 1


async def test_redeliver_starts_a_new_round(store: WebhookStore, clock: FakeClock) -> None:
    sub = await store.create_subscription(subscription())
    (delivery_id,) = await store.enqueue([sub], "x", b"{}")
    (claim,) = await store.claim_due(1, 30)
    assert await store.redeliver(delivery_id) is None  # being sent
    await store.finish(claim, attempt_for(delivery_id, 1, clock), "dead", None)
    again = await store.redeliver(delivery_id)
    assert again is not None and (again.state, again.round_attempts, again.attempts) == ("pending", 0, 1)
    assert again.completed_at is None


async def test_delivery_log_filters_and_pages(store: WebhookStore, clock: FakeClock) -> None:
    a = await store.create_subscription(subscription("a"))
    b = await store.create_subscription(subscription("b"))
    for i in range(5):
        clock.advance(1)
        await store.enqueue([a if i % 2 else b], f"type.{i}", b"{}")
    page = await store.list_deliveries(DeliveryFilters(), limit=2)
    assert [d.event_type for d in page.deliveries] == ["type.4", "type.3"] and page.next is not None
    rest = await store.list_deliveries(DeliveryFilters(), page.next, limit=10)
    assert [d.event_type for d in rest.deliveries] == ["type.2", "type.1", "type.0"] and rest.next is None
    only_a = await store.list_deliveries(DeliveryFilters(subscription="a"))
    assert {d.subscription_name for d in only_a.deliveries} == {"a"} and len(only_a.deliveries) == 2
    assert (await store.list_deliveries(DeliveryFilters(state="dead"))).deliveries == []
    assert await store.counts() == {"pending": 5}


async def test_status_filters(store: WebhookStore, clock: FakeClock) -> None:
    sub = await store.create_subscription(subscription())
    (delivery_id,) = await store.enqueue([sub], "x", b"{}")
    (claim,) = await store.claim_due(1, 30)
    await store.finish(claim, attempt_for(delivery_id, 1, clock, status=503), "pending", clock())
    assert len((await store.list_deliveries(DeliveryFilters(status_class=5))).deliveries) == 1
    assert len((await store.list_deliveries(DeliveryFilters(status=503))).deliveries) == 1
    assert (await store.list_deliveries(DeliveryFilters(status_class=2))).deliveries == []


async def test_cursor_only_moves_forward(store: WebhookStore, clock: FakeClock) -> None:
    assert await store.read_cursor() is None
    now = clock()
    await store.advance_cursor(Cursor(now, "b"))
    await store.advance_cursor(Cursor(now, "a"))
    await store.advance_cursor(Cursor(now - timedelta(seconds=1), "z"))
    assert await store.read_cursor() == Cursor(now, "b")
    await store.advance_cursor(Cursor(now + timedelta(seconds=1), ""))
    assert await store.read_cursor() == Cursor(now + timedelta(seconds=1), "")


async def test_finished_deliveries_are_purged_with_their_attempts(store: WebhookStore, clock: FakeClock) -> None:
    sub = await store.create_subscription(subscription())
    done_id, open_id = await store.enqueue([sub], "x", b"{}"), await store.enqueue([sub], "y", b"{}")
    (claim,) = [c for c in await store.claim_due(5, 30) if c.delivery.id == done_id[0]] or [None]
    assert claim is not None
    await store.finish(claim, attempt_for(done_id[0], 1, clock, status=200), "succeeded", None)
    assert await store.purge_finished(clock() - timedelta(seconds=1)) == 0
    clock.advance(10)
    assert await store.purge_finished(clock()) == 1
    assert await store.get_delivery(done_id[0]) is None
    assert await store.get_delivery(open_id[0]) is not None  # still in flight: kept
