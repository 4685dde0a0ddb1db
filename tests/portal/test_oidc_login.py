"""OIDC sign-in (authorization code + PKCE) against an in-process provider, and its failure pages."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from apitest.portal.oidc_login import safe_return
from tests.conftest import ClientFactory
from tests.portal.conftest import portal_overrides
from tests.portal.oidcmock import oidc_provider


@pytest.fixture(scope="module")
def issuer() -> Iterator[str]:
    with oidc_provider() as url:
        yield url


async def oidc_portal(client_factory: ClientFactory, tmp_path: Any, issuer: str) -> httpx.AsyncClient:
    extra = {"oidc": {"enabled": True, "issuer": issuer, "client_id": "apitest-portal", "client_secret": "any-secret"}}
    return await client_factory(portal_overrides(tmp_path, extra))


def idp_sign_in(authorize_url: str, sub: str, action: str = "") -> str:
    """Play the user at the provider's form; returns the redirect back to the portal."""
    form = {"sub": sub} if not action else {"action": action}
    r = httpx.post(authorize_url, data=form, follow_redirects=False)
    assert r.status_code == 302, r.text
    return r.headers["location"]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("/portal/audit?x=1", "/portal/audit?x=1"),
        ("", ""),
        ("portal", ""),
        ("//evil.example/x", ""),
        ("/\\evil.example", ""),
        ("https://evil.example/", ""),
        ("/portal/\r\nSet-Cookie: x", ""),
        ("/ok\\x", ""),
        ("/portal/", "/portal/"),
        ("/v1/respond?body=x", ""),
        ("/portal", ""),
        ("/portal/../v1/respond", ""),
        ("/portal/%2e%2e/v1/respond", ""),
        ("/portal/%252e%252e/v1/respond", ""),
        ("/portal//evil.example", ""),
        ("/portal/%2F%2Fevil.example", ""),
        ("/portal/%5Cevil", ""),
        ("/portal/\tx", ""),
        ("https://evil.example/portal/", ""),
        ("/portalx/", ""),
    ],
)
def test_safe_return(value: str, expected: str) -> None:
    assert safe_return(value) == expected


async def test_full_sign_in_with_pkce_state_and_nonce(
    client_factory: ClientFactory, tmp_path: Any, issuer: str
) -> None:
    client = await oidc_portal(client_factory, tmp_path, issuer)
    login = await client.get("/portal/login")
    assert 'id="oidc-login"' in login.text
    start = await client.get("/portal/auth/login?return=/portal/audit")
    assert start.status_code == 302
    cookie = start.headers["set-cookie"]
    assert cookie.startswith("api_test_pkce=") and "Path=/portal/auth/" in cookie and "HttpOnly" in cookie
    authorize = start.headers["location"]
    params = parse_qs(urlsplit(authorize).query)
    assert authorize.startswith(issuer)
    assert params["code_challenge_method"] == ["S256"] and params["code_challenge"][0]
    assert params["response_type"] == ["code"] and params["client_id"] == ["apitest-portal"]
    assert params["redirect_uri"] == ["http://testserver/portal/auth/callback"]
    assert params["state"][0] and params["nonce"][0]
    assert set(params["scope"][0].split()) == {"openid", "email", "profile"}
    back = idp_sign_in(authorize, "alice@example.com")
    callback = await client.get(back.replace("http://testserver", ""))
    assert callback.status_code == 303, callback.text
    assert callback.headers["location"] == "/portal/audit"
    me = (await client.get("/api/v1/portal/me")).json()
    assert me["auth_type"] == "oidc" and me["subject"] == "alice@example.com"
    assert me["claims"]["iss"] == issuer and "nonce" not in me["claims"]
    replay = await client.get(back.replace("http://testserver", ""))
    assert replay.status_code == 400  # the state cookie is gone and the state was redeemed


async def test_idp_refusal_is_an_error_page(client_factory: ClientFactory, tmp_path: Any, issuer: str) -> None:
    client = await oidc_portal(client_factory, tmp_path, issuer)
    start = await client.get("/portal/auth/login")
    back = idp_sign_in(start.headers["location"], "", action="deny")
    r = await client.get(back.replace("http://testserver", ""))
    assert r.status_code == 400
    assert "The identity provider refused the sign-in" in r.text and "access_denied" in r.text


async def test_callback_checks(client_factory: ClientFactory, tmp_path: Any, issuer: str) -> None:
    client = await oidc_portal(client_factory, tmp_path, issuer)
    r = await client.get("/portal/auth/callback?state=x&code=y")
    assert r.status_code == 400 and "Sign-in state missing" in r.text
    start = await client.get("/portal/auth/login")
    state = parse_qs(urlsplit(start.headers["location"]).query)["state"][0]
    r = await client.get("/portal/auth/callback?state=other&code=y")
    assert r.status_code == 400 and "State mismatch" in r.text
    r = await client.get(f"/portal/auth/callback?state={state}")
    assert r.status_code == 400 and "Missing code" in r.text
    start = await client.get("/portal/auth/login")
    state = parse_qs(urlsplit(start.headers["location"]).query)["state"][0]
    r = await client.get(f"/portal/auth/callback?state={state}&code=bogus")
    assert r.status_code == 502 and "Code exchange failed" in r.text
    client.cookies.set("api_test_pkce", "tampered", path="/portal/auth/")
    r = await client.get(f"/portal/auth/callback?state={state}&code=y")
    assert r.status_code == 400 and "Sign-in state invalid" in r.text


async def test_wrong_audience_id_token_is_refused(client_factory: ClientFactory, tmp_path: Any, issuer: str) -> None:
    client = await oidc_portal(client_factory, tmp_path, issuer)
    portal = client.app.state.portal  # type: ignore[attr-defined]
    portal.settings.oidc.client_id = "apitest-portal"
    start = await client.get("/portal/auth/login")
    back = idp_sign_in(start.headers["location"], "bob")
    portal.settings.oidc.client_id = "someone-else"  # the token's aud no longer names us
    r = await client.get(back.replace("http://testserver", ""))
    assert r.status_code == 401 and "ID token validation failed" in r.text and "wrong audience" in r.text


async def test_sign_in_moves_to_the_configured_loopback_name_first(
    client_factory: ClientFactory, tmp_path: Any, issuer: str
) -> None:
    extra = {
        "oidc": {"enabled": True, "issuer": issuer, "client_id": "apitest-portal", "client_secret": "any-secret"},
        "server": {"base_url": "http://localhost:8080"},
    }
    client = await client_factory(portal_overrides(tmp_path, extra))
    r = await client.get("/portal/auth/login?return=/portal/keys", headers={"Host": "127.0.0.1:8080"})
    assert r.status_code == 303
    assert r.headers["location"] == "http://localhost:8080/portal/auth/login?return=/portal/keys"
    assert "api_test_pkce" not in r.headers.get("set-cookie", "")
    # On the configured host it starts at once.
    r = await client.get("/portal/auth/login", headers={"Host": "localhost:8080"})
    assert r.status_code == 302 and r.headers["location"].startswith(issuer)
    # A callback without the state cookie names both hosts.
    client.cookies.clear()
    r = await client.get("/portal/auth/callback?state=x&code=y", headers={"Host": "127.0.0.1:8080"})
    assert "opened as 127.0.0.1:8080" in r.text and "localhost:8080 (server.base_url)" in r.text
