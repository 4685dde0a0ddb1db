from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest

from tests.support import make_app

ClientFactory = Callable[..., Awaitable[httpx.AsyncClient]]


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
