"""The auth stage in process: scope enforcement, the pre-set identity bypass, and what it leaves in
``scope["state"]`` for the audit."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from apitest.app import v1_routes
from apitest.auth.chain import build_chain
from apitest.auth.middleware import AuthMiddleware
from apitest.http import json_response
from apitest.identity import Identity
from apitest.outcome import identity_of, outcome_of
from apitest.pipeline import HandlerApp
from apitest.registry import RouteSpec
from tests.support import make_settings

RESOURCE = 'resource_metadata="http://localhost:8080/.well-known/oauth-protected-resource"'


async def whoami(request: Request) -> Response:
    return json_response(identity_of(request).whoami())


SPECS = [
    RouteSpec("open", "GET", "/v1/open", "test", "No scope.", whoami),
    RouteSpec("static", "GET", "/v1/static", "test", "Needs write.", whoami, scope="write"),
    RouteSpec(
        "param", "GET", "/v1/scoped/{scope}", "test", "Needs the scope in the path.", whoami, scope_param="scope"
    ),
]


class Recorder:
    """Wraps the stage like the audit will: injects a pre-set identity, keeps the final state."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.preset: Identity | None = None
        self.states: list[dict[str, Any]] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.preset is not None:
            outcome_of(scope).preset_identity = self.preset
        await self.app(scope, receive, send)
        self.states.append({**scope.get("state", {}), **outcome_of(scope).as_state()})

    @property
    def last(self) -> dict[str, Any]:
        return self.states[-1]


def settings_for(anonymous: bool, header_name: str = "X-API-Key") -> Any:
    return make_settings(
        {
            "auth": {"allow_anonymous": anonymous},
            "api_keys": {
                "header_name": header_name,
                "file": [
                    {"name": "reader", "key": "reader-secret", "scopes": ["read"]},
                    {"name": "writer", "key": "writer-secret", "scopes": ["read", "write"]},
                ],
            },
            "bearer": {"tokens": [{"name": "tok", "token": "tok-secret"}]},
        },
        groups=[],
    )


async def client_for(settings: Any) -> tuple[httpx.AsyncClient, Recorder]:
    recorder = Recorder(AuthMiddleware(HandlerApp(), settings=settings, chain=build_chain(settings)))
    app = Starlette(routes=v1_routes(SPECS, recorder))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver"), recorder


@pytest.fixture
async def strict() -> AsyncIterator[tuple[httpx.AsyncClient, Recorder]]:
    client, recorder = await client_for(settings_for(anonymous=False))
    async with client:
        yield client, recorder


@pytest.fixture
async def open_() -> AsyncIterator[tuple[httpx.AsyncClient, Recorder]]:
    client, recorder = await client_for(settings_for(anonymous=True))
    async with client:
        yield client, recorder


@pytest.mark.parametrize(
    ("path", "key", "status"),
    [
        ("/v1/open", "reader-secret", 200),
        ("/v1/static", "reader-secret", 403),
        ("/v1/static", "writer-secret", 200),
        ("/v1/scoped/read", "reader-secret", 200),
        ("/v1/scoped/write", "reader-secret", 403),
        ("/v1/scoped/admin", "writer-secret", 403),
    ],
)
async def test_scopes(strict: tuple[httpx.AsyncClient, Recorder], path: str, key: str, status: int) -> None:
    client, recorder = strict
    response = await client.get(path, headers={"X-API-Key": key})
    assert response.status_code == status
    if status == 403:
        needed = "write" if path == "/v1/static" else path.rsplit("/", 1)[1]
        assert response.json() == {"error": "insufficient_scope", "required_scope": needed}
        assert response.headers["www-authenticate"] == (
            f'Bearer realm="api-test", error="insufficient_scope", scope="{needed}"'
        )
        assert recorder.last["error_category"] == "insufficient_scope"
        assert f"lacks scope {needed!r}" in recorder.last["error_message"]
    assert isinstance(recorder.last["identity"], Identity)  # set on 403 too: the audit names who lacked it


async def test_scope_from_a_path_that_is_not_a_scope_token(strict: tuple[httpx.AsyncClient, Recorder]) -> None:
    client, _ = strict
    response = await client.get('/v1/scoped/a"b', headers={"X-API-Key": "writer-secret"})
    assert response.status_code == 403
    assert response.headers["www-authenticate"] == 'Bearer realm="api-test", error="insufficient_scope"'
    assert response.json()["required_scope"] == 'a"b'


async def test_anonymous_on_a_scoped_route_is_asked_for_a_credential(open_: tuple[httpx.AsyncClient, Recorder]) -> None:
    client, recorder = open_
    assert (await client.get("/v1/open")).json() == {"subject": "", "auth_type": "anonymous"}
    response = await client.get("/v1/scoped/read")
    assert response.status_code == 401
    assert response.json() == {"error": "missing credential"}
    assert response.headers["www-authenticate"] == f'Bearer realm="api-test", scope="read", {RESOURCE}'
    assert recorder.last["error_category"] == "missing_credential"
    assert "anonymous has no scopes" in recorder.last["error_message"]


@pytest.mark.parametrize(
    ("headers", "category", "reason"),
    [
        ({}, "missing_credential", "no credential presented"),
        ({"Authorization": "Basic dTpw"}, "missing_credential", "(Authorization scheme 'Basic' ignored)"),
        ({"X-API-Key": "guess-123"}, "invalid_credential", "unknown key (the api key in the X-API-Key header"),
        ({"Authorization": "Bearer guess-456"}, "invalid_credential", "unknown token (the bearer token matches no"),
    ],
)
async def test_failures_are_noted_for_the_audit_without_the_credential(
    strict: tuple[httpx.AsyncClient, Recorder], headers: dict[str, str], category: str, reason: str
) -> None:
    client, recorder = strict
    response = await client.get("/v1/open", headers=headers)
    assert response.status_code == 401
    assert recorder.last["error_category"] == category
    assert reason in recorder.last["error_message"]
    assert "guess" not in recorder.last["error_message"]
    assert "identity" not in recorder.last


async def test_success_sets_the_identity_and_no_failure(strict: tuple[httpx.AsyncClient, Recorder]) -> None:
    client, recorder = strict
    response = await client.get("/v1/open", headers={"Authorization": "Bearer tok-secret"})
    assert response.json() == {"subject": "tok", "auth_type": "bearer", "key_name": "tok"}
    assert recorder.last["identity"] == Identity(subject="tok", auth_type="bearer", key_name="tok")
    assert "error_category" not in recorder.last


PORTAL_USER = Identity(subject="op", auth_type="oidc", key_name="op", email="op@example.com", scopes=("write",))


async def test_preset_identity_is_used_without_a_wire_credential(strict: tuple[httpx.AsyncClient, Recorder]) -> None:
    client, recorder = strict
    recorder.preset = PORTAL_USER
    assert (await client.get("/v1/static")).json()["subject"] == "op"  # its scopes apply too
    assert (await client.get("/v1/scoped/admin")).status_code == 403
    with_key = await client.get("/v1/open", headers={"X-API-Key": "reader-secret"})
    assert with_key.json()["subject"] == "reader"  # a wire credential wins
    assert (await client.get("/v1/open", params={"api_key": "bad"})).status_code == 401
    assert (await client.get("/v1/open", headers={"Authorization": "Bearer bad"})).status_code == 401
    basic = await client.get("/v1/open", headers={"Authorization": "Basic dTpw"})
    assert basic.json()["subject"] == "op"  # an ignored Authorization scheme is no wire credential


async def test_preset_bypass_checks_the_configured_header_name() -> None:
    client, recorder = await client_for(settings_for(anonymous=False, header_name="X-Gateway-Key"))
    recorder.preset = PORTAL_USER
    async with client:
        assert (await client.get("/v1/open", headers={"X-API-Key": "x"})).json()["subject"] == "op"
        response = await client.get("/v1/open", headers={"X-Gateway-Key": "reader-secret"})
        assert response.json()["subject"] == "reader"
        assert (await client.get("/v1/open", headers={"X-Gateway-Key": "bad"})).status_code == 401
