"""apitest.system: the banner links the portal when it is on, and other router errors keep their status."""

from __future__ import annotations

import httpx
from starlette.exceptions import HTTPException
from starlette.requests import Request

from apitest.system import http_error
from tests.conftest import ClientFactory


async def test_the_banner_links_the_portal_when_it_is_on(client_factory: ClientFactory) -> None:
    client: httpx.AsyncClient = await client_factory({"portal": {"enabled": True, "cookie_secret": "s" * 32}})
    body = (await client.get("/", headers={"Accept": "application/json"})).json()
    assert body["links"]["portal"] == "/portal/"


async def test_other_router_errors_keep_their_status_and_headers() -> None:
    request = Request({"type": "http", "method": "GET", "path": "/x", "headers": [], "query_string": b""})
    response = await http_error(request, HTTPException(418, "teapot", {"X-Why": "tea"}))
    assert response.status_code == 418 and response.headers["x-why"] == "tea"
    assert response.body == b'{"error":"teapot"}\n'
