from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event, text

from apitest.auth.base import Invalid
from apitest.auth.keystore import (
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
        assert re.fullmatch(r"at_[A-Za-z0-9_-]{43}", key) and len(key) == 46
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


async def test_last_used_is_written_at_most_once_a_minute(store: KeyStore, clock: Clock) -> None:
    _, plaintext = await store.create("busy")
    await store.authenticate(plaintext)
    await store.close()
    first = (await store.list_keys())[0].last_used_at
    assert first == clock.now
    clock.now += timedelta(seconds=30)
    await store.authenticate(plaintext)
    await store.close()
    assert (await store.list_keys())[0].last_used_at == first
    clock.now += timedelta(seconds=31)
    await store.authenticate(plaintext)
    await store.close()
    assert (await store.list_keys())[0].last_used_at == clock.now


async def test_other_workers_do_not_rewrite_a_fresh_last_used(
    store: KeyStore, database: Database, clock: Clock
) -> None:
    _, plaintext = await store.create("shared")
    await store.authenticate(plaintext)
    await store.close()
    other = KeyStore(database, clock=clock)  # another worker: its own memory, same table
    clock.now += timedelta(seconds=10)
    await other.authenticate(plaintext)
    await other.close()
    assert (await store.list_keys())[0].last_used_at == clock.now - timedelta(seconds=10)


async def test_authentication_is_one_indexed_query(store: KeyStore, database: Database) -> None:
    _, plaintext = await store.create("indexed")
    await store.authenticate(plaintext)
    await store.close()  # last_used_at written; the next call within a minute only reads
    statements: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany) -> None:
        statements.append(statement)

    event.listen(database.engine.sync_engine, "before_cursor_execute", record)
    try:
        await store.authenticate(plaintext)
    finally:
        event.remove(database.engine.sync_engine, "before_cursor_execute", record)
    queries = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    assert len(queries) == 1 and "digest" in queries[0]
    plan_sql = "EXPLAIN QUERY PLAN " if database.dialect == "sqlite" else "EXPLAIN "
    async with database.engine.connect() as conn:
        if database.dialect == "postgresql":
            await conn.execute(text("SET enable_seqscan = off"))
        plan = " ".join(
            str(row[-1]) for row in await conn.execute(text(plan_sql + "SELECT * FROM api_keys WHERE digest = 'x'"))
        )
    assert "api_keys_digest_idx" in plan


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
