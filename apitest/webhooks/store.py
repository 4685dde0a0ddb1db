"""Subscriptions, the delivery outbox, its attempts and the audit cursor, in the app's database.

Claiming (several workers, one delivery sent once): a due row is ``pending`` with ``next_attempt_at <=
now``, or ``delivering`` with a lapsed ``claimed_until`` (its worker died mid-attempt). On PostgreSQL the
worker selects due rows ``FOR UPDATE SKIP LOCKED`` and marks them ``delivering`` with its claim token in
the same transaction; on SQLite (one writer at a time) each row is claimed by a conditional ``UPDATE ...
WHERE <still due>``, which only one worker can win. An attempt's result is written only ``WHERE
claim_token = <ours>``, so a worker whose claim lapsed cannot overwrite the one that took over.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, and_, delete, func, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from apitest.audit.records import Cursor
from apitest.db.models import WebhookAttempt, WebhookCursor, WebhookDelivery, WebhookSubscription
from apitest.webhooks.records import (
    Attempt,
    Claim,
    Delivery,
    DeliveryCursor,
    DeliveryFilters,
    DeliveryPage,
    Subscription,
)

Clock = Callable[[], datetime]
AUDIT_CURSOR = "audit"
MAX_PAGE = 200

SUBS = cast(Table, WebhookSubscription.__table__)
DELIVERIES = cast(Table, WebhookDelivery.__table__)
ATTEMPTS = cast(Table, WebhookAttempt.__table__)
CURSORS = cast(Table, WebhookCursor.__table__)


class NameTaken(ValueError):
    """Another subscription has this name."""


def _now() -> datetime:
    return datetime.now(UTC)


def new_id() -> str:
    return str(uuid.uuid4())


def new_message_id() -> str:
    return "msg_" + uuid.uuid4().hex


def _subscription(row: Any) -> Subscription:
    return Subscription(
        id=row.id,
        name=row.name,
        url=row.url,
        secret=row.secret,
        filter=row.filter,
        event_types=list(row.event_types or []),
        scheme=row.scheme,
        active=bool(row.active),
        source=row.source,
        description=row.description,
        created_by=row.created_by,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _delivery(row: Any) -> Delivery:
    return Delivery(
        id=row.id,
        subscription_id=row.subscription_id,
        message_id=row.message_id,
        event_type=row.event_type,
        payload=bytes(row.payload),
        state=row.state,
        event_id=row.event_id,
        attempts=row.attempts,
        round_attempts=row.round_attempts,
        next_attempt_at=row.next_attempt_at,
        last_status=row.last_status,
        last_error=row.last_error,
        created_at=row.created_at,
        updated_at=row.updated_at,
        completed_at=row.completed_at,
        subscription_name=row.name,
        url=row.url,
    )


def _attempt(row: Any) -> Attempt:
    return Attempt(
        id=row.id,
        delivery_id=row.delivery_id,
        number=row.number,
        started_at=row.started_at,
        url=row.url,
        outcome=row.outcome,
        status=row.status,
        latency_ms=row.latency_ms,
        response_headers=row.response_headers,
        response_body=bytes(row.response_body) if row.response_body is not None else None,
        response_truncated=bool(row.response_truncated),
        error=row.error,
        next_attempt_at=row.next_attempt_at,
    )


DELIVERY_COLUMNS = (*DELIVERIES.c, SUBS.c.name, SUBS.c.url)


class WebhookStore:
    def __init__(self, database: Any, clock: Clock = _now) -> None:
        self.database = database
        self.clock = clock

    @property
    def engine(self) -> Any:
        return self.database.engine

    def _insert(self, table: Table) -> Any:
        return (postgresql.insert if self.database.dialect == "postgresql" else sqlite.insert)(table)

    # Subscriptions ------------------------------------------------------------------------------

    async def list_subscriptions(self) -> list[Subscription]:
        async with self.engine.connect() as conn:
            rows = (await conn.execute(select(SUBS).order_by(SUBS.c.name))).all()
        return [_subscription(r) for r in rows]

    async def get_subscription(self, ref: str) -> Subscription | None:
        """By id or by name."""
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(SUBS).where(or_(SUBS.c.id == ref, SUBS.c.name == ref)))).first()
        return _subscription(row) if row else None

    async def create_subscription(self, sub: Subscription) -> Subscription:
        now = self.clock()
        sub.id = sub.id or new_id()
        sub.created_at = sub.updated_at = now
        values = {**sub.to_json(), "secret": sub.secret, "created_at": now, "updated_at": now}
        try:
            async with self.engine.begin() as conn:
                await conn.execute(insert(SUBS).values(**values))
        except IntegrityError:
            raise NameTaken(f"a subscription named {sub.name!r} exists") from None
        return sub

    async def update_subscription(self, sub_id: str, changes: dict[str, Any]) -> Subscription | None:
        async with self.engine.begin() as conn:
            result = await conn.execute(
                update(SUBS).where(SUBS.c.id == sub_id).values(**changes, updated_at=self.clock())
            )
            if result.rowcount != 1:
                return None
            row = (await conn.execute(select(SUBS).where(SUBS.c.id == sub_id))).one()
        return _subscription(row)

    async def delete_subscription(self, sub_id: str) -> bool:
        async with self.engine.begin() as conn:
            result = await conn.execute(delete(SUBS).where(SUBS.c.id == sub_id))
        return bool(result.rowcount)

    async def sync_config(self, subs: Sequence[Subscription]) -> None:
        """Upsert the configuration file's subscriptions by name; ones no longer in the file are deactivated."""
        now = self.clock()
        names = [s.name for s in subs]
        async with self.engine.begin() as conn:
            existing = {r.name: r for r in (await conn.execute(select(SUBS.c.id, SUBS.c.name, SUBS.c.source))).all()}
            for sub in subs:
                fields = {
                    "url": sub.url,
                    "secret": sub.secret,
                    "filter": sub.filter,
                    "event_types": list(sub.event_types),
                    "scheme": sub.scheme,
                    "active": sub.active,
                    "description": sub.description,
                    "source": "config",
                    "updated_at": now,
                }
                row = existing.get(sub.name)
                if row is None:
                    values = {**fields, "id": new_id(), "name": sub.name, "created_by": "config", "created_at": now}
                    await conn.execute(insert(SUBS).values(**values))
                else:
                    await conn.execute(update(SUBS).where(SUBS.c.id == row.id).values(**fields))
            gone = and_(SUBS.c.source == "config", SUBS.c.name.not_in(names) if names else SUBS.c.id.is_not(None))
            await conn.execute(update(SUBS).where(gone).values(active=False, updated_at=now))

    # Outbox -------------------------------------------------------------------------------------

    async def enqueue(
        self,
        subs: Sequence[Subscription],
        event_type: str,
        payload: bytes,
        event_id: str | None = None,
        message_id: str | None = None,
    ) -> list[str]:
        """One pending delivery per subscription, due now; an audit event already enqueued for a
        subscription is skipped. Returns the new delivery ids."""
        now = self.clock()
        message_id = message_id or new_message_id()
        created: list[str] = []
        async with self.engine.begin() as conn:
            for sub in subs:
                delivery_id = new_id()
                values = {
                    "id": delivery_id,
                    "subscription_id": sub.id,
                    "message_id": message_id,
                    "event_type": event_type,
                    "event_id": event_id,
                    "payload": payload,
                    "state": "pending",
                    "attempts": 0,
                    "round_attempts": 0,
                    "next_attempt_at": now,
                    "created_at": now,
                    "updated_at": now,
                }
                stmt = self._insert(DELIVERIES).values(**values)
                stmt = stmt.on_conflict_do_nothing(index_elements=["subscription_id", "event_id"])
                if (await conn.execute(stmt)).rowcount == 1:
                    created.append(delivery_id)
        return created

    def _due(self, now: datetime) -> Any:
        d = DELIVERIES.c
        return and_(
            SUBS.c.active.is_(True),
            or_(
                and_(d.state == "pending", d.next_attempt_at <= now),
                and_(d.state == "delivering", d.claimed_until < now),
            ),
        )

    async def claim_due(self, limit: int, lease: float) -> list[Claim]:
        """Claim up to ``limit`` due deliveries for ``lease`` seconds."""
        now = self.clock()
        token = new_id()
        claimed = {"state": "delivering", "claim_token": token, "claimed_until": now + timedelta(seconds=lease)}
        d = DELIVERIES.c
        candidates = (
            select(d.id)
            .select_from(DELIVERIES.join(SUBS, SUBS.c.id == d.subscription_id))
            .where(self._due(now))
            .order_by(d.next_attempt_at, d.id)
            .limit(max(1, limit))
        )
        async with self.engine.begin() as conn:
            if self.database.dialect == "postgresql":
                ids = list((await conn.execute(candidates.with_for_update(of=DELIVERIES, skip_locked=True))).scalars())
                if ids:
                    await conn.execute(update(DELIVERIES).where(d.id.in_(ids)).values(**claimed))
            else:
                ids = []
                for delivery_id in (await conn.execute(candidates)).scalars():
                    still_due = and_(
                        d.id == delivery_id,
                        or_(
                            and_(d.state == "pending", d.next_attempt_at <= now),
                            and_(d.state == "delivering", d.claimed_until < now),
                        ),
                    )
                    if (await conn.execute(update(DELIVERIES).where(still_due).values(**claimed))).rowcount == 1:
                        ids.append(delivery_id)
            if not ids:
                return []
            query = (
                select(*DELIVERY_COLUMNS, SUBS.c.secret, SUBS.c.scheme)
                .select_from(DELIVERIES.join(SUBS, SUBS.c.id == d.subscription_id))
                .where(d.id.in_(ids))
                .order_by(d.next_attempt_at, d.id)
            )
            rows = (await conn.execute(query)).all()
        return [Claim(_delivery(r), token, r.url, r.secret, r.scheme) for r in rows]

    async def finish(self, claim: Claim, attempt: Attempt, state: str, next_at: datetime | None) -> bool:
        """Log ``attempt`` and move the delivery to ``state``; ``False`` when the claim was lost."""
        now = self.clock()
        d = DELIVERIES.c
        values: dict[str, Any] = {
            "state": state,
            "attempts": d.attempts + 1,
            "round_attempts": d.round_attempts + 1,
            "next_attempt_at": next_at,
            "claim_token": None,
            "claimed_until": None,
            "last_status": attempt.status,
            "last_error": attempt.error,
            "updated_at": now,
            "completed_at": now if state in ("succeeded", "dead") else None,
        }
        async with self.engine.begin() as conn:
            ours = and_(d.id == claim.delivery.id, d.claim_token == claim.token)
            if (await conn.execute(update(DELIVERIES).where(ours).values(**values))).rowcount != 1:
                return False
            row = {k: getattr(attempt, k) for k in (c.name for c in ATTEMPTS.c)}
            await conn.execute(insert(ATTEMPTS).values(**row))
        return True

    async def release(self, claim: Claim) -> bool:
        """Give an unfinished claim back (shutdown mid-attempt): the delivery is due again at once."""
        d = DELIVERIES.c
        async with self.engine.begin() as conn:
            result = await conn.execute(
                update(DELIVERIES)
                .where(d.id == claim.delivery.id, d.claim_token == claim.token)
                .values(state="pending", claim_token=None, claimed_until=None, updated_at=self.clock())
            )
        return bool(result.rowcount)

    async def redeliver(self, delivery_id: str) -> Delivery | None:
        """Put a delivery back in the queue, due now, with a fresh round of attempts (not while it is sent)."""
        now = self.clock()
        d = DELIVERIES.c
        async with self.engine.begin() as conn:
            result = await conn.execute(
                update(DELIVERIES)
                .where(d.id == delivery_id, d.state != "delivering")
                .values(state="pending", round_attempts=0, next_attempt_at=now, completed_at=None, updated_at=now)
            )
            if result.rowcount != 1:
                return None
        return await self.get_delivery(delivery_id)

    async def get_delivery(self, delivery_id: str) -> Delivery | None:
        d = DELIVERIES.c
        query = select(*DELIVERY_COLUMNS).select_from(DELIVERIES.join(SUBS, SUBS.c.id == d.subscription_id))
        async with self.engine.connect() as conn:
            row = (await conn.execute(query.where(d.id == delivery_id))).first()
            if row is None:
                return None
            attempts = (
                await conn.execute(select(ATTEMPTS).where(ATTEMPTS.c.delivery_id == delivery_id).order_by("number"))
            ).all()
        delivery = _delivery(row)
        delivery.attempt_log = [_attempt(a) for a in attempts]
        return delivery

    async def list_deliveries(
        self, filters: DeliveryFilters, after: DeliveryCursor | None = None, limit: int = 50
    ) -> DeliveryPage:
        """Newest first, keyset-paged by ``(created_at, id)``."""
        d = DELIVERIES.c
        limit = max(1, min(limit, MAX_PAGE))
        query = select(*DELIVERY_COLUMNS).select_from(DELIVERIES.join(SUBS, SUBS.c.id == d.subscription_id))
        conditions = []
        if filters.subscription:
            conditions.append(or_(SUBS.c.id == filters.subscription, SUBS.c.name == filters.subscription))
        if filters.state:
            conditions.append(d.state == filters.state)
        if filters.event_type:
            conditions.append(d.event_type == filters.event_type)
        if filters.event_id:
            conditions.append(d.event_id == filters.event_id)
        if filters.status is not None:
            conditions.append(d.last_status == filters.status)
        if filters.status_class is not None:
            low = filters.status_class * 100
            conditions.append(and_(d.last_status >= low, d.last_status < low + 100))
        if after is not None:
            conditions.append(
                or_(d.created_at < after.created_at, and_(d.created_at == after.created_at, d.id < after.id))
            )
        query = query.where(*conditions).order_by(d.created_at.desc(), d.id.desc()).limit(limit + 1)
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        page = [_delivery(r) for r in rows[:limit]]
        more = len(rows) > limit
        last = page[-1] if page else None
        cursor = DeliveryCursor(last.created_at, last.id) if more and last and last.created_at else None
        return DeliveryPage(page, cursor)

    async def purge_finished(self, before: datetime) -> int:
        """Delete succeeded and dead deliveries that ended before ``before`` (their attempts go with them)."""
        d = DELIVERIES.c
        finished = and_(d.state.in_(("succeeded", "dead")), d.completed_at < before)
        async with self.engine.begin() as conn:
            await conn.execute(delete(ATTEMPTS).where(ATTEMPTS.c.delivery_id.in_(select(d.id).where(finished))))
            result = await conn.execute(delete(DELIVERIES).where(finished))
        return int(result.rowcount)

    async def counts(self) -> dict[str, int]:
        """Deliveries per state."""
        async with self.engine.connect() as conn:
            rows = (await conn.execute(select(DELIVERIES.c.state, func.count()).group_by(DELIVERIES.c.state))).all()
        return {str(state): int(n) for state, n in rows}

    # Audit cursor -------------------------------------------------------------------------------

    async def read_cursor(self) -> Cursor | None:
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(CURSORS).where(CURSORS.c.name == AUDIT_CURSOR))).first()
        return Cursor(row.recorded_at, row.event_id) if row else None

    async def advance_cursor(self, cursor: Cursor) -> None:
        """Move the shared cursor forward (never back: another worker may be ahead)."""
        c = CURSORS.c
        async with self.engine.begin() as conn:
            stmt = self._insert(CURSORS).values(name=AUDIT_CURSOR, recorded_at=cursor.ts, event_id=cursor.id)
            await conn.execute(stmt.on_conflict_do_nothing(index_elements=["name"]))
            behind = or_(c.recorded_at < cursor.ts, and_(c.recorded_at == cursor.ts, c.event_id < cursor.id))
            await conn.execute(
                update(CURSORS).where(c.name == AUDIT_CURSOR, behind).values(recorded_at=cursor.ts, event_id=cursor.id)
            )
