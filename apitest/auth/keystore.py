"""Database API keys: ``at_`` + 43 base64url characters, stored only as a SHA-256 digest.

- The plaintext is shown once, at creation. The table keeps the hex digest (HMAC-SHA-256 keyed with
  ``api_keys.db.pepper`` when one is set) under the unique ``api_keys_digest_idx``, so authenticating
  is one indexed query however many keys exist. Looking a digest up in an index leaks nothing useful
  about the plaintext: an attacker cannot choose digests.
- ``prefix`` (the first 8 characters, ``at_`` + 5) is the only part of a key ever displayed or logged.
- Revoking sets ``revoked_at``; rows stay so audit rows that name the key keep their meaning. Names are
  unique among keys that are not revoked, and never those of a file key or bearer token (a key's name is
  its identity: its subject, rate-limit bucket and idempotency scope), see :func:`reserved_names`.
- Authenticating reads an in-process cache of verified digests, never more than 1 s behind the table on any
  worker (:mod:`apitest.auth.digests`, :mod:`apitest.auth.keykeeper`).
- ``last_used_at`` is written off the request path: each worker batches the keys it saw and writes them once a
  second in one transaction (and on stop), with a conditional update so it never moves back.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import hmac
import re
import secrets
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Row, Table, bindparam, func, or_, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from apitest import logs
from apitest.auth.base import Invalid, describe
from apitest.auth.digests import (
    LOOKUP_CONCURRENCY,
    NEGATIVE_SIZE,
    NOTIFY_CHANNEL,
    WINDOW_SECONDS,
    CachedKey,
    KeyCache,
    UsageBatch,
)
from apitest.auth.keykeeper import Keeper
from apitest.config import Settings
from apitest.db.engine import Database
from apitest.db.models import ApiKey
from apitest.identity import Identity

log = logs.get("auth.keystore")

KEY_PREFIX = "at_"
KEY_PATTERN = re.compile(r"at_[A-Za-z0-9_-]{43}")
KEY_LENGTH = 46  # every key KEY_PATTERN matches
DISPLAY_PREFIX_LENGTH = 8
MAX_NAME_LENGTH = 128
KEYS = cast(Table, ApiKey.__table__)
LOOKUP_COLUMNS = [KEYS.c[n] for n in ("id", "name", "prefix", "digest", "scopes", "expires_at", "revoked_at")]
# Changes on every create and revoke (see apitest.auth.digests): the per-second check of every worker.
FINGERPRINT = select(
    func.count(), func.count(KEYS.c.revoked_at), func.max(KEYS.c.created_at), func.max(KEYS.c.revoked_at)
)
UNKNOWN = Invalid("unknown key", "no database key has this value")
SCOPE_TOKEN = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]+")  # RFC 6749 §3.3 scope-token


class KeyNameTaken(ValueError):
    """An active database key, a file key or a bearer token already has this name."""

    def __init__(self, name: str, source: str) -> None:
        self.name = name
        self.source = source
        super().__init__(f'name "{name}" is already used by {source}')


def reserved_names(settings: Settings) -> dict[str, str]:
    """Names a database key may not take: the configured file keys and bearer tokens, with their source."""
    names = {t.name: "a bearer token" for t in settings.bearer.tokens if t.name}
    names.update({k.name: "a file key" for k in settings.api_keys.file if k.name})
    return names


def generate_key() -> str:
    """A new plaintext key: ``at_`` + unpadded base64url of 32 random bytes (46 characters)."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def looks_like_db_key(value: str) -> bool:
    return KEY_PATTERN.fullmatch(value) is not None


def key_digest(plaintext: str, pepper: str = "") -> str:
    data = plaintext.encode()
    if pepper:
        return hmac.new(pepper.encode(), data, hashlib.sha256).hexdigest()
    return hashlib.sha256(data).hexdigest()


def rfc3339(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat().replace("+00:00", "Z")


def check_name(name: str) -> str:
    name = name.strip()
    if not name:
        raise ValueError("name required")
    if len(name) > MAX_NAME_LENGTH or not name.isprintable():
        raise ValueError(f"name must be at most {MAX_NAME_LENGTH} printable characters")
    return name


def check_scopes(scopes: Iterable[str]) -> list[str]:
    out: list[str] = []
    for scope in scopes:
        if not isinstance(scope, str) or not SCOPE_TOKEN.fullmatch(scope):
            raise ValueError(f"scopes: {scope!r} is not a valid scope (printable ASCII, no spaces, quotes or '\\')")
        if scope not in out:
            out.append(scope)
    return out


@dataclass(frozen=True)
class KeyRecord:
    """One stored key, without its digest."""

    id: str
    name: str
    prefix: str
    scopes: tuple[str, ...]
    created_at: datetime
    description: str | None = None
    created_by: str | None = None
    expires_at: datetime | None = None
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None

    @classmethod
    def from_row(cls, row: ApiKey | Row[Any]) -> KeyRecord:
        return cls(
            id=row.id,
            name=row.name,
            prefix=row.prefix,
            scopes=tuple(row.scopes or ()),
            created_at=row.created_at,
            description=row.description,
            created_by=row.created_by,
            expires_at=row.expires_at,
            last_used_at=row.last_used_at,
            revoked_at=row.revoked_at,
        )

    def status(self, now: datetime) -> str:
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= now:
            return "expired"
        return "active"

    def to_json(self, now: datetime) -> dict[str, Any]:
        """The admin API shape; optional fields are left out when empty."""
        body: dict[str, Any] = {"id": self.id, "name": self.name, "prefix": self.prefix}
        if self.description:
            body["description"] = self.description
        body["scopes"] = list(self.scopes)
        if self.created_by:
            body["created_by"] = self.created_by
        body["created_at"] = rfc3339(self.created_at)
        for name in ("expires_at", "last_used_at", "revoked_at"):
            value = getattr(self, name)
            if value is not None:
                body[name] = rfc3339(value)
        body["status"] = self.status(now)
        return body


class KeyStore:
    """Create, list, revoke and authenticate database keys (SQLite and Postgres alike).

    Authenticating reads a :class:`~apitest.auth.digests.KeyCache` kept within 1 s of the table (see that
    module); :meth:`start` runs the task that keeps it fresh and writes ``last_used_at``, :meth:`close` stops it
    and writes what is pending. Without :meth:`start` (the CLI, tests) requests refresh the cache themselves.
    """

    def __init__(
        self,
        database: Database,
        *,
        pepper: str = "",
        clock: Callable[[], datetime] = functools.partial(datetime.now, UTC),  # utcnow without a frame
        reserved: Mapping[str, str] | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        window: float = WINDOW_SECONDS,
        negative_size: int = NEGATIVE_SIZE,
    ) -> None:
        self.database = database
        self.pepper = pepper
        self.clock = clock
        self.reserved = dict(reserved or {})  # name -> "a file key" | "a bearer token"
        self.cache = KeyCache(window=window, monotonic=monotonic, negative_size=negative_size)
        self.used = UsageBatch()
        self._refresh_lock = asyncio.Lock()
        self._lookups = asyncio.Semaphore(LOOKUP_CONCURRENCY)
        self._inflight: dict[str, asyncio.Future[CachedKey | None]] = {}
        self._keeper: Keeper | None = None

    async def create(
        self,
        name: str,
        *,
        description: str | None = None,
        scopes: Iterable[str] = (),
        expires_at: datetime | None = None,
        created_by: str | None = None,
    ) -> tuple[KeyRecord, str]:
        """Store a new key; returns its record and the plaintext (the only time it exists)."""
        name = check_name(name)
        if name in self.reserved:
            raise KeyNameTaken(name, self.reserved[name])
        plaintext = generate_key()
        row = ApiKey(
            id=str(uuid.uuid4()),
            name=name,
            prefix=plaintext[:DISPLAY_PREFIX_LENGTH],
            digest=key_digest(plaintext, self.pepper),
            description=description or None,
            scopes=check_scopes(scopes),
            created_by=created_by or None,
            created_at=self.clock(),
            expires_at=expires_at,
        )
        try:
            async with self.database.sessions.begin() as session:
                session.add(row)
                await self._notify(session)
        except IntegrityError as exc:
            raise KeyNameTaken(name, "a database key") from exc
        self.cache.unknown.pop(row.digest, None)
        self.cache.mark_stale()
        return KeyRecord.from_row(row), plaintext

    async def list_keys(self) -> list[KeyRecord]:
        """Every key, revoked ones included, newest first."""
        stmt = select(ApiKey).order_by(ApiKey.created_at.desc(), ApiKey.id.desc())
        async with self.database.sessions() as session:
            return [KeyRecord.from_row(row) for row in (await session.scalars(stmt)).all()]

    async def active(self, name: str) -> KeyRecord | None:
        """The key called ``name`` that is not revoked (it may have expired), or ``None``."""
        stmt = select(ApiKey).where(ApiKey.name == name, ApiKey.revoked_at.is_(None))
        async with self.database.sessions() as session:
            row = (await session.scalars(stmt)).first()
        return None if row is None else KeyRecord.from_row(row)

    async def revoke(self, name: str) -> bool:
        """Revoke the active key called ``name``; ``False`` when there is none."""
        stmt = (
            update(ApiKey)
            .where(ApiKey.name == name, ApiKey.revoked_at.is_(None))
            .values(revoked_at=self.clock())
            .execution_options(synchronize_session=False)
        )
        async with self.database.sessions.begin() as session:
            result = await session.execute(stmt)
            revoked = bool(getattr(result, "rowcount", 0))
            if revoked:
                await self._notify(session)
        if revoked:
            self.cache.forget_name(name)
            self.cache.mark_stale()
        return revoked

    async def _notify(self, session: AsyncSession) -> None:
        """Tell every worker's listener (PostgreSQL) at commit; SQLite workers see the change by polling."""
        if self.database.dialect == "postgresql":
            await session.execute(text(f"NOTIFY {NOTIFY_CHANNEL}"))

    async def find(self, plaintext: str) -> KeyRecord | None:
        """The stored key with this plaintext, read from the table (not the cache)."""
        row = await self._row(key_digest(plaintext, self.pepper))
        return None if row is None else KeyRecord.from_row(row)

    async def _row(self, digest: str) -> Row[Any] | None:
        """One lookup on the unique digest index (a Core query: the ORM session roughly doubles its CPU cost)."""
        stmt = select(*LOOKUP_COLUMNS).where(KEYS.c.digest == digest)
        async with self.database.engine.connect() as conn:
            if self.database.dialect == "postgresql":
                # One read needs no transaction: autocommit saves the BEGIN and ROLLBACK round trips.
                conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            return (await conn.execute(stmt)).first()

    async def authenticate(self, plaintext: str) -> Identity | Invalid | None:
        """The identity of a stored key, why it is refused, or ``None`` when ``plaintext`` is not shaped like
        a database key (the caller refuses it as matching no key). The cache is asked before the shape is
        checked while the cache is fresh (a cached digest is a stored key's); a value of another shape never
        reaches the database, so it is refused the same way when the database is down."""
        if len(plaintext) != KEY_LENGTH:
            return None  # no stored key has another length: a long hostile value is not even hashed
        digest = key_digest(plaintext, self.pepper)
        cache = self.cache
        entry = cache.get(digest) if cache.is_fresh() else None
        if entry is None:
            if not looks_like_db_key(plaintext):
                return None
            if not cache.is_fresh():
                await self.refresh(only_if_stale=True)
                entry = cache.get(digest)
        if entry is None:
            if cache.is_unknown(digest):
                return UNKNOWN
            entry = await self._lookup(digest)
            if entry is None:
                return UNKNOWN
        now = self.clock()
        if entry.revoked_at is not None:
            return Invalid("revoked key", f"{entry.label()} was revoked at {rfc3339(entry.revoked_at)}")
        if entry.expires_at is not None and entry.expires_at <= now:
            return Invalid("expired key", f"{entry.label()} expired at {rfc3339(entry.expires_at)}")
        self.used.mark(entry.key_id, now)
        return entry.identity

    async def _lookup(self, digest: str) -> CachedKey | None:
        """Read one digest not in the cache: one query per digest at a time, at most a few at once."""
        pending = self._inflight.get(digest)
        if pending is not None:
            try:
                return await asyncio.shield(pending)
            except asyncio.CancelledError:
                if not pending.cancelled():
                    raise  # this request itself was cancelled
                return await self._lookup(digest)  # the request that looked it up went away
        future: asyncio.Future[CachedKey | None] = asyncio.get_running_loop().create_future()
        self._inflight[digest] = future
        try:
            generation = self.cache.generation
            async with self._lookups:
                row = await self._row(digest)
            entry = None if row is None else cached(row)
            self.cache.store(digest, entry, generation)
            future.set_result(entry)
            return entry
        except asyncio.CancelledError:
            future.cancel()  # waiters look it up again themselves (above)
            raise
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: waiters re-raise it, and no "never retrieved" warning when none
            raise
        finally:
            del self._inflight[digest]

    async def refresh(self, *, only_if_stale: bool = False) -> bool:
        """Check the table's fingerprint; when it changed, re-read every cached key. ``True`` when it changed.

        The poll trigger of tests and the background task; requests call it when the cache is stale."""
        async with self._refresh_lock:
            if only_if_stale and self.cache.is_fresh():
                return False
            started = self.cache.monotonic()
            async with self.database.engine.connect() as conn:
                fingerprint = tuple((await conn.execute(FINGERPRINT)).one())
                changed = self.cache.checked(started, fingerprint)
                if changed and self.cache.known:
                    self.cache.replace(await self._reread(conn, list(self.cache.known)))
            return changed

    async def _reread(self, conn: AsyncConnection, digests: list[str]) -> dict[str, CachedKey]:
        out: dict[str, CachedKey] = {}
        for first in range(0, len(digests), 500):
            stmt = select(*LOOKUP_COLUMNS).where(KEYS.c.digest.in_(digests[first : first + 500]))
            for row in await conn.execute(stmt):
                out[row.digest] = cached(row)
        return out

    async def flush_last_used(self) -> int:
        """Write the pending ``last_used_at`` values in one transaction; returns how many keys."""
        pending = self.used.take()
        if not pending:
            return 0
        stmt = (
            update(KEYS)
            .where(
                KEYS.c.id == bindparam("key_id"),
                or_(KEYS.c.last_used_at.is_(None), KEYS.c.last_used_at < bindparam("used_at")),
            )
            .values(last_used_at=bindparam("used_at"))
        )
        params = [{"key_id": key_id, "used_at": used_at} for key_id, used_at in pending.items()]
        try:
            async with self.database.engine.begin() as conn:
                await conn.execute(stmt, params)
        except Exception as exc:  # best effort: a failed bookkeeping write must not fail requests
            log.warning("api key last_used_at update failed", extra={"keys": len(params), "err": describe(exc)})
            return 0
        return len(params)

    def start(self) -> None:
        """Start the task that keeps the cache fresh (and listens on PostgreSQL) and writes ``last_used_at``."""
        if self._keeper is None:
            self._keeper = Keeper(self)
            self._keeper.start()

    async def close(self) -> None:
        """Stop the task and write the pending ``last_used_at`` values."""
        if self._keeper is not None:
            await self._keeper.stop()
            self._keeper = None
        await self.flush_last_used()


def cached(row: Row[Any]) -> CachedKey:
    identity = Identity(subject=row.name, auth_type="apikey", key_name=row.name, scopes=tuple(row.scopes or ()))
    return CachedKey(row.digest, row.id, row.name, row.prefix, row.expires_at, row.revoked_at, identity)


class KeyStoreComponent:
    """Waits for the key store's pending ``last_used_at`` writes at shutdown."""

    name = "api key store"

    def __init__(self, store: KeyStore) -> None:
        self.store = store

    async def start(self) -> None:
        self.store.start()

    async def stop(self) -> None:
        await self.store.close()
