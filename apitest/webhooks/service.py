"""The webhook service: subscriptions with their rules, explicit sends, the audit poller and the sender loop.

Matching audit events never touches the request path or the audit writer: the poller reads rows the
writer has already stored (``AuditStore.tail`` by ``recorded_at``), matches them against each active
subscription's filter in memory and enqueues one delivery per match in the outbox table. The poller's
position is kept in the database (``webhook_cursor``); it re-reads the last :data:`SETTLE` seconds on
every poll, because another worker's batch can commit after a newer one, and the unique
``(subscription_id, event_id)`` index makes a second enqueue of the same event a no-op. Rows recorded
before a subscription was created are not delivered to it, and rows of apitest's own deliveries
(``User-Agent: apitest-webhooks/...``, e.g. to ``/v1/webhooks/receive``) never match, so a filter such
as ``status=4xx`` cannot feed on its own failures.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from apitest import logs
from apitest.audit.records import AuditFilters, AuditStore, Cursor, EventRecord
from apitest.webhooks.delivery import Schedule, Sender, attempt_record, outcome_of
from apitest.webhooks.events import AUDIT_EVENT_TYPE, EventFilter, audit_data, parse_event_filter, payload_bytes
from apitest.webhooks.records import Claim, Subscription
from apitest.webhooks.signing import AGENT_PREFIX
from apitest.webhooks.store import WebhookStore, new_message_id

log = logs.get("webhooks")

SETTLE = timedelta(seconds=10)  # re-read window of the audit poller (late commits of other workers)
TAIL_PAGE = 500
SEEN_MAX = 20000
LEASE_MARGIN = 30.0
PURGE_EVERY = timedelta(hours=1)
RELEASE_TIMEOUT = 5.0
Sleep = Callable[[float], Awaitable[None]]


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass
class WebhookStats:
    """Counters of this process, copied into Prometheus by :mod:`apitest.metrics`."""

    enqueued_total: int = 0  # deliveries created (explicit sends and matched audit events)
    attempts_total: int = 0  # HTTP attempts made
    succeeded_total: int = 0  # attempts answered 2xx
    failed_total: int = 0  # attempts that failed (status, timeout, network error, refused target)
    dead_total: int = 0  # deliveries dead-lettered
    redelivered_total: int = 0  # manual redeliveries
    lost_claims_total: int = 0  # attempts whose result was dropped because another worker took the delivery over

    def snapshot(self) -> dict[str, int]:
        return asdict(self)


class WebhookService:
    def __init__(
        self,
        store: WebhookStore,
        sender: Sender,
        schedule: Schedule,
        *,
        audit_store: AuditStore | None = None,
        poll_interval: float = 1.0,
        concurrency: int = 4,
        retention_days: int = 0,
        clock: Callable[[], datetime] = _now,
        rand: Callable[[], float] = random.random,
        sleep: Sleep | None = None,
    ) -> None:
        self.store = store
        self.sender = sender
        self.schedule = schedule
        self.audit_store = audit_store
        self.poll_interval = poll_interval
        self.concurrency = max(1, concurrency)
        self.retention = timedelta(days=retention_days) if retention_days > 0 else None
        self._purged_at: datetime | None = None
        self.clock = clock
        self.rand = rand
        self.sleep = sleep
        self.lease = sender.deadline + LEASE_MARGIN
        self.stats = WebhookStats()
        self._seen: OrderedDict[tuple[str, str], None] = OrderedDict()
        self._filters: dict[str, EventFilter] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    # Explicit sends and redelivery ----------------------------------------------------------------

    async def send(
        self, event_type: str, data: Any, subscription: str | None = None
    ) -> tuple[str, list[str], list[str]]:
        """Enqueue ``{"type", "timestamp", "data"}`` for the active subscriptions taking ``event_type``
        (or the one named); returns the message id, the subscription names and the new delivery ids."""
        subs = [s for s in await self.store.list_subscriptions() if s.active]
        if subscription is not None:
            subs = [s for s in subs if subscription in (s.name, s.id)]
        else:
            subs = [s for s in subs if "*" in s.event_types or event_type in s.event_types]
        if not subs:
            return "", [], []
        message_id = new_message_id()
        payload = payload_bytes(event_type, self.clock(), data)
        ids = await self.store.enqueue(subs, event_type, payload, message_id=message_id)
        self.stats.enqueued_total += len(ids)
        self._wake.set()
        return message_id, [s.name for s in subs], ids

    async def redeliver(self, delivery_id: str) -> bool:
        delivery = await self.store.redeliver(delivery_id)
        if delivery is None:
            return False
        self.stats.redelivered_total += 1
        log.info("webhook redelivery", extra={"delivery_id": delivery_id, "subscription": delivery.subscription_name})
        self._wake.set()
        return True

    # Audit poller -------------------------------------------------------------------------------

    def _filter_of(self, sub: Subscription) -> EventFilter | None:
        if not sub.filter:
            return None
        found = self._filters.get(sub.filter)
        if found is None:
            try:
                found = self._filters[sub.filter] = parse_event_filter(sub.filter)
            except ValueError as exc:
                log.warning("webhook filter does not parse", extra={"subscription": sub.name, "err": str(exc)})
                return None
        return found

    async def poll_audit(self) -> int:
        """Enqueue newly recorded audit rows that match a subscription's filter; returns how many deliveries."""
        if self.audit_store is None:
            return 0
        cursor = await self.store.read_cursor()
        if cursor is None:  # first run: start from now, never from the whole history
            await self.store.advance_cursor(Cursor(self.clock(), ""))
            return 0
        subs = [(s, f) for s in await self.store.list_subscriptions() if s.active and (f := self._filter_of(s))]
        after = Cursor(cursor.ts - SETTLE, "")
        created = 0
        while True:
            page = await self.audit_store.tail(AuditFilters(), after, TAIL_PAGE)
            for record in page.events:
                created += await self._match(record, subs)
            if page.next is not None:
                after = page.next
            if len(page.events) < TAIL_PAGE:
                break
        if after.ts > cursor.ts or (after.ts == cursor.ts and after.id > cursor.id):
            await self.store.advance_cursor(after)
        return created

    async def _match(self, record: EventRecord, subs: Sequence[tuple[Subscription, EventFilter]]) -> int:
        if (record.user_agent or "").startswith(AGENT_PREFIX):
            return 0
        checked: list[str] = []
        matched: list[Subscription] = []
        full: EventRecord | None = None
        for sub, event_filter in subs:
            if (sub.id, record.id) in self._seen or (
                sub.created_at and record.recorded_at and record.recorded_at < sub.created_at
            ):
                continue
            candidate = record
            if event_filter.needs_payload and self.audit_store is not None:
                full = full or await self.audit_store.get(record.id) or record
                candidate = full
            if event_filter.matches(candidate):
                matched.append(sub)
            checked.append(sub.id)
        created = 0
        if matched:
            payload = payload_bytes(AUDIT_EVENT_TYPE, self.clock(), audit_data(record))
            ids = await self.store.enqueue(matched, AUDIT_EVENT_TYPE, payload, event_id=record.id)
            self.stats.enqueued_total += len(ids)
            created = len(ids)
        for sub_id in checked:  # only once enqueued: a failed insert is tried again on the next poll
            self._remember(sub_id, record.id)
        return created

    def _remember(self, sub_id: str, event_id: str) -> None:
        self._seen[(sub_id, event_id)] = None
        while len(self._seen) > SEEN_MAX:
            self._seen.popitem(last=False)

    # Sender -------------------------------------------------------------------------------------

    async def deliver_due(self) -> int:
        """Claim and send what is due, ``concurrency`` at a time; returns how many attempts were made."""
        total = 0
        while True:
            claims = await self.store.claim_due(self.concurrency, self.lease)
            if not claims:
                return total
            await asyncio.gather(*(self._attempt(c) for c in claims))
            total += len(claims)

    async def _attempt(self, claim: Claim) -> None:
        started = self.clock()
        try:
            result = await self.sender.send(claim, started)
        except asyncio.CancelledError:  # shutting down: hand the delivery back rather than wait for the lease
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.store.release(claim), RELEASE_TIMEOUT)
            raise
        now = self.clock()
        state, next_at = outcome_of(result, claim, self.schedule, now, self.rand)
        attempt = attempt_record(claim, result, started, state, next_at)
        if not await self.store.finish(claim, attempt, state, next_at):
            self.stats.lost_claims_total += 1
            log.warning("webhook claim lost; attempt result dropped", extra={"delivery_id": claim.delivery.id})
            return
        self.stats.attempts_total += 1
        if result.ok:
            self.stats.succeeded_total += 1
        else:
            self.stats.failed_total += 1
        if state == "dead":
            self.stats.dead_total += 1
        log.info(
            "webhook attempt",
            extra={
                "delivery_id": claim.delivery.id,
                "attempt": attempt.number,
                "status": result.status,
                "err": result.error,
                "state": state,
                "latency_ms": result.latency_ms,
            },
        )

    # Loop ---------------------------------------------------------------------------------------

    async def run_once(self) -> None:
        await self.poll_audit()
        await self.deliver_due()
        await self.purge()

    async def purge(self) -> int:
        """At most once an hour: forget deliveries that ended ``webhooks.retention_days`` ago."""
        now = self.clock()
        if self.retention is None or (self._purged_at is not None and now - self._purged_at < PURGE_EVERY):
            return 0
        self._purged_at = now
        purged = await self.store.purge_finished(now - self.retention)
        if purged:
            log.info("webhook deliveries purged", extra={"purged": purged})
        return purged

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="webhook-worker")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.sender.aclose()

    async def _run(self) -> None:
        while True:
            try:
                await self.run_once()
            except Exception:  # a database hiccup must not end deliveries for the life of the process
                log.exception("webhook worker error")
            self._wake.clear()
            if self.sleep is not None:
                await self.sleep(self.poll_interval)
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.poll_interval)
