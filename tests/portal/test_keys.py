"""The API keys page and the admin keys API with a portal session (CSRF on unsafe methods)."""

from __future__ import annotations

import re
from typing import Any

import httpx

from tests.conftest import ClientFactory
from tests.portal.conftest import BEARER, KEY, csrf_token, portal_overrides, sign_in


async def test_create_shows_the_key_once_and_it_works(signed_in: httpx.AsyncClient) -> None:
    page = await signed_in.get("/portal/keys")
    form = {"csrf_token": csrf_token(page.text), "name": "gateway-a", "scopes": "read, write", "description": "d"}
    r = await signed_in.post("/portal/keys", data=form)
    assert r.status_code == 201
    assert r.headers["cache-control"] == "no-store"
    plaintext = re.search(r'id="plaintext" class="mono" readonly value="(at_[A-Za-z0-9_-]{43})"', r.text)
    assert plaintext, r.text
    assert "Copy it now" in r.text
    who = await signed_in.get("/v1/whoami", headers={"X-API-Key": plaintext.group(1)})
    assert who.json()["subject"] == "gateway-a"
    listing = (await signed_in.get("/portal/keys")).text
    assert plaintext.group(1) not in listing
    assert "gateway-a" in listing and "read write" in listing and plaintext.group(1)[:8] in listing


async def test_revoke(signed_in: httpx.AsyncClient) -> None:
    token = csrf_token((await signed_in.get("/portal/keys")).text)
    created = await signed_in.post("/portal/keys", data={"csrf_token": token, "name": "temp"})
    plaintext = re.search(r'value="(at_[^"]+)"', created.text)
    assert plaintext
    r = await signed_in.post("/portal/keys/temp/revoke", data={"csrf_token": token})
    assert (r.status_code, r.headers["location"]) == (303, "/portal/keys?revoked=temp")
    page = await signed_in.get(r.headers["location"])
    assert "Revoked temp." in page.text and "revoked" in page.text
    assert (await signed_in.get("/v1/whoami", headers={"X-API-Key": plaintext.group(1)})).status_code == 401
    again = await signed_in.post("/portal/keys/temp/revoke", data={"csrf_token": token})
    assert again.status_code == 200 and "api key not found" in again.text


async def test_create_errors_are_shown(signed_in: httpx.AsyncClient) -> None:
    token = csrf_token((await signed_in.get("/portal/keys")).text)
    for form, message in [
        ({"name": " "}, "name required"),
        ({"name": "k", "scopes": 'bad"scope'}, "is not a valid scope"),
        ({"name": "k", "expires_at": "tomorrow"}, "expires_at: not an RFC 3339 time"),
    ]:
        r = await signed_in.post("/portal/keys", data={"csrf_token": token, **form})
        assert r.status_code == 200 and message in r.text, (form, r.text)
    await signed_in.post("/portal/keys", data={"csrf_token": token, "name": "dup"})
    r = await signed_in.post("/portal/keys", data={"csrf_token": token, "name": "dup"})
    assert r.status_code == 200 and "name &#34;dup&#34; is already used by a database key" in r.text
    r = await signed_in.post("/portal/keys", data={"csrf_token": token, "name": "robot"})
    assert r.status_code == 200 and "name &#34;robot&#34; is already used by a bearer token" in r.text
    r = await signed_in.post("/portal/keys", data={"csrf_token": token, "name": "k", "scopes": "read billing"})
    assert r.status_code == 200 and "cannot grant scopes you do not hold: billing" in r.text


async def test_forms_need_the_csrf_token(signed_in: httpx.AsyncClient) -> None:
    assert (await signed_in.post("/portal/keys", data={"name": "x"})).status_code == 403
    assert (await signed_in.post("/portal/keys", data={"name": "x", "csrf_token": "forged"})).status_code == 403
    assert (await signed_in.post("/portal/keys/x/revoke")).status_code == 403


async def test_admin_api_with_a_session(signed_in: httpx.AsyncClient) -> None:
    assert (await signed_in.get("/api/v1/admin/keys")).json() == {"keys": []}
    r = await signed_in.post("/api/v1/admin/keys", json={"name": "via-api"})
    assert r.status_code == 403 and "CSRF" in r.json()["error"]
    token = csrf_token((await signed_in.get("/portal/")).text)
    r = await signed_in.post("/api/v1/admin/keys", json={"name": "via-api"}, headers={"X-CSRF-Token": token})
    assert r.status_code == 201
    assert r.json()["key"]["created_by"] == "tester"
    assert (await signed_in.delete("/api/v1/admin/keys/via-api")).status_code == 403
    assert (await signed_in.delete("/api/v1/admin/keys/via-api", headers={"X-CSRF-Token": token})).status_code == 204


async def test_admin_api_without_session_still_takes_a_key(portal: httpx.AsyncClient) -> None:
    assert (await portal.get("/api/v1/admin/keys")).status_code == 401
    assert (await portal.get("/api/v1/admin/keys", headers={"X-API-Key": KEY})).status_code == 200


async def test_keys_page_when_the_store_is_off(client_factory: ClientFactory, tmp_path: Any) -> None:
    client = await client_factory(portal_overrides(tmp_path, {"api_keys": {"db": {"enabled": False}}}))
    page = await client.get("/portal/login")
    await client.post("/portal/login", data={"api_key": KEY, "csrf_token": csrf_token(page.text)})
    r = await client.get("/portal/keys")
    assert r.status_code == 200 and "Database keys are off" in r.text
    assert "API keys</a>" not in (await client.get("/portal/")).text  # not in the navigation


async def test_without_the_admin_scope_the_page_says_how_to_get_it(portal: httpx.AsyncClient) -> None:
    admin = {"X-API-Key": KEY}
    assert (await portal.post("/api/v1/admin/keys", json={"name": "victim"}, headers=admin)).status_code == 201
    reader = await portal.post("/api/v1/admin/keys", json={"name": "reader", "scopes": ["read"]}, headers=admin)
    assert (await sign_in(portal, reader.json()["plaintext"])).status_code == 303
    r = await portal.get("/portal/keys")
    assert r.status_code == 200 and 'id="admin-needed"' in r.text
    assert "needs the <strong>admin</strong> scope" in r.text and "api_keys.file" in r.text
    assert "victim" not in r.text and 'id="create-key"' not in r.text
    token = csrf_token(r.text)
    created = await portal.post("/portal/keys", data={"csrf_token": token, "name": "mine", "scopes": "admin"})
    assert created.status_code == 403 and "Creating keys needs the admin scope" in created.text
    revoked = await portal.post("/portal/keys/victim/revoke", data={"csrf_token": token})
    assert revoked.status_code == 403
    api = await portal.get("/api/v1/admin/keys")
    assert (api.status_code, api.json()["error"]) == (403, "insufficient_scope")
    portal.cookies.clear()
    listed = (await portal.get("/api/v1/admin/keys", headers=admin)).json()["keys"]
    assert {(k["name"], k["status"]) for k in listed} == {("victim", "active"), ("reader", "active")}
    assert (await portal.get("/api/v1/admin/keys", headers={"Authorization": f"Bearer {BEARER}"})).status_code == 403


async def test_anonymous_portal_users_may_not_manage_keys(client_factory: ClientFactory, tmp_path: Any) -> None:
    client = await client_factory(portal_overrides(tmp_path, {"portal": {"allow_anonymous": True}}))
    assert (await client.post("/api/v1/admin/keys", json={"name": "k"}, headers={"X-API-Key": KEY})).status_code == 201
    r = await client.get("/portal/keys")
    assert r.status_code == 200 and "anonymous visitors may look, not manage keys" in r.text
    assert 'id="admin-sign-in"' in r.text and ">k<" not in r.text
    token = csrf_token(r.text)
    assert (await client.post("/portal/keys", data={"csrf_token": token, "name": "x"})).status_code == 403
    api = await client.post("/api/v1/admin/keys", json={"name": "x"}, headers={"X-CSRF-Token": token})
    assert api.status_code == 403
    assert (await sign_in(client, KEY, "/portal/keys")).headers["location"] == "/portal/keys"
    assert 'id="create-key"' in (await client.get("/portal/keys")).text
