"""Signing in from a real browser: with an API key, and through OIDC (authorization code + PKCE)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.portal.browser_support import Watched, browser, portal_server, watch  # noqa: F401
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
