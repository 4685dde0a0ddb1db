"""Signing in from a real browser: with an API key, and through OIDC (authorization code + PKCE)."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import httpx
import pytest
from itsdangerous import URLSafeTimedSerializer

from apitest.portal.session import SESSION_SALT
from tests.portal.browser_support import Watched, browser, portal_server, watch  # noqa: F401
from tests.portal.conftest import KEY, SECRET
from tests.portal.oidcmock import oidc_provider

pytestmark = pytest.mark.browser


@pytest.fixture
def key_portal(browser: Any, tmp_path: Path) -> Iterator[Watched]:  # noqa: F811
    with portal_server(tmp_path) as server:
        yield from watch(browser, server)


def test_api_key_sign_in_and_out(key_portal: Watched) -> None:
    page = key_portal.page
    page.goto(key_portal.origin + "/portal/audit?status=5xx")
    assert "/portal/login?return=" in page.url
    key_portal.shot("login")
    page.fill("#api_key", "wrong-key")
    page.click("text=Sign in with API key")
    assert "API key was not accepted" in page.inner_text("#login-error")
    key_portal.sign_in()
    assert "Signed in as" in page.inner_text("header") and "tester" in page.inner_text("header")
    page.click("text=Sign out")
    page.wait_for_url("**/portal/login?reason=signed_out")
    assert "You are signed out." in page.inner_text("main")
    page.goto(key_portal.origin + "/portal/")
    assert "/portal/login" in page.url


def test_oidc_sign_in(browser: Any, tmp_path: Path) -> None:  # noqa: F811
    with oidc_provider() as issuer:
        extra = {"oidc": {"enabled": True, "issuer": issuer, "client_id": "apitest-portal", "client_secret": "s3cret"}}
        with portal_server(tmp_path, extra) as server:
            for watched in watch(browser, server):
                page = watched.page
                page.goto(server.url + "/portal/keys")
                page.click("#oidc-login")
                page.wait_for_url(issuer + "/**")
                page.fill("input[name=sub]", "dev@example.com")
                page.locator("input[name=sub]").press("Enter")
                page.wait_for_url(server.url + "/portal/keys")
                assert "dev@example.com" in page.inner_text("header") and "(oidc)" in page.inner_text("header")
                me = page.request.get(server.url + "/api/v1/portal/me").json()
                assert me["auth_type"] == "oidc" and me["claims"]["iss"] == issuer


def test_oidc_sign_in_started_on_another_loopback_name(browser: Any, tmp_path: Path) -> None:  # noqa: F811
    """base_url says localhost, the browser is on 127.0.0.1: sign-in moves to localhost first and works."""
    with oidc_provider() as issuer:
        extra = {"oidc": {"enabled": True, "issuer": issuer, "client_id": "apitest-portal", "client_secret": "s3cret"}}
        with portal_server(tmp_path, extra, base_host="localhost") as server:
            configured = server.url.replace("127.0.0.1", "localhost")
            for watched in watch(browser, server):
                page = watched.page
                page.goto(server.url + "/portal/audit?status=5xx")
                assert page.url.startswith(server.url + "/portal/login")
                page.click("#oidc-login")
                page.wait_for_url(issuer + "/**")
                page.fill("input[name=sub]", "dev@example.com")
                page.locator("input[name=sub]").press("Enter")
                page.wait_for_url(configured + "/portal/audit?status=5xx")
                assert "dev@example.com" in page.inner_text("header")


def expire_session(page: Any) -> None:
    """Swap the session cookie for the same session signed 13 hours ago (older than portal.session_ttl)."""
    serializer = URLSafeTimedSerializer(SECRET, salt=SESSION_SALT, signer_kwargs={"digest_method": hashlib.sha256})
    cookie = next(c for c in page.context.cookies() if c["name"] == "api_test_session")
    payload = serializer.loads(cookie["value"])
    with mock.patch("time.time", return_value=time.time() - 13 * 3600):
        old = serializer.dumps(payload)
    page.context.add_cookies([{**cookie, "value": old}])


def test_an_expired_session_returns_to_the_page_the_form_was_on(key_portal: Watched) -> None:
    page, origin = key_portal.page, key_portal.origin
    httpx.post(origin + "/v1/echo", json={"a": 1}, headers={"X-API-Key": KEY}, timeout=10)
    created = httpx.post(
        origin + "/api/v1/admin/keys", json={"name": "to-revoke", "scopes": ["read"]}, headers={"X-API-Key": KEY}
    )
    assert created.status_code == 201, created.text
    key_portal.sign_in()
    event_id = page.request.get(origin + "/api/v1/portal/audit/events?route_name=echo_post").json()["events"][0]["id"]

    def submit_after_expiry(url: str, submit: Any) -> None:
        page.goto(origin + url)
        expire_session(page)
        submit()
        page.wait_for_url("**/portal/login?**")
        assert "reason=expired" in page.url
        page.fill("#api_key", KEY)
        page.click("text=Sign in with API key")
        page.wait_for_url(origin + url)
        assert "method not allowed" not in page.content()

    submit_after_expiry(f"/portal/audit/{event_id}", lambda: page.click("#replay"))
    submit_after_expiry("/portal/endpoints/status", lambda: (page.fill("#path-code", "204"), page.click("#try-send")))
    submit_after_expiry("/portal/keys", lambda: (page.fill("#key-name", "late"), page.click("#create")))

    def revoke() -> None:
        row = page.locator("tr[data-key='to-revoke']")
        row.locator("summary").click()
        row.locator("button.danger").click()

    submit_after_expiry("/portal/keys", revoke)
    submit_after_expiry("/portal/audit?status=5xx", lambda: page.click("text=Sign out"))


def test_a_mistyped_key_keeps_the_deep_link(key_portal: Watched) -> None:
    page, origin = key_portal.page, key_portal.origin
    page.goto(origin + "/portal/audit?status=5xx&method=GET")
    page.fill("#api_key", "wrong-key")
    page.click("text=Sign in with API key")
    assert "API key was not accepted" in page.inner_text("#login-error")
    page.fill("#api_key", KEY)
    page.click("text=Sign in with API key")
    page.wait_for_url(origin + "/portal/audit?status=5xx&method=GET")
