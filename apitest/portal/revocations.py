"""Portal sessions ended on the server before their cookie expires (sign-out).

A session cookie is stateless and signed; to end one early its id (``sid``) is recorded until the time the
cookie would have expired anyway, and every portal request looks its id up. With a database the list lives
in ``portal_session_revocations`` (shared by every worker and restart); without one, in this process's
memory (one worker: a restart forgets it, as it forgets nothing else that matters without a database).
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from apitest.db.engine import Database
from apitest.db.models import PortalSessionRevocation, utcnow

MAX_MEMORY_ENTRIES = 100_000


class RevokedSessions(Protocol):
    async def revoke(self, sid: str, until: datetime) -> None: ...

    async def is_revoked(self, sid: str) -> bool: ...


class MemoryRevokedSessions:
    def __init__(self) -> None:
        self._until: dict[str, datetime] = {}

    async def revoke(self, sid: str, until: datetime) -> None:
        now = utcnow()
        if len(self._until) >= MAX_MEMORY_ENTRIES:
            self._until = {s: t for s, t in self._until.items() if t > now}
        self._until[sid] = until

    async def is_revoked(self, sid: str) -> bool:
        until = self._until.get(sid)
        return until is not None and until > utcnow()


class SQLRevokedSessions:
    def __init__(self, database: Database) -> None:
        self.database = database

    async def revoke(self, sid: str, until: datetime) -> None:
        now = utcnow()
        try:
            async with self.database.sessions.begin() as session:
                await session.execute(delete(PortalSessionRevocation).where(PortalSessionRevocation.expires_at <= now))
                session.add(PortalSessionRevocation(sid=sid, revoked_at=now, expires_at=until))
        except IntegrityError:
            pass  # signed out twice (two tabs): already on the list

    async def is_revoked(self, sid: str) -> bool:
        stmt = select(PortalSessionRevocation.expires_at).where(PortalSessionRevocation.sid == sid)
        async with self.database.sessions() as session:
            until = (await session.execute(stmt)).scalar_one_or_none()
        return until is not None and until > utcnow()
