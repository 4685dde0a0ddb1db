"""Isolation at the edge: sandbox and nosniff on fixture responses, the Host allow-list on portal and admin paths."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from apitest.middleware.edge import Edge
from apitest.middleware.isolation import FIXTURE_HEADERS, is_same_origin_path, under

CSP = dict(FIXTURE_HEADERS)[b"content-security-policy"].decode()


def inner(headers: list[tuple[bytes, bytes]]) -> Any:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": list(headers)})
        await send({"type": "http.response.body", "body": b"<script>alert(1)</script>"})

    return app


async def call(path: str, host: str = "127.0.0.1", headers: list[tuple[bytes, bytes]] | None = None) -> httpx.Response:
    app = Edge(inner(headers or []), allowed_hosts=["127.0.0.1", "Portal.Example", "[::1]"])
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://x") as client:
        return await client.get(path, headers={"Host": host})


def test_the_policy_is_a_sandbox_without_scripts() -> None:
    assert CSP.startswith("sandbox;") and "default-src 'none'" in CSP and "allow-" not in CSP


@pytest.mark.parametrize("path", ["/v1/respond", "/v1/nope", "/", "/healthz", "/openapi.json", "/api/v1/admin/keys"])
async def test_fixture_responses_are_sandboxed(path: str) -> None:
    r = await call(path, headers=[(b"x-content-type-options", b"sniff"), (b"content-type", b"text/html")])
    assert r.headers.get_list("content-security-policy") == [CSP]
    assert r.headers.get_list("x-content-type-options") == ["nosniff"]
    assert r.headers["content-type"] == "text/html"


@pytest.mark.parametrize("path", ["/portal/", "/portal/static/portal.css", "/docs", "/docs/assets/x.js"])
async def test_pages_with_their_own_policy_are_left_alone(path: str) -> None:
    r = await call(path, headers=[(b"content-security-policy", b"default-src 'self'")])
    assert r.headers.get_list("content-security-policy") == ["default-src 'self'"]


@pytest.mark.parametrize(
    ("path", "host", "status"),
    [
        ("/portal/", "127.0.0.1:8080", 200),
        ("/portal/", "portal.example", 200),
        ("/portal/", "PORTAL.EXAMPLE:443", 200),
        ("/portal/", "[::1]:9", 200),
        ("/portal/", "evil.example", 421),
        ("/portal", "evil.example", 421),
        ("/api/v1/portal/me", "evil.example", 421),
        ("/api/v1/admin/anything/new", "evil.example", 421),
        ("/api/v1/admin/keys", "", 421),
        ("/v1/whoami", "evil.example", 200),
        ("/portalx", "evil.example", 200),
        ("/api/v1/administrator", "evil.example", 200),
    ],
)
async def test_the_host_allow_list(path: str, host: str, status: int) -> None:
    r = await call(path, host)
    assert r.status_code == status
    if status == 421:
        assert "portal.allowed_hosts" in r.text and r.headers.get_list("content-security-policy") == [CSP]
        expected = "text/html" if path.startswith("/portal") else "application/json"
        assert r.headers["content-type"].startswith(expected)


async def test_a_hostile_host_is_escaped_in_the_page() -> None:
    r = await call("/portal/", "<img src=x onerror=alert(1)>")
    assert r.status_code == 421 and "<img" not in r.text


def test_prefix_matching() -> None:
    assert is_same_origin_path("/portal") and is_same_origin_path("/api/v1/admin/keys/x")
    assert not is_same_origin_path("/portalx") and not is_same_origin_path("/api/v1/adminx")
    assert under("/docs", ("/docs",)) and not under("/docsx", ("/docs",))
