from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event, text

from apitest.auth import keystore
from apitest.auth.base import Invalid
from apitest.auth.keystore import (
    KEY_LENGTH,
    KeyNameTaken,
    KeyStore,
    check_scopes,
    generate_key,
    key_digest,
    looks_like_db_key,
    reserved_names,
)
from apitest.db.engine import Database
from apitest.identity import Identity
from tests.support import make_settings


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
async def database(db_url: str) -> AsyncIterator[Database]:
    db = Database(db_url)
    yield db
    await db.dispose()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(database: Database, clock: Clock) -> KeyStore:
    return KeyStore(database, clock=clock)


def test_generated_keys_have_the_documented_shape() -> None:
    keys = {generate_key() for _ in range(50)}
    assert len(keys) == 50
    for key in keys:
        assert re.fullmatch(r"at_[A-Za-z0-9_-]{43}", key) and len(key) == 46 == KEY_LENGTH
        assert looks_like_db_key(key)
    assert not looks_like_db_key("at_short")
    assert not looks_like_db_key("xx_" + "a" * 43)


def test_digest_is_sha256_or_hmac_with_pepper() -> None:
    assert key_digest("at_x") == hashlib.sha256(b"at_x").hexdigest()
    assert key_digest("at_x", "pepper") != key_digest("at_x")
    assert len(key_digest("at_x", "pepper")) == 64


async def test_create_and_authenticate(store: KeyStore, database: Database) -> None:
    record, plaintext = await store.create(
        "ci", description="CI runner", scopes=["read", "write", "read"], created_by="ops@example.com"
    )
    assert looks_like_db_key(plaintext)
    assert record.prefix == plaintext[:8] and record.scopes == ("read", "write")
    identity = await store.authenticate(plaintext)
    assert identity == Identity(subject="ci", auth_type="apikey", key_name="ci", scopes=("read", "write"))
    async with database.engine.connect() as conn:
        stored = (await conn.execute(text("SELECT digest, prefix FROM api_keys"))).one()
    assert stored.digest == hashlib.sha256(plaintext.encode()).hexdigest()
    assert plaintext not in stored  # only the digest and the prefix are stored


async def test_unknown_revoked_and_expired(store: KeyStore, clock: Clock) -> None:
    assert await store.authenticate(generate_key()) == Invalid("unknown key", "no database key has this value")
    _, revoked = await store.create("gone")
    assert await store.revoke("gone") is True
    result = await store.authenticate(revoked)
    assert isinstance(result, Invalid) and result.description == "revoked key"
    assert revoked[:8] in result.detail and revoked not in result.detail
    _, expiring = await store.create("short", expires_at=clock.now + timedelta(minutes=5))
    assert isinstance(await store.authenticate(expiring), Identity)
    clock.now += timedelta(minutes=5)
    result = await store.authenticate(expiring)
    assert isinstance(result, Invalid) and result.description == "expired key"


async def test_revoke_unknown_or_twice(store: KeyStore) -> None:
    assert await store.revoke("nope") is False
    await store.create("k")
    assert await store.revoke("k") is True
    assert await store.revoke("k") is False


async def test_names_are_unique_among_active_keys(store: KeyStore, clock: Clock) -> None:
    await store.create("dup")
    with pytest.raises(KeyNameTaken, match='name "dup" is already used by a database key'):
        await store.create("dup")
    await store.revoke("dup")
    clock.now += timedelta(seconds=1)
    _, again = await store.create("dup")  # a revoked name may be reused
    assert isinstance(await store.authenticate(again), Identity)
    assert [k.status(datetime.now(UTC)) for k in await store.list_keys()] == ["active", "revoked"]


async def test_names_of_file_keys_and_bearer_tokens_are_reserved(database: Database, clock: Clock) -> None:
    settings = make_settings(
        {
            "api_keys": {"file": [{"name": "devkey", "key": "k" * 20}]},
            "bearer": {"tokens": [{"name": "devbearer", "token": "t" * 20}, {"name": "devkey", "token": "u" * 20}]},
        }
    )
    assert reserved_names(settings) == {"devkey": "a file key", "devbearer": "a bearer token"}
    store = KeyStore(database, clock=clock, reserved=reserved_names(settings))
    for name, source in (("devkey", "a file key"), ("devbearer", "a bearer token")):
        with pytest.raises(KeyNameTaken) as caught:
            await store.create(f"  {name} ")
        assert (str(caught.value), caught.value.source) == (f'name "{name}" is already used by {source}', source)
    assert await store.list_keys() == []
    record, _ = await store.create("devkey-2")
    assert (await store.active("devkey-2")) == record
    assert await store.active("devkey") is None


@pytest.mark.parametrize(
    ("name", "scopes", "message"),
    [
        ("", [], "name required"),
        ("a\nb", [], "printable"),
        ("x" * 129, [], "at most 128"),
        ("ok", ["has space"], "not a valid scope"),
        ("ok", ['q"uote'], "not a valid scope"),
        ("ok", [""], "not a valid scope"),
    ],
)
async def test_create_validates(store: KeyStore, name: str, scopes: list[str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        await store.create(name, scopes=scopes)


def test_check_scopes_keeps_order_and_drops_duplicates() -> None:
    assert check_scopes(["b", "a", "b", "admin:keys"]) == ["b", "a", "admin:keys"]


async def test_list_is_newest_first_with_json_shape(store: KeyStore, clock: Clock) -> None:
    await store.create("old", scopes=["read"])
    clock.now += timedelta(seconds=1)
    await store.create("new", description="d", expires_at=clock.now + timedelta(days=1), created_by="me")
    keys = await store.list_keys()
    assert [k.name for k in keys] == ["new", "old"]
    body = keys[0].to_json(clock.now)
    assert list(body) == [
        "id",
        "name",
        "prefix",
        "description",
        "scopes",
        "created_by",
        "created_at",
        "expires_at",
        "status",
    ]
    assert body["expires_at"] == "2026-01-02T12:00:01Z" and body["status"] == "active"
    assert "digest" not in keys[1].to_json(clock.now)


class Ticks:
    """An injected monotonic clock: the cache's freshness moves only when a test says so."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def ticks() -> Ticks:
    return Ticks()


def statements_of(database: Database) -> tuple[list[str], Callable[[], None]]:
    seen: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany) -> None:
        seen.append(statement)

    event.listen(database.engine.sync_engine, "before_cursor_execute", record)
    return seen, lambda: event.remove(database.engine.sync_engine, "before_cursor_execute", record)


async def test_last_used_is_batched_and_written_off_the_request_path(
    database: Database, clock: Clock, ticks: Ticks
) -> None:
    store = KeyStore(database, clock=clock, monotonic=ticks)
    _, busy = await store.create("busy")
    _, quiet = await store.create("quiet")
    for _ in range(5):
        assert isinstance(await store.authenticate(busy), Identity)
        clock.now += timedelta(milliseconds=100)
    assert isinstance(await store.authenticate(quiet), Identity)
    assert all(k.last_used_at is None for k in await store.list_keys())  # nothing written by requests
    seen, stop = statements_of(database)
    try:
        assert await store.flush_last_used() == 2
    finally:
        stop()
    assert len([s for s in seen if s.lstrip().upper().startswith("UPDATE")]) == 1  # one executemany
    used = {k.name: k.last_used_at for k in await store.list_keys()}
    assert used == {"busy": clock.now - timedelta(milliseconds=100), "quiet": clock.now}
    assert await store.flush_last_used() == 0  # nothing pending


async def test_last_used_never_moves_back_and_close_flushes(database: Database, clock: Clock) -> None:
    store = KeyStore(database, clock=clock)
    _, plaintext = await store.create("shared")
    await store.authenticate(plaintext)
    await store.close()  # close writes what is pending
    assert (await store.list_keys())[0].last_used_at == clock.now
    other = KeyStore(database, clock=lambda: clock.now - timedelta(seconds=10))  # a worker that is behind
    await other.authenticate(plaintext)
    await other.close()
    assert (await store.list_keys())[0].last_used_at == clock.now


async def test_a_cached_key_costs_no_query(database: Database, clock: Clock, ticks: Ticks) -> None:
    store = KeyStore(database, clock=clock, monotonic=ticks)
    _, plaintext = await store.create("indexed")
    await store.authenticate(plaintext)  # the fingerprint check and one lookup fill the cache
    seen, stop = statements_of(database)
    try:
        for _ in range(10):
            assert isinstance(await store.authenticate(plaintext), Identity)
    finally:
        stop()
    assert seen == []


async def test_a_lookup_is_one_indexed_query(database: Database, clock: Clock, ticks: Ticks) -> None:
    store = KeyStore(database, clock=clock, monotonic=ticks)
    _, plaintext = await store.create("indexed")
    await store.refresh()
    seen, stop = statements_of(database)
    try:
        await store.authenticate(plaintext)
    finally:
        stop()
    assert len(seen) == 1 and "digest" in seen[0]
    plan_sql = "EXPLAIN QUERY PLAN " if database.dialect == "sqlite" else "EXPLAIN "
    async with database.engine.connect() as conn:
        if database.dialect == "postgresql":
            await conn.execute(text("SET enable_seqscan = off"))
        plan = " ".join(
            str(row[-1]) for row in await conn.execute(text(plan_sql + "SELECT * FROM api_keys WHERE digest = 'x'"))
        )
    assert "api_keys_digest_idx" in plan


async def test_a_revocation_on_another_worker_is_seen_within_the_window(
    database: Database, clock: Clock, ticks: Ticks
) -> None:
    admin = KeyStore(database, clock=clock)  # worker 1 revokes
    worker = KeyStore(database, clock=clock, monotonic=ticks)  # worker 2 serves from its cache
    _, plaintext = await admin.create("short-lived")
    assert isinstance(await worker.authenticate(plaintext), Identity)
    assert await admin.revoke("short-lived")
    # Within the window worker 2 may still accept it from memory, without a query ...
    assert isinstance(await worker.authenticate(plaintext), Identity)
    # ... and once the window has passed, the next request checks, sees the change and refuses it.
    ticks.now += worker.cache.window
    result = await worker.authenticate(plaintext)
    assert isinstance(result, Invalid) and result.description == "revoked key"


async def test_a_poll_notices_a_revocation_before_the_window_ends(
    database: Database, clock: Clock, ticks: Ticks
) -> None:
    admin = KeyStore(database, clock=clock)
    worker = KeyStore(database, clock=clock, monotonic=ticks)
    _, plaintext = await admin.create("polled")
    _, other = await admin.create("untouched")
    assert isinstance(await worker.authenticate(plaintext), Identity)
    assert isinstance(await worker.authenticate(other), Identity)
    assert not await worker.refresh()  # nothing changed
    await admin.revoke("polled")
    assert await worker.refresh()  # the background task's poll (here triggered by hand)
    seen, stop = statements_of(database)
    try:
        result = await worker.authenticate(plaintext)
        assert isinstance(await worker.authenticate(other), Identity)
    finally:
        stop()
    assert isinstance(result, Invalid) and result.description == "revoked key"
    assert seen == []  # the change re-read every cached key at once


async def test_a_key_created_on_another_worker_works_at_once(database: Database, clock: Clock, ticks: Ticks) -> None:
    admin = KeyStore(database, clock=clock)
    worker = KeyStore(database, clock=clock, monotonic=ticks)
    await worker.refresh()
    _, plaintext = await admin.create("fresh")
    assert isinstance(await worker.authenticate(plaintext), Identity)


async def test_expiry_is_enforced_from_the_cache(database: Database, clock: Clock, ticks: Ticks) -> None:
    store = KeyStore(database, clock=clock, monotonic=ticks)
    _, plaintext = await store.create("timed", expires_at=clock.now + timedelta(seconds=5))
    assert isinstance(await store.authenticate(plaintext), Identity)
    clock.now += timedelta(seconds=5)
    seen, stop = statements_of(database)
    try:
        result = await store.authenticate(plaintext)
    finally:
        stop()
    assert isinstance(result, Invalid) and result.description == "expired key" and seen == []


async def test_unknown_keys_are_remembered_until_the_table_changes(
    database: Database, clock: Clock, ticks: Ticks
) -> None:
    store = KeyStore(database, clock=clock, monotonic=ticks)
    await store.refresh()
    stranger = generate_key()
    seen, stop = statements_of(database)
    try:
        results = await asyncio.gather(*(store.authenticate(stranger) for _ in range(20)))
        for _ in range(20):
            results.append(await store.authenticate(stranger))
    finally:
        stop()
    assert all(r == Invalid("unknown key", "no database key has this value") for r in results)
    assert len(seen) == 1  # one lookup for 40 requests
    await KeyStore(database, clock=clock).create("anything")  # another worker changes the table
    assert await store.refresh()  # the change empties the memory of unknown digests
    assert not store.cache.is_unknown(key_digest(stranger))


async def test_a_value_not_shaped_like_a_key_is_left_to_the_caller_without_a_query(
    database: Database, clock: Clock, ticks: Ticks
) -> None:
    store = KeyStore(database, clock=clock, monotonic=ticks)
    _, plaintext = await store.create("ci")
    await store.refresh()
    assert isinstance(await store.authenticate(plaintext), Identity)  # now in the cache
    seen, stop = statements_of(database)
    try:
        for value in ("not-db-shaped", "at_short", plaintext[:-1], plaintext + "x", "xx_" + plaintext[3:]):
            assert await store.authenticate(value) is None
            assert not store.cache.is_unknown(key_digest(value))  # not remembered as an unknown key either
        assert isinstance(await store.authenticate(plaintext), Identity)  # the cached key, no shape needed
        ticks.now += 60  # the cache goes stale: still no query for a value of another shape (a down
        assert await store.authenticate("not-db-shaped") is None  # database cannot turn it into a 503)
    finally:
        stop()
    assert seen == []
    seen, stop = statements_of(database)
    try:
        assert isinstance(await store.authenticate(plaintext), Identity)
    finally:
        stop()
    assert len(seen) == 1  # a key of the right shape finds the cache stale and checks the table's fingerprint


async def test_a_value_of_another_length_is_not_even_hashed(
    database: Database, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = KeyStore(database, clock=clock)
    hashed: list[str] = []
    real = keystore.key_digest
    monkeypatch.setattr(keystore, "key_digest", lambda value, pepper="": hashed.append(value) or real(value, pepper))
    assert await store.authenticate("at_" + "a" * 100_000) is None
    assert await store.authenticate("a" * KEY_LENGTH) is None  # the right length, the wrong shape: hashed
    assert hashed == ["a" * KEY_LENGTH]


async def test_the_memory_of_unknown_keys_is_bounded(database: Database, clock: Clock, ticks: Ticks) -> None:
    store = KeyStore(database, clock=clock, monotonic=ticks, negative_size=3)
    strangers = [generate_key() for _ in range(5)]
    for stranger in strangers:
        await store.authenticate(stranger)
    assert [store.cache.is_unknown(key_digest(s)) for s in strangers] == [False, False, True, True, True]


async def test_a_lookup_older_than_a_noticed_change_is_not_kept(database: Database, ticks: Ticks) -> None:
    store = KeyStore(database, monotonic=ticks)
    await store.refresh()
    generation = store.cache.generation
    store.cache.checked(ticks(), ("changed",))  # a change noticed while a lookup was running
    store.cache.store("d" * 64, None, generation)
    assert not store.cache.is_unknown("d" * 64)


@pytest.mark.integration
async def test_postgres_workers_hear_a_revocation_at_once(pg_url: str, clock: Clock, ticks: Ticks) -> None:
    admin_db, worker_db = Database(pg_url), Database(pg_url)
    admin = KeyStore(admin_db, clock=clock)
    # A window of a minute on a clock that never moves: only the NOTIFY can make this worker look again.
    worker = KeyStore(worker_db, clock=clock, monotonic=ticks, window=60.0)
    try:
        _, plaintext = await admin.create("listened")
        worker.start()
        for _ in range(200):
            if worker._keeper is not None and worker._keeper.listener is not None:
                break
            await asyncio.sleep(0.025)
        assert isinstance(await worker.authenticate(plaintext), Identity)
        await admin.revoke("listened")
        result: Identity | Invalid = Identity(subject="", auth_type="apikey")
        for _ in range(200):  # waits for the notification; bounded, not a timing assertion
            result = await worker.authenticate(plaintext)
            if isinstance(result, Invalid):
                break
            await asyncio.sleep(0.025)
        assert isinstance(result, Invalid) and result.description == "revoked key"
    finally:
        await worker.close()
        await admin.close()
        await worker_db.dispose()
        await admin_db.dispose()


async def test_pepper_changes_the_stored_digest(database: Database, clock: Clock) -> None:
    peppered = KeyStore(database, pepper="s3cret-pepper", clock=clock)
    _, plaintext = await peppered.create("peppered")
    assert isinstance(await peppered.authenticate(plaintext), Identity)
    unpeppered = KeyStore(database, clock=clock)
    assert await unpeppered.authenticate(plaintext) == Invalid("unknown key", "no database key has this value")


async def test_concurrent_authentications(store: KeyStore) -> None:
    _, plaintext = await store.create("parallel")
    results = await asyncio.gather(*(store.authenticate(plaintext) for _ in range(20)))
    assert all(isinstance(r, Identity) for r in results)
    await store.close()


async def test_a_cancelled_lookup_does_not_fail_the_requests_waiting_for_it(
    database: Database, clock: Clock, ticks: Ticks
) -> None:
    store = KeyStore(database, clock=clock, monotonic=ticks)
    _, plaintext = await store.create("shared-lookup")
    await store.refresh()
    real_row, gate = store._row, asyncio.Event()
    calls = 0

    async def slow_row(digest: str):  # the first lookup hangs until cancelled
        nonlocal calls
        calls += 1
        if calls == 1:
            await gate.wait()
        return await real_row(digest)

    store._row = slow_row  # type: ignore[method-assign]
    first = asyncio.ensure_future(store.authenticate(plaintext))
    await asyncio.sleep(0)
    second = asyncio.ensure_future(store.authenticate(plaintext))
    await asyncio.sleep(0)
    first.cancel()
    assert isinstance(await second, Identity)
    assert first.cancelled()
