"""Idempotency keys for ``POST /v1/orders``: claim, complete, replay, expire.

A request with an ``Idempotency-Key`` first *claims* ``(owner, key)``:

- no live record → the claim is inserted with no response yet (in flight) and the request proceeds;
- a record with a different request hash → :class:`Mismatch` (the handler answers 422);
- a record still in flight → :class:`InFlight` (409);
- a completed record → :class:`Replay` of the stored status, headers and body.

When the handler has its response it *completes* the claim; if it fails or the client goes away first,
it *releases* the claim so the key can be used again. Records expire ``idempotency.ttl`` after the claim;
an expired record is deleted when its key is next claimed, and every store purges all expired records at
most once a minute while it is used.

Two stores: :class:`SQLIdempotencyStore` over the ``idempotency_keys`` table (the claim is one
``INSERT ... ON CONFLICT DO NOTHING`` on the primary key, so concurrent workers on SQLite or Postgres
agree on exactly one winner), and :class:`MemoryIdempotencyStore` for a server without a database
(single process only: each worker of ``--workers N`` would keep its own keys).

References: draft-ietf-httpapi-idempotency-key-header (409 for a request in flight, 422 for a reused key).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, cast

from sqlalchemy import Table, and_, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite

from apitest.db.models import IdempotencyRecord

PURGE_EVERY_S = 60.0
Clock = Callable[[], float]


@dataclass(frozen=True)
class StoredResponse:
    status: int
    headers: dict[str, str]
    body: bytes


@dataclass(frozen=True)
class Claimed:
    """This request owns the key; it must complete or release it."""


@dataclass(frozen=True)
class InFlight:
    """An earlier request with this key has not finished."""


@dataclass(frozen=True)
class Mismatch:
    """The key was used with a different request body."""


@dataclass(frozen=True)
class Replay:
    response: StoredResponse


ClaimResult = Claimed | InFlight | Mismatch | Replay


class IdempotencyStore(Protocol):
    async def claim(self, owner: str, key: str, request_hash: str) -> ClaimResult: ...

    async def complete(self, owner: str, key: str, response: StoredResponse) -> None: ...

    async def release(self, owner: str, key: str) -> None: ...

    async def purge_expired(self) -> int: ...


def outcome(request_hash: str, stored_hash: str, response: StoredResponse | None) -> ClaimResult:
    if stored_hash != request_hash:
        return Mismatch()
    return InFlight() if response is None else Replay(response)


@dataclass
class _Entry:
    request_hash: str
    expires_at: float
    response: StoredResponse | None = None


@dataclass
class MemoryIdempotencyStore:
    """Keys in this process's memory (no database configured); not shared between workers."""

    ttl: float
    clock: Clock = time.time
    entries: dict[tuple[str, str], _Entry] = field(default_factory=dict)
    purged_at: float = 0.0

    async def claim(self, owner: str, key: str, request_hash: str) -> ClaimResult:
        now = self.clock()
        if now - self.purged_at >= PURGE_EVERY_S:
            await self.purge_expired()
        entry = self.entries.get((owner, key))
        if entry is None or entry.expires_at <= now:
            self.entries[(owner, key)] = _Entry(request_hash, now + self.ttl)
            return Claimed()
        return outcome(request_hash, entry.request_hash, entry.response)

    async def complete(self, owner: str, key: str, response: StoredResponse) -> None:
        entry = self.entries.get((owner, key))
        if entry is not None:
            entry.response = response

    async def release(self, owner: str, key: str) -> None:
        entry = self.entries.get((owner, key))
        if entry is not None and entry.response is None:
            del self.entries[(owner, key)]

    async def purge_expired(self) -> int:
        now = self.purged_at = self.clock()
        expired = [k for k, e in self.entries.items() if e.expires_at <= now]
        for k in expired:
            del self.entries[k]
        return len(expired)


class SQLIdempotencyStore:
    """Keys in the ``idempotency_keys`` table, shared by every worker using the database."""

    def __init__(self, database: Any, ttl: float, clock: Clock = time.time) -> None:
        self.database = database
        self.ttl = ttl
        self.clock = clock
        self.table = cast(Table, IdempotencyRecord.__table__)
        self.purged_at = 0.0

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC)

    def _this(self, owner: str, key: str) -> Any:
        return and_(self.table.c.owner == owner, self.table.c.key == key)

    def _insert(self, owner: str, key: str, request_hash: str, now: datetime) -> Any:
        insert = postgresql.insert if self.database.dialect == "postgresql" else sqlite.insert
        values = {
            "owner": owner,
            "key": key,
            "request_hash": request_hash,
            "created_at": now,
            "expires_at": now + timedelta(seconds=self.ttl),
        }
        return insert(self.table).values(**values).on_conflict_do_nothing(index_elements=["owner", "key"])

    async def claim(self, owner: str, key: str, request_hash: str) -> ClaimResult:
        if self.clock() - self.purged_at >= PURGE_EVERY_S:
            await self.purge_expired()
        now = self.now()
        t = self.table
        async with self.database.engine.begin() as conn:
            await conn.execute(delete(t).where(self._this(owner, key), t.c.expires_at <= now))
            inserted = await conn.execute(self._insert(owner, key, request_hash, now))
            if inserted.rowcount == 1:
                return Claimed()
            columns = (t.c.request_hash, t.c.status, t.c.response_headers, t.c.response_body)
            row = (await conn.execute(select(*columns).where(self._this(owner, key)))).one()
        stored_hash, status, headers, body = row
        response = None if status is None else StoredResponse(int(status), dict(headers or {}), bytes(body or b""))
        return outcome(request_hash, stored_hash, response)

    async def complete(self, owner: str, key: str, response: StoredResponse) -> None:
        values = {"status": response.status, "response_headers": response.headers, "response_body": response.body}
        async with self.database.engine.begin() as conn:
            await conn.execute(update(self.table).where(self._this(owner, key)).values(**values))

    async def release(self, owner: str, key: str) -> None:
        t = self.table
        async with self.database.engine.begin() as conn:
            await conn.execute(delete(t).where(self._this(owner, key), t.c.status.is_(None)))

    async def purge_expired(self) -> int:
        self.purged_at = self.clock()
        async with self.database.engine.begin() as conn:
            result = await conn.execute(delete(self.table).where(self.table.c.expires_at <= self.now()))
        return int(result.rowcount)


def idempotency_store(database: Any | None, ttl: float) -> IdempotencyStore:
    """In the database when one is configured (shared by every worker), else in this process's memory."""
    return SQLIdempotencyStore(database, ttl) if database is not None else MemoryIdempotencyStore(ttl)
