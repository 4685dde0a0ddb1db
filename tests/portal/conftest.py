"""Portal test helpers: an app with the portal, an SQLite audit log, file and database keys, and a signed-in
browser-like client (cookies kept, CSRF token read from the pages)."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from tests.conftest import ClientFactory
from tests.support import deep_merge

KEY = "portal-test-key-0123456789"
BEARER = "portal-test-bearer-0123456789"
SECRET = "portal-test-cookie-secret-0123456789"
_CSRF = re.compile(r'name="csrf(?:_token" value|-token" content)="([^"]+)"')


def portal_overrides(tmp_path: Any, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    base: dict[str, Any] = {
        "auth": {"allow_anonymous": False},
        "api_keys": {
            "file": [{"name": "tester", "key": KEY, "scopes": ["read", "write", "admin"]}],
            "db": {"enabled": True},
        },
        "bearer": {"tokens": [{"name": "robot", "token": BEARER}]},
        "database": {"url": f"sqlite+aiosqlite:///{tmp_path}/portal.db"},
        "audit": {"enabled": True, "flush_interval_ms": 10},
        "portal": {"enabled": True, "cookie_secret": SECRET},
        "server": {"base_url": "http://testserver"},
    }
    return deep_merge(base, extra or {})


def csrf_token(html: str) -> str:
    match = _CSRF.search(html)
    assert match, "no csrf_token field on the page"
    return match.group(1)


async def sign_in(client: httpx.AsyncClient, key: str = KEY, return_to: str = "") -> httpx.Response:
    page = await client.get("/portal/login")
    form = {"api_key": key, "csrf_token": csrf_token(page.text), "return": return_to}
    return await client.post("/portal/login", data=form)


async def flush(client: httpx.AsyncClient) -> None:
    writer = client.app.state.audit  # type: ignore[attr-defined]
    assert await writer.flush()


@pytest.fixture
async def portal(client_factory: ClientFactory, tmp_path: Any) -> httpx.AsyncClient:
    """A client of a portal app, not signed in."""
    return await client_factory(portal_overrides(tmp_path))


@pytest.fixture
async def signed_in(portal: httpx.AsyncClient) -> httpx.AsyncClient:
    response = await sign_in(portal)
    assert response.status_code == 303, response.text
    return portal
