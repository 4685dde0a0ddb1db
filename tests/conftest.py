from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import httpx
import pytest

from tests.support import make_app

ClientFactory = Callable[..., Awaitable[httpx.AsyncClient]]
NO_POSTGRES = "no PostgreSQL reachable: set APITEST_TEST_DATABASE_URL, run Docker, or start a server on localhost:5432"


@pytest.fixture
async def client_factory() -> AsyncIterator[ClientFactory]:
    """Build an in-process client (lifespan running) for an app made from settings overrides."""
    async with contextlib.AsyncExitStack() as stack:

        async def factory(overrides: dict[str, Any] | None = None, **kwargs: Any) -> httpx.AsyncClient:
            app = make_app(overrides, **kwargs)
            await stack.enter_async_context(app.router.lifespan_context(app))
            transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
            client = httpx.AsyncClient(transport=transport, base_url="http://testserver")
            client.app = app  # type: ignore[attr-defined]
            return await stack.enter_async_context(client)

        yield factory


@pytest.fixture
async def client(client_factory: ClientFactory) -> httpx.AsyncClient:
    """All groups, anonymous access."""
    return await client_factory()


@pytest.fixture(scope="session")
def pg_server_url() -> Iterator[str]:
    """A migrated scratch database for this test run (dropped at the end)."""
    from apitest.db.engine import upgrade
    from tests.dbsupport import scratch_database, server_url

    with server_url() as server:
        if server is None:
            if os.environ.get("CI", "").lower() == "true":
                pytest.fail(f"CI=true: the integration suite may not skip; {NO_POSTGRES}", pytrace=False)
            pytest.skip(NO_POSTGRES)
        with scratch_database(server) as url:
            upgrade(url)
            yield url


@pytest.fixture
def pg_url(pg_server_url: str) -> str:
    """The run's Postgres database, emptied before the test."""
    import asyncio

    from tests.dbsupport import truncate_all

    asyncio.run(truncate_all(pg_server_url))
    return pg_server_url


@pytest.fixture
def sqlite_url(tmp_path: Any) -> str:
    """A migrated SQLite file for one test."""
    from apitest.db.engine import upgrade

    url = f"sqlite+aiosqlite:///{tmp_path}/apitest.db"
    upgrade(url)
    return url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.integration)])
def db_url(request: pytest.FixtureRequest) -> str:
    """Run a store test on both backends; the Postgres half is part of `make integration`."""
    name = "sqlite_url" if request.param == "sqlite" else "pg_url"
    return str(request.getfixturevalue(name))
