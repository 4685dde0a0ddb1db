"""Key management is authorised: only the admin scope lists, creates and revokes keys; nobody grants a scope
they do not hold; a database key cannot take the name (identity, rate-limit bucket, orders) of another."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.auth.idp import LocalIdP
from tests.portal.conftest import KEY, csrf_token
from tests.security.conftest import ADMIN_TOKEN, READER_KEY, VIEWER_TOKEN, running, sign_in
from tests.support import LiveServer

pytestmark = pytest.mark.security

ADMIN = {"X-API-Key": KEY}
KEYS = "/api/v1/admin/keys"


def names(client: httpx.Client) -> dict[str, str]:
    return {k["name"]: k["status"] for k in client.get(KEYS, headers=ADMIN).json()["keys"]}


@pytest.mark.parametrize(
    "credential",
    [{"X-API-Key": READER_KEY}, {"Authorization": f"Bearer {VIEWER_TOKEN}"}],
    ids=["read-only file key", "read-only bearer"],
)
def test_a_read_only_credential_manages_nothing(server: LiveServer, credential: dict[str, str]) -> None:
    with httpx.Client(base_url=server.url, timeout=10) as client:
        victim = f"victim-{len(credential)}-{next(iter(credential.values()))[:8]}"
        assert client.post(KEYS, json={"name": victim}, headers=ADMIN).status_code == 201
        minted = client.post(KEYS, json={"name": "mine", "scopes": ["admin", "billing"]}, headers=credential)
        listed = client.get(KEYS, headers=credential)
        revoked = client.delete(f"{KEYS}/{victim}", headers=credential)
        for response in (minted, listed, revoked):
            assert response.status_code == 403
            assert response.json() == {"error": "insufficient_scope", "required_scope": "admin"}
        assert "mine" not in names(client) and names(client)[victim] == "active"


def test_an_admin_cannot_grant_more_than_it_holds(server: LiveServer) -> None:
    with httpx.Client(base_url=server.url, timeout=10) as client:
        ops = {"Authorization": f"Bearer {ADMIN_TOKEN}"}  # scopes: admin only
        r = client.post(KEYS, json={"name": "escalated", "scopes": ["admin", "billing"]}, headers=ops)
        assert (r.status_code, r.json()) == (403, {"error": "cannot grant scopes you do not hold: billing"})
        r = client.post(KEYS, json={"name": "deputy", "scopes": ["admin"]}, headers=ops)
        assert r.status_code == 201
        assert client.get("/v1/whoami", headers={"X-API-Key": r.json()["plaintext"]}).json()["scopes"] == ["admin"]


@pytest.mark.parametrize(
    ("name", "source"), [("tester", "a file key"), ("reader", "a file key"), ("ops", "a bearer token")]
)
def test_a_database_key_cannot_take_another_keys_name(server: LiveServer, name: str, source: str) -> None:
    with httpx.Client(base_url=server.url, timeout=10) as client:
        r = client.post(KEYS, json={"name": name, "scopes": ["read"]}, headers=ADMIN)
        assert (r.status_code, r.json()) == (409, {"error": f'name "{name}" is already used by {source}'})
        assert client.post(KEYS, json={"name": f"db-{name}"}, headers=ADMIN).status_code == 201
        again = client.post(KEYS, json={"name": f"db-{name}"}, headers=ADMIN)
        assert (again.status_code, again.json()["error"]) == (
            409,
            f'name "db-{name}" is already used by a database key',
        )


def test_the_portal_keys_page_refuses_a_read_only_session(server: LiveServer) -> None:
    with httpx.Client(base_url=server.url, timeout=10) as client:
        assert sign_in(client, READER_KEY).status_code == 303
        page = client.get("/portal/keys")
        assert 'id="admin-needed"' in page.text and "scopes: [admin]" in page.text
        token = csrf_token(page.text)
        r = client.post("/portal/keys", data={"csrf_token": token, "name": "portal-mint", "scopes": "admin"})
        assert r.status_code == 403
        r = client.post(KEYS, json={"name": "api-mint", "scopes": ["admin"]}, headers={"X-CSRF-Token": token})
        assert r.status_code == 403
        client.cookies.clear()
        assert not {"portal-mint", "api-mint"} & set(names(client))


@pytest.fixture(scope="module")
def idp() -> Iterator[LocalIdP]:
    provider = LocalIdP().start()
    try:
        yield provider
    finally:
        provider.stop()


@pytest.fixture(scope="module")
def oidc_server(idp: LocalIdP, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    extra = {"oidc": {"enabled": True, "issuer": idp.issuer, "audience": "api-test", "client_id": "portal"}}
    with running(tmp_path_factory.mktemp("oidc"), extra) as live:
        yield live


def test_an_oidc_user_without_admin_mints_nothing(idp: LocalIdP, oidc_server: LiveServer) -> None:
    with httpx.Client(base_url=oidc_server.url, timeout=10) as client:
        user = {"Authorization": f"Bearer {idp.mint(idp.claims(scope='openid read'))}"}
        assert client.get("/v1/whoami", headers=user).json()["auth_type"] == "oidc"
        r = client.post(KEYS, json={"name": "oidc-mint", "scopes": ["admin"]}, headers=user)
        assert (r.status_code, r.json()["error"]) == (403, "insufficient_scope")
        admin = {"Authorization": f"Bearer {idp.mint(idp.claims(scope='openid admin'))}"}
        r = client.post(KEYS, json={"name": "oidc-mint", "scopes": ["admin", "read"]}, headers=admin)
        assert (r.status_code, r.json()["error"]) == (403, "cannot grant scopes you do not hold: read")
        r = client.post(KEYS, json={"name": "oidc-admin-made"}, headers=admin)
        assert r.status_code == 201 and r.json()["key"]["created_by"] == "alice@example.com"


def test_anonymous_portal_may_not_manage_keys(tmp_path: Path) -> None:
    with running(tmp_path, {"portal": {"allow_anonymous": True}}) as live, httpx.Client(base_url=live.url) as client:
        page = client.get("/portal/keys")
        assert "anonymous visitors may look, not manage keys" in page.text
        token = csrf_token(page.text)
        assert client.post("/portal/keys", data={"csrf_token": token, "name": "anon"}).status_code == 403
        assert client.post(KEYS, json={"name": "anon"}, headers={"X-CSRF-Token": token}).status_code == 403
        assert client.get(KEYS, headers={"X-CSRF-Token": token}).status_code == 403
        client.cookies.clear()
        assert "anon" not in names(client)
