from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from apitest.db.engine import Database
from apitest.webhooks.records import Subscription
from apitest.webhooks.store import WebhookStore
from tests.webhooks.support import FakeClock


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def database(db_url: str) -> AsyncIterator[Database]:
    db = Database(db_url)
    yield db
    await db.dispose()


@pytest.fixture
async def store(database: Database, clock: FakeClock) -> WebhookStore:
    return WebhookStore(database, clock)


def subscription(name: str = "hooks", url: str = "http://127.0.0.1:9/hook", **fields: object) -> Subscription:
    values: dict[str, object] = {"secret": "whsec_dGVzdHRlc3R0ZXN0dGVzdA==", "event_types": ["*"]} | fields
    return Subscription(id="", name=name, url=url, **values)  # type: ignore[arg-type]
