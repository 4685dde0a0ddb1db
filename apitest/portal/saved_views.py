"""Saved views of the audit list: a name and the view's filter parameters, kept per portal identity.

A saved view is its canonical query string (only parameters the filters accept, see
:mod:`apitest.audit.filters`), so opening it is following a link. Each identity sees and deletes only
its own views (the owner is ``<auth_type>:<subject>``; the anonymous mode's views are shared by everyone
who opens the portal anonymously). With a database they live in ``portal_saved_views``; without one, in
this process's memory (one worker; a restart forgets them).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol
from urllib.parse import urlencode

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError

from apitest.db.engine import Database
from apitest.db.models import SavedView, utcnow
from apitest.portal.session import PortalIdentity
from apitest.storable import storable

MAX_NAME = 100
MAX_VIEWS = 100  # per identity


class SavedViewError(ValueError):
    """A view that cannot be saved (empty or long name, a duplicate, too many); the message is for people."""


@dataclass(frozen=True)
class View:
    id: str
    name: str
    query: str  # URL-encoded filter parameters
    created_at: datetime

    def json(self) -> dict[str, str]:
        return {"id": self.id, "name": self.name, "query": self.query, "created_at": self.created_at.isoformat()}


def owner_of(identity: PortalIdentity) -> str:
    return f"{identity.auth_type}:{identity.subject}"


def check_name(name: str) -> str:
    """Whitespace collapsed; NUL and lone surrogates escaped visibly (:func:`apitest.storable.storable`), so any
    name a form or JSON can carry is storable on both backends."""
    name = storable(" ".join(name.split()))
    if not name:
        raise SavedViewError("give the view a name")
    if len(name) > MAX_NAME:
        raise SavedViewError(f"a view name is at most {MAX_NAME} characters")
    return name


def encode_query(params: dict[str, str]) -> str:
    return urlencode(sorted(params.items()))


class SavedViews(Protocol):
    async def list(self, owner: str) -> list[View]: ...

    async def create(self, owner: str, name: str, query: str) -> View: ...

    async def delete(self, owner: str, view_id: str) -> bool: ...


class MemorySavedViews:
    def __init__(self) -> None:
        self._views: dict[str, dict[str, View]] = {}

    async def list(self, owner: str) -> list[View]:
        return sorted(self._views.get(owner, {}).values(), key=lambda v: v.name.lower())

    async def create(self, owner: str, name: str, query: str) -> View:
        mine = self._views.setdefault(owner, {})
        if any(v.name == name for v in mine.values()):
            raise SavedViewError(f"you already have a view named {name!r}")
        if len(mine) >= MAX_VIEWS:
            raise SavedViewError(f"at most {MAX_VIEWS} saved views; delete one first")
        view = View(str(uuid.uuid4()), name, query, utcnow())
        mine[view.id] = view
        return view

    async def delete(self, owner: str, view_id: str) -> bool:
        return self._views.get(owner, {}).pop(view_id, None) is not None


class SQLSavedViews:
    def __init__(self, database: Database) -> None:
        self.database = database

    async def list(self, owner: str) -> list[View]:
        stmt = select(SavedView).where(SavedView.owner == owner).order_by(func.lower(SavedView.name))
        async with self.database.sessions() as session:
            rows = (await session.execute(stmt)).scalars().all()
        return [View(r.id, r.name, r.query, r.created_at) for r in rows]

    async def create(self, owner: str, name: str, query: str) -> View:
        view = View(str(uuid.uuid4()), name, query, utcnow())
        count = select(func.count()).select_from(SavedView).where(SavedView.owner == owner)
        try:
            async with self.database.sessions.begin() as session:
                if int((await session.execute(count)).scalar_one()) >= MAX_VIEWS:
                    raise SavedViewError(f"at most {MAX_VIEWS} saved views; delete one first")
                session.add(SavedView(id=view.id, owner=owner, name=name, query=query, created_at=view.created_at))
        except IntegrityError as exc:
            raise SavedViewError(f"you already have a view named {name!r}") from exc
        return view

    async def delete(self, owner: str, view_id: str) -> bool:
        stmt = delete(SavedView).where(SavedView.owner == owner, SavedView.id == view_id)
        async with self.database.sessions.begin() as session:
            result = await session.execute(stmt)
        return bool(getattr(result, "rowcount", 0))
