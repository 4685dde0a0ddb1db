from __future__ import annotations

import httpx

from tests.conftest import ClientFactory


async def test_preflight_answered_with_204(client: httpx.AsyncClient) -> None:
    r = await client.options(
        "/v1/whoami", headers={"Origin": "http://app.example", "Access-Control-Request-Method": "GET"}
    )
    assert r.status_code == 204
    assert r.content == b""
    assert r.headers["access-control-allow-origin"] == "*"
    assert "X-API-Key" in r.headers["access-control-allow-headers"]
    assert r.headers["access-control-max-age"] == "600"
    assert "x-request-id" in r.headers


async def test_plain_options_reaches_the_router(client: httpx.AsyncClient) -> None:
    r = await client.options("/v1/whoami")
    assert r.status_code == 405
    assert r.headers["allow"] == "GET, HEAD"


async def test_cors_headers_on_normal_responses(client: httpx.AsyncClient) -> None:
    r = await client.get("/nope", headers={"Origin": "http://x"})
    assert r.headers["access-control-allow-origin"] == "*"
    assert "X-Request-Id" in r.headers["access-control-expose-headers"]
    assert "Apitest-Event-Id" in r.headers["access-control-expose-headers"]  # a browser script may read its row id


async def test_restricted_origins(client_factory: ClientFactory) -> None:
    client = await client_factory({"server": {"cors": {"allowed_origins": ["http://ok.example"]}}})
    good = await client.get("/healthz", headers={"Origin": "http://ok.example"})
    assert good.headers["access-control-allow-origin"] == "http://ok.example"
    assert "Origin" in good.headers["vary"]
    bad = await client.get("/healthz", headers={"Origin": "http://evil.example"})
    assert "access-control-allow-origin" not in bad.headers
