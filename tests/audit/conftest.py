from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from apitest.audit.records import AuditStore, EventRecord, PayloadRecord
from apitest.audit.store_memory import MemoryAuditStore
from apitest.audit.store_sql import SQLAuditStore
from apitest.db.engine import Database

T0 = datetime(2026, 11, 21, 12, 0, 0, tzinfo=UTC)


def event(offset_s: float = 0.0, *, payload: PayloadRecord | None = None, **fields: Any) -> EventRecord:
    """An event at ``T0 + offset_s``: a successful anonymous GET /v1/whoami unless ``fields`` say otherwise."""
    status = fields.pop("status", 200)
    values: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "ts": T0 + timedelta(seconds=offset_s),
        "method": "GET",
        "path": "/v1/whoami",
        "status": status,
        "success": 200 <= status < 400,
        "duration_ms": 5,
        "route_name": "whoami",
        "endpoint_group": "identity",
        "auth_type": "anonymous",
    }
    values.update(fields)
    return EventRecord(**values, payload=payload)


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.integration)])
def store_url(request: pytest.FixtureRequest) -> str | None:
    """``None`` for the in-memory fake, else a migrated, empty database (the fixtures run outside the loop)."""
    if request.param == "memory":
        return None
    return str(request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_url"))


@pytest.fixture
async def store(store_url: str | None) -> AsyncIterator[AuditStore]:
    """The same store tests against the in-memory fake, SQLite, and PostgreSQL (make integration)."""
    if store_url is None:
        yield MemoryAuditStore()
        return
    database = Database(store_url)
    try:
        yield SQLAuditStore(database)
    finally:
        await database.dispose()
