from __future__ import annotations

import httpx
import pytest

from apitest.app import create_app
from apitest.auth.challenge import resource_metadata_url
from tests.auth.idp import LocalIdP
from tests.conftest import ClientFactory
from tests.support import make_settings


async def test_protected_resource_without_oidc(client_factory: ClientFactory) -> None:
    client = await client_factory(
        {
            "server": {"base_url": "https://fixture.example.com/"},
            "api_keys": {"file": [{"name": "k", "key": "s", "scopes": ["write", "read"]}]},
            "bearer": {"tokens": [{"name": "t", "token": "u", "scopes": ["admin"]}]},
        }
    )
    r = await client.get("/.well-known/oauth-protected-resource")
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json"
    assert r.json() == {
        "authorization_servers": [],
        "bearer_methods_supported": ["header"],
        "resource": "https://fixture.example.com/",
        "scopes_supported": ["admin", "read", "write"],
    }
    assert list(r.json()) == sorted(r.json())
    assert (await client.get("/.well-known/oauth-authorization-server")).status_code == 404


async def test_well_known_needs_no_credential_even_when_anonymous_is_off(client_factory: ClientFactory) -> None:
    client = await client_factory(
        {"auth": {"allow_anonymous": False}, "bearer": {"tokens": [{"name": "t", "token": "u"}]}}
    )
    assert (await client.get("/v1/whoami")).status_code == 401
    assert (await client.get("/.well-known/oauth-protected-resource")).status_code == 200


async def test_with_oidc(idp: LocalIdP) -> None:
    app = create_app(make_settings({"oidc": {"enabled": True, "issuer": idp.issuer}}))
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
            resource = (await client.get("/.well-known/oauth-protected-resource")).json()
            assert resource["authorization_servers"] == [idp.issuer]
            server = (await client.get("/.well-known/oauth-authorization-server")).json()
    assert server["issuer"] == idp.issuer
    assert server["openid_configuration_url"] == idp.issuer + "/.well-known/openid-configuration"
    assert idp.issuer in server["note"]


@pytest.mark.parametrize(
    ("base_url", "expected"),
    [
        ("http://localhost:8080", "http://localhost:8080/.well-known/oauth-protected-resource"),
        ("https://gw.example/api-test/", "https://gw.example/api-test/.well-known/oauth-protected-resource"),
    ],
)
def test_resource_metadata_url(base_url: str, expected: str) -> None:
    assert resource_metadata_url(make_settings({"server": {"base_url": base_url}})) == expected
