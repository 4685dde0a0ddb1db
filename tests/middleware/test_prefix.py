"""The portal behind a gateway's path prefix: links, redirects and cookie paths carry the prefix; /v1 and the
app's routing are unchanged."""

from __future__ import annotations

import re
from typing import Any

import httpx
from starlette.types import ASGIApp, Receive, Scope, Send

from apitest.middleware.prefix import may_have_prefix, prefixed
from tests.conftest import ClientFactory
from tests.portal.conftest import KEY, csrf_token, portal_overrides
from tests.support import make_app, make_settings

PREFIXED = {"server": {"base_url": "http://gw:9000/api"}, "portal": {"allowed_hosts": ["gw", "testserver"]}}


def test_prefixed() -> None:
    assert prefixed(b"/api", b"/portal/login?return=%2Fportal%2F") == b"/api/portal/login?return=%2Fportal%2F"
    assert prefixed(b"/api", b"/api/portal/") == b"/api/portal/"  # already there
    assert prefixed(b"/api", b"https://idp/authorize") == b"https://idp/authorize"  # not a path
    assert prefixed(b"/api", b"//evil/x") == b"//evil/x"


def test_installed_only_when_a_prefix_can_exist() -> None:
    assert not may_have_prefix(make_settings())
    assert not may_have_prefix(make_settings({"server": {"base_url": "http://gw:9000"}}))
    assert may_have_prefix(make_settings({"server": {"base_url": "http://gw:9000/api/"}}))
    assert may_have_prefix(make_settings({"server": {"trusted_proxies": ["127.0.0.1"]}}))


def gateway(app: ASGIApp) -> ASGIApp:
    """What the gateway does: the browser asks for /api/..., the fixture receives the path without /api."""

    async def strip(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/api/"):
            scope = {**scope, "path": scope["path"][4:], "raw_path": scope["raw_path"][4:]}
        await app(scope, receive, send)

    return strip


async def test_portal_links_redirects_and_cookies_carry_the_prefix(tmp_path: Any) -> None:
    app = make_app(portal_overrides(tmp_path, PREFIXED))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=gateway(app))
        async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
            root = await client.get("/api/portal")
            assert root.headers["location"] == "/api/portal/"
            page = await client.get("/api/portal/audit")
            assert page.status_code == 303
            assert page.headers["location"].startswith("/api/portal/login?return=%2Fportal%2Faudit")
            login = await client.get("/api/portal/login")
            links = re.findall(r'(?:href|action|src)="(/[^"]*)"', login.text)
            assert links and all(a.startswith("/api/") for a in links), links
            form = {"api_key": KEY, "csrf_token": csrf_token(login.text), "return": "/portal/audit"}
            signed = await client.post("/api/portal/login", data=form)
            assert (signed.status_code, signed.headers["location"]) == (303, "/api/portal/audit")
            cookie_paths = re.findall(r"[Pp]ath=([^;]*)", ";".join(signed.headers.get_list("set-cookie")))
            assert cookie_paths and all(p.startswith("/api") for p in cookie_paths), cookie_paths
            audit = await client.get("/api/portal/audit")
            assert audit.status_code == 200 and 'href="/api/portal/' in audit.text  # signed in, behind the prefix


async def test_v1_is_not_rewritten(client_factory: ClientFactory, tmp_path: Any) -> None:
    client: httpx.AsyncClient = await client_factory(portal_overrides(tmp_path, PREFIXED))
    r = await client.get("/v1/redirect-to", params={"url": "/v1/get"}, headers={"X-API-Key": KEY})
    assert r.headers.get("location") in (None, "/v1/get")
    assert (await client.get("/api/portal/")).status_code == 404  # routing still serves the unprefixed paths
