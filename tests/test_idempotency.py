"""The idempotency stores: the same contract in memory and in the database (SQLite, and Postgres with
``make integration``), including concurrent claims from separate connections."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest

from apitest.db.engine import Database
from apitest.idempotency import (
    Claimed,
    IdempotencyStore,
    InFlight,
    MemoryIdempotencyStore,
    Mismatch,
    Replay,
    SQLIdempotencyStore,
    StoredResponse,
)

TTL = 10.0
RESPONSE = StoredResponse(201, {"Content-Type": "application/json"}, b'{"id":"ord_1"}\n')


class Clock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


StoreFactory = Callable[[Clock], IdempotencyStore]


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.integration)])
def backend(request: pytest.FixtureRequest) -> str | None:
    """``None`` for the memory store, else a migrated database URL (resolved outside the event loop)."""
    if request.param == "memory":
        return None
    return str(request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_url"))


@pytest.fixture
async def make_store(backend: str | None) -> AsyncIterator[StoreFactory]:
    databases: list[Database] = []

    def factory(clock: Clock) -> IdempotencyStore:
        if backend is None:
            return MemoryIdempotencyStore(TTL, clock)
        database = Database(backend)
        databases.append(database)
        return SQLIdempotencyStore(database, TTL, clock)

    yield factory
    for database in databases:
        await database.dispose()


async def test_claim_complete_replay(make_store: StoreFactory) -> None:
    store = make_store(Clock())
    assert await store.claim("alice", "k1", "h1") == Claimed()
    assert await store.claim("alice", "k1", "h1") == InFlight()
    assert await store.claim("alice", "k1", "h2") == Mismatch()
    await store.complete("alice", "k1", RESPONSE)
    assert await store.claim("alice", "k1", "h1") == Replay(RESPONSE)
    assert await store.claim("alice", "k1", "h2") == Mismatch()


async def test_owners_and_keys_are_independent(make_store: StoreFactory) -> None:
    store = make_store(Clock())
    assert await store.claim("alice", "k1", "h1") == Claimed()
    assert await store.claim("bob", "k1", "h1") == Claimed()
    assert await store.claim("alice", "k2", "h1") == Claimed()


async def test_release_gives_the_key_back_only_while_in_flight(make_store: StoreFactory) -> None:
    store = make_store(Clock())
    await store.claim("alice", "k1", "h1")
    await store.release("alice", "k1")
    assert await store.claim("alice", "k1", "h2") == Claimed()
    await store.complete("alice", "k1", RESPONSE)
    await store.release("alice", "k1")
    assert await store.claim("alice", "k1", "h2") == Replay(RESPONSE)


@pytest.mark.parametrize(("after", "expected"), [(TTL - 0.001, InFlight()), (TTL, Claimed()), (TTL + 60, Claimed())])
async def test_keys_expire_after_the_ttl(make_store: StoreFactory, after: float, expected: object) -> None:
    clock = Clock()
    store = make_store(clock)
    await store.claim("alice", "k1", "h1")
    clock.now += after
    assert await store.claim("alice", "k1", "h1") == expected


async def test_completed_key_expires_too(make_store: StoreFactory) -> None:
    clock = Clock()
    store = make_store(clock)
    await store.claim("alice", "k1", "h1")
    await store.complete("alice", "k1", RESPONSE)
    clock.now += TTL
    assert await store.claim("alice", "k1", "other body") == Claimed()


async def test_purge_removes_only_expired_keys(make_store: StoreFactory) -> None:
    clock = Clock()
    store = make_store(clock)
    await store.claim("alice", "old1", "h")
    await store.claim("alice", "old2", "h")
    clock.now += TTL / 2
    await store.claim("alice", "young", "h")
    clock.now += TTL / 2
    assert await store.purge_expired() == 2
    assert await store.claim("alice", "young", "h") == InFlight()


async def test_concurrent_claims_have_one_winner(make_store: StoreFactory) -> None:
    """Twenty claims at once, each on its own connection for the database store: exactly one wins."""
    store = make_store(Clock())
    results = await asyncio.wait_for(asyncio.gather(*(store.claim("alice", "k1", "h1") for _ in range(20))), 20)
    assert results.count(Claimed()) == 1
    assert results.count(InFlight()) == 19


async def test_two_stores_on_one_database_agree(db_url: str) -> None:
    """Two engines on one database stand for two workers."""
    first, second = Database(db_url), Database(db_url)
    try:
        a, b = SQLIdempotencyStore(first, TTL), SQLIdempotencyStore(second, TTL)
        assert await a.claim("alice", "k1", "h1") == Claimed()
        assert await b.claim("alice", "k1", "h1") == InFlight()
        await a.complete("alice", "k1", RESPONSE)
        assert await b.claim("alice", "k1", "h1") == Replay(RESPONSE)
        assert await b.claim("alice", "k1", "h2") == Mismatch()
    finally:
        await first.dispose()
        await second.dispose()
