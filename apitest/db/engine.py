"""Engine, sessions and migrations for ``sqlite+aiosqlite://`` and ``postgresql+asyncpg://`` URLs."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from apitest import logs
from apitest.config import Settings
from apitest.config.effective import mask_database_url

log = logs.get("db")
MIGRATIONS_ENV = "APITEST_MIGRATIONS_DIR"


class DatabaseError(Exception):
    """The database cannot be reached, or migrating it failed."""


def normalize_url(url: str) -> str:
    """Accept the spellings people paste (``postgres://``, ``sqlite:///``) and asyncpg-incompatible
    ``sslmode``; return a URL for the async drivers."""
    url = url.strip()
    scheme, sep, rest = url.partition("://")
    scheme = {"postgres": "postgresql+asyncpg", "postgresql": "postgresql+asyncpg", "sqlite": "sqlite+aiosqlite"}.get(
        scheme, scheme
    )
    url = scheme + sep + rest
    if scheme.startswith("postgresql"):
        parts = urlsplit(url)
        query = [("ssl", v) if k == "sslmode" else (k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)]
        url = urlunsplit(parts._replace(query=urlencode(query)))
    return url


def sqlite_path(url: str) -> str | None:
    """The file path of a SQLite URL (``None`` for in-memory or other backends)."""
    if not url.startswith("sqlite"):
        return None
    path = url.split(":///", 1)[1] if ":///" in url else ""
    path = path.split("?", 1)[0]
    return None if path in ("", ":memory:") else path


def migrations_dir() -> Path:
    configured = os.environ.get(MIGRATIONS_ENV)
    if configured:
        return Path(configured)
    return Path(__file__).resolve().parents[2] / "migrations"


def sqlite_json(value: Any) -> str:
    """A JSON column's text on SQLite, non-ASCII kept as it is, so free text finds a header like ``über``
    (``\\u`` escapes hide it from ``LIKE`` and the FTS5 index). Text that cannot be UTF-8 (a lone surrogate)
    keeps the escapes, as before."""
    out = json.dumps(value, ensure_ascii=False)
    try:
        out.encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(value)
    return out


class Database:
    """One async engine and session factory; ``dialect`` is ``sqlite`` or ``postgresql``."""

    def __init__(self, url: str, *, pool_size: int = 25, max_idle: int = 5, recycle: float = 3600.0) -> None:
        self.url = normalize_url(url)
        self.dialect = "sqlite" if self.url.startswith("sqlite") else "postgresql"
        kwargs: dict[str, Any] = {"pool_pre_ping": True}
        if self.dialect == "postgresql":
            kwargs.update(pool_size=max(1, max_idle), max_overflow=max(0, pool_size - max_idle), pool_recycle=recycle)
        else:
            kwargs["json_serializer"] = sqlite_json
            path = sqlite_path(self.url)
            if path:
                Path(path).parent.mkdir(parents=True, exist_ok=True)
        self.engine: AsyncEngine = create_async_engine(self.url, **kwargs)
        if self.dialect == "sqlite":
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
        self.sessions: async_sessionmaker[AsyncSession] = async_sessionmaker(self.engine, expire_on_commit=False)

    @classmethod
    def from_settings(cls, settings: Settings) -> Database:
        db = settings.database
        return cls(db.url, pool_size=db.max_open_conns, max_idle=db.max_idle_conns, recycle=db.conn_max_lifetime)

    @property
    def display_url(self) -> str:
        return mask_database_url(self.url)

    async def ping(self) -> None:
        try:
            async with self.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        except Exception as exc:
            raise DatabaseError(f"database: connect {self.display_url}: {exc}") from exc

    async def migrate(self) -> None:
        """Upgrade to the newest Alembic revision."""
        try:
            await asyncio.to_thread(upgrade, self.url)
        except Exception as exc:
            raise DatabaseError(f"migrations: {exc}") from exc

    async def revision(self) -> str | None:
        """The applied Alembic revision, or ``None`` for an unmigrated database."""
        async with self.engine.connect() as conn:
            try:
                row = (await conn.execute(text("SELECT version_num FROM alembic_version"))).first()
            except Exception:
                return None
        return str(row[0]) if row else None

    async def dispose(self) -> None:
        await self.engine.dispose()


def _sqlite_pragmas(dbapi_connection: Any, connection_record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def alembic_config(url: str) -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(migrations_dir()))
    config.set_main_option("sqlalchemy.url", normalize_url(url).replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    from alembic import command

    command.upgrade(alembic_config(url), revision)


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config("sqlite+aiosqlite://")).get_current_head()
    assert head is not None
    return head


class DatabaseComponent:
    """Checks the database at startup (migrating it when configured) and disposes its engine last."""

    name = "database"

    def __init__(self, database: Database, *, migrate_on_boot: bool) -> None:
        self.database = database
        self.migrate_on_boot = migrate_on_boot

    async def start(self) -> None:
        await self.database.ping()
        if self.migrate_on_boot:
            await self.database.migrate()
        log.info("database ready", extra={"url": self.database.display_url, "backend": self.database.dialect})

    async def stop(self) -> None:
        await self.database.dispose()
