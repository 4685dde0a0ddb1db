"""Database API keys: ``at_`` + 43 base64url characters, stored only as a SHA-256 digest.

- The plaintext is shown once, at creation. The table keeps the hex digest (HMAC-SHA-256 keyed with
  ``api_keys.db.pepper`` when one is set) under the unique ``api_keys_digest_idx``, so authenticating
  is one indexed query however many keys exist. Looking a digest up in an index leaks nothing useful
  about the plaintext: an attacker cannot choose digests.
- ``prefix`` (the first 8 characters, ``at_`` + 5) is the only part of a key ever displayed or logged.
- Revoking sets ``revoked_at``; rows stay so audit rows that name the key keep their meaning. Names are
  unique among keys that are not revoked, and never those of a file key or bearer token (a key's name is
  its identity: its subject, rate-limit bucket and idempotency scope), see :func:`reserved_names`.
- ``last_used_at`` is written at most once a minute per key, off the request path, with a conditional
  update so several workers do not each write it.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import re
import secrets
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Row, or_, select, update
from sqlalchemy.exc import IntegrityError

from apitest import logs
from apitest.auth.base import Invalid, describe
from apitest.config import Settings
from apitest.db.engine import Database
from apitest.db.models import ApiKey, utcnow
from apitest.identity import Identity

log = logs.get("auth.keystore")

KEY_PREFIX = "at_"
KEY_PATTERN = re.compile(r"at_[A-Za-z0-9_-]{43}")
DISPLAY_PREFIX_LENGTH = 8
TOUCH_INTERVAL = timedelta(minutes=1)
MAX_NAME_LENGTH = 128
KEYS = ApiKey.__table__
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
    """Create, list, revoke and authenticate database keys (SQLite and Postgres alike)."""

    def __init__(
        self,
        database: Database,
        *,
        pepper: str = "",
        clock: Callable[[], datetime] = utcnow,
        reserved: Mapping[str, str] | None = None,
    ) -> None:
        self.database = database
        self.pepper = pepper
        self.clock = clock
        self.reserved = dict(reserved or {})  # name -> "a file key" | "a bearer token"
        self._touched: dict[str, datetime] = {}  # key id -> when this process last wrote last_used_at
        self._pending: set[asyncio.Task[None]] = set()

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
        except IntegrityError as exc:
            raise KeyNameTaken(name, "a database key") from exc
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
        return bool(getattr(result, "rowcount", 0))

    async def find(self, plaintext: str) -> KeyRecord | None:
        """The key with this plaintext, by one lookup on the unique digest index (a Core query: this is
        the per-request path, and the ORM session roughly doubles its CPU cost)."""
        stmt = select(KEYS).where(KEYS.c.digest == key_digest(plaintext, self.pepper))
        async with self.database.engine.connect() as conn:
            if self.database.dialect == "postgresql":
                # One read needs no transaction: autocommit saves the BEGIN and ROLLBACK round trips (6 -> 4 per
                # lookup with the pool's pre-ping). Not on SQLite, where switching modes costs more thread hops.
                conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            row = (await conn.execute(stmt)).first()
        return None if row is None else KeyRecord.from_row(row)

    async def authenticate(self, plaintext: str) -> Identity | Invalid:
        record = await self.find(plaintext)
        if record is None:
            return Invalid("unknown key", "no database key has this value")
        now = self.clock()
        label = f"database key {record.prefix}… ({record.name!r})"
        if record.revoked_at is not None:
            return Invalid("revoked key", f"{label} was revoked at {rfc3339(record.revoked_at)}")
        if record.expires_at is not None and record.expires_at <= now:
            return Invalid("expired key", f"{label} expired at {rfc3339(record.expires_at)}")
        self._touch_later(record, now)
        return Identity(subject=record.name, auth_type="apikey", key_name=record.name, scopes=record.scopes)

    def _touch_later(self, record: KeyRecord, now: datetime) -> None:
        last = max((t for t in (record.last_used_at, self._touched.get(record.id)) if t is not None), default=None)
        if last is not None and now - last < TOUCH_INTERVAL:
            return
        self._touched[record.id] = now
        task = asyncio.ensure_future(self._touch(record.id, now))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _touch(self, key_id: str, now: datetime) -> None:
        stmt = (
            update(ApiKey)
            .where(
                ApiKey.id == key_id,
                or_(ApiKey.last_used_at.is_(None), ApiKey.last_used_at < now - TOUCH_INTERVAL),
            )
            .values(last_used_at=now)
            .execution_options(synchronize_session=False)
        )
        try:
            async with self.database.sessions.begin() as session:
                await session.execute(stmt)
        except Exception as exc:  # best effort: a failed bookkeeping write must not fail requests
            log.warning("api key last_used_at update failed", extra={"key_id": key_id, "err": describe(exc)})

    async def close(self) -> None:
        """Wait for pending ``last_used_at`` writes."""
        if self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)


class KeyStoreComponent:
    """Waits for the key store's pending ``last_used_at`` writes at shutdown."""

    name = "api key store"

    def __init__(self, store: KeyStore) -> None:
        self.store = store

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        await self.store.close()
