"""PortalAuth: session cookie, credential headers, anonymous mode, sign-in and sign-out, CSRF."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.conftest import ClientFactory
from tests.portal.conftest import BEARER, KEY, csrf_token, portal_overrides, sign_in


async def test_pages_redirect_to_sign_in_with_a_return_path(portal: httpx.AsyncClient) -> None:
    r = await portal.get("/portal/audit?status=5xx")
    assert r.status_code == 303
    assert r.headers["location"] == "/portal/login?return=%2Fportal%2Faudit%3Fstatus%3D5xx"


async def test_json_routes_answer_401_with_the_portal_realm(portal: httpx.AsyncClient) -> None:
    r = await portal.get("/api/v1/portal/me")
    assert r.status_code == 401
    assert r.json() == {"error": "unauthorized"}
    assert r.headers["www-authenticate"] == 'Bearer realm="api-test-portal"'


@pytest.mark.parametrize(
    ("headers", "status", "subject"),
    [
        ({"X-API-Key": KEY}, 200, "tester"),
        ({"Authorization": f"Bearer {BEARER}"}, 200, "robot"),
        ({"X-API-Key": "wrong"}, 401, None),
        ({"Authorization": "Bearer wrong"}, 401, None),
        ({"Authorization": "Basic dXNlcjpwYXNz"}, 401, None),
    ],
)
async def test_scripts_use_credential_headers(
    portal: httpx.AsyncClient, headers: dict[str, str], status: int, subject: str | None
) -> None:
    r = await portal.get("/api/v1/portal/me", headers=headers)
    assert r.status_code == status
    if subject:
        assert r.json()["subject"] == subject
        assert "set-cookie" not in r.headers  # a script gets no session


async def test_query_string_keys_are_not_read(portal: httpx.AsyncClient) -> None:
    assert (await portal.get(f"/api/v1/portal/me?api_key={KEY}")).status_code == 401


async def test_api_key_sign_in_sets_a_session_and_returns(portal: httpx.AsyncClient) -> None:
    r = await sign_in(portal, return_to="/portal/audit?method=GET")
    assert r.status_code == 303
    assert r.headers["location"] == "/portal/audit?method=GET"
    cookie = r.headers["set-cookie"]
    assert "api_test_session=" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie
    assert KEY not in cookie
    me = (await portal.get("/api/v1/portal/me")).json()
    assert me == {
        "subject": "tester",
        "name": "tester",
        "auth_type": "apikey",
        "scopes": ["read", "write", "admin"],
        "api_key_id": "tester",
    }


@pytest.mark.parametrize(
    "target", ["https://evil.example/", "//evil.example", "/\\evil.example", "javascript:alert(1)"]
)
async def test_sign_in_never_redirects_off_site(portal: httpx.AsyncClient, target: str) -> None:
    r = await sign_in(portal, return_to=target)
    assert r.headers["location"] == "/portal/"


async def test_rejected_key_shows_a_clear_message(portal: httpx.AsyncClient) -> None:
    r = await sign_in(portal, key="not-a-key")
    assert r.status_code == 200
    assert "API key was not accepted" in r.text
    assert "api_test_session" not in r.headers.get("set-cookie", "")


async def test_sign_in_form_needs_its_token(portal: httpx.AsyncClient) -> None:
    await portal.get("/portal/login")
    r = await portal.post("/portal/login", data={"api_key": KEY, "csrf_token": "forged"})
    assert r.status_code == 403
    assert "api_test_session" not in r.headers.get("set-cookie", "")


async def test_session_wins_over_a_header(signed_in: httpx.AsyncClient) -> None:
    r = await signed_in.get("/api/v1/portal/me", headers={"X-API-Key": "wrong"})
    assert r.status_code == 200 and r.json()["subject"] == "tester"


async def test_expired_session_says_so(portal: httpx.AsyncClient) -> None:
    await sign_in(portal)
    sessions = portal.app.state.portal.sessions  # type: ignore[attr-defined]
    sessions.ttl = -1  # every session is now older than the lifetime
    r = await portal.get("/portal/")
    assert r.status_code == 303
    assert r.headers["location"].endswith("&reason=expired")
    assert 'api_test_session=""' in r.headers["set-cookie"]
    page = await portal.get(r.headers["location"])
    assert "Your session has expired" in page.text


async def test_logout_is_a_csrf_protected_post(signed_in: httpx.AsyncClient) -> None:
    assert (await signed_in.post("/portal/logout")).status_code == 403
    assert (await signed_in.get("/portal/logout")).status_code == 405
    token = csrf_token((await signed_in.get("/portal/")).text)
    r = await signed_in.post("/portal/logout", data={"csrf_token": token})
    assert r.status_code == 303
    assert r.headers["location"] == "/portal/login?reason=signed_out"
    assert (await signed_in.get("/api/v1/portal/me")).status_code == 401


async def test_state_changing_json_with_a_cookie_needs_the_csrf_header(signed_in: httpx.AsyncClient) -> None:
    r = await signed_in.post("/api/v1/portal/tryit/identity/whoami", json={})
    assert r.status_code == 403
    assert "CSRF" in r.json()["error"]
    token = csrf_token((await signed_in.get("/portal/")).text)
    r = await signed_in.post("/api/v1/portal/tryit/identity/whoami", json={}, headers={"X-CSRF-Token": token})
    assert r.status_code == 200


async def test_state_changing_json_with_a_key_needs_no_token(portal: httpx.AsyncClient) -> None:
    r = await portal.post("/api/v1/portal/tryit/identity/whoami", json={}, headers={"X-API-Key": KEY})
    assert r.status_code == 200


async def anonymous_portal(client_factory: ClientFactory, tmp_path: Any) -> httpx.AsyncClient:
    return await client_factory(portal_overrides(tmp_path, {"portal": {"allow_anonymous": True}}))


async def test_anonymous_portal_opens_pages_and_gives_a_csrf_session(
    client_factory: ClientFactory, tmp_path: Any
) -> None:
    client = await anonymous_portal(client_factory, tmp_path)
    r = await client.get("/portal/")
    assert r.status_code == 200
    assert "api_test_session=" in r.headers["set-cookie"]
    assert (await client.get("/api/v1/portal/me")).json() == {"subject": "", "auth_type": "anonymous"}
    token = csrf_token(r.text)
    ok = await client.post("/api/v1/portal/tryit/identity/whoami", json={}, headers={"X-CSRF-Token": token})
    assert ok.status_code == 200


async def test_anonymous_portal_refuses_cookieless_state_changes(client_factory: ClientFactory, tmp_path: Any) -> None:
    client = await anonymous_portal(client_factory, tmp_path)
    r = await client.post("/api/v1/portal/tryit/identity/whoami", json={})
    assert r.status_code == 403


async def test_anonymous_portal_still_refuses_a_bad_key(client_factory: ClientFactory, tmp_path: Any) -> None:
    client = await anonymous_portal(client_factory, tmp_path)
    assert (await client.get("/api/v1/portal/me", headers={"X-API-Key": "bad"})).status_code == 401


def _request(method: str, path: str, referer: str = "", host: str = "testserver") -> Any:
    from starlette.requests import Request as StarletteRequest

    headers = [(b"host", host.encode())] + ([(b"referer", referer.encode())] if referer else [])
    scope = {
        "type": "http",
        "method": method,
        "path": path,
        "query_string": b"",
        "headers": headers,
        "scheme": "http",
        "server": ("testserver", 80),
        "root_path": "",
    }
    return StarletteRequest(scope)


def test_a_form_returns_to_the_page_it_was_on_not_to_its_post_route() -> None:
    from apitest.portal.auth import return_target

    assert return_target(_request("GET", "/portal/audit")) == "/portal/audit"
    page = "http://testserver/portal/audit/0b8f?x=1"
    assert return_target(_request("POST", "/portal/audit/0b8f/replay", page)) == "/portal/audit/0b8f?x=1"
    # Without a usable Referer (another origin, the login page, none): the page that holds the form.
    assert return_target(_request("POST", "/portal/audit/0b8f/replay", "http://evil/portal/x")) == "/portal/audit/0b8f"
    assert return_target(_request("POST", "/portal/endpoints/status/try")) == "/portal/endpoints/status"
    assert return_target(_request("POST", "/portal/keys/k1/revoke")) == "/portal/keys"
    assert return_target(_request("POST", "/portal/logout", "http://testserver/portal/login?x")) == "/portal/"
