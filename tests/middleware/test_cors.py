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


async def test_the_portal_and_admin_paths_are_same_origin_only() -> None:
    from apitest.middleware.edge import Edge

    seen: list[str] = []

    async def app(scope, receive, send) -> None:  # type: ignore[no-untyped-def]
        seen.append(scope["path"])
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    cors = Edge(app, allowed_origins=["*"], allowed_hosts=["t"])
    transport = httpx.ASGITransport(app=cors)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as raw:
        preflight = {"Origin": "http://evil.example", "Access-Control-Request-Method": "POST"}
        for path in ("/portal/", "/portal", "/api/v1/portal/me", "/api/v1/admin/keys", "/api/v1/admin/webhooks/1"):
            for r in (await raw.get(path, headers=preflight), await raw.options(path, headers=preflight)):
                assert r.status_code == 200 and not any(h.startswith("access-control-") for h in r.headers), path
        assert (await raw.get("/portalx", headers=preflight)).headers["access-control-allow-origin"] == "*"
        assert (await raw.options("/v1/echo", headers=preflight)).status_code == 204
    assert "/v1/echo" not in seen and "/api/v1/admin/keys" in seen


async def test_a_response_carries_what_a_response_needs_and_a_preflight_what_a_preflight_needs(
    client: httpx.AsyncClient,
) -> None:
    normal = await client.get("/v1/whoami", headers={"Origin": "http://app.example"})
    cors = {k for k in normal.headers if k.startswith("access-control-")}
    assert cors == {"access-control-allow-origin", "access-control-expose-headers"}
    assert (await client.get("/v1/whoami")).headers["access-control-allow-origin"] == "*"  # no Origin: the same
    preflight = await client.options(
        "/v1/whoami", headers={"Origin": "http://app.example", "Access-Control-Request-Method": "POST"}
    )
    cors = {k for k in preflight.headers if k.startswith("access-control-")}
    assert cors == {
        "access-control-allow-origin",
        "access-control-allow-methods",
        "access-control-allow-headers",
        "access-control-max-age",
    }


async def test_a_listed_origin_gets_the_preflight_headers_and_vary(client_factory: ClientFactory) -> None:
    client = await client_factory({"server": {"cors": {"allowed_origins": ["http://ok.example"]}}})
    asked = {"Origin": "http://ok.example", "Access-Control-Request-Method": "PUT"}
    r = await client.options("/v1/whoami", headers=asked)
    assert r.status_code == 204
    assert r.headers["access-control-allow-origin"] == "http://ok.example"
    assert "PUT" in r.headers["access-control-allow-methods"] and r.headers["vary"] == "Origin"
    assert "x-request-id" in r.headers and "content-security-policy" in r.headers
