"""Security schemes, requirements and auth responses follow the configured inbound auth."""

from __future__ import annotations

from typing import Any

import pytest
from openapi_spec_validator import OpenAPIV31SpecValidator, validate

from apitest.openapi import build_openapi
from apitest.registry import INT, STR, RouteSpec, obj, ok
from tests.support import make_settings
from tests.test_openapi import KEYS_AND_BEARER, OIDC, spec

ROUTES = [
    spec("plain", responses={200: ok(obj({}))}),
    spec("admin", scope="admin:read", responses={200: ok(obj({}))}),
    spec("scoped", path="/v1/scoped/{scope}", scope_param="scope", responses={200: ok(obj({}))}),
]
KEY_SCHEMES = ["apiKey", "apiKeyQuery"]


def document(overrides: dict[str, Any], routes: list[RouteSpec] = ROUTES) -> dict[str, Any]:
    data = build_openapi(make_settings(overrides), routes).data
    validate(data, cls=OpenAPIV31SpecValidator)
    return data


def operation(doc: dict[str, Any], path: str) -> dict[str, Any]:
    found: dict[str, Any] = doc["paths"][path]["get"]
    return found


# (config, scheme names, anonymous alternative on unscoped routes, 401 documented)
CASES: dict[str, tuple[dict[str, Any], list[str], bool, bool]] = {
    "anonymous only": ({}, [], True, False),
    "file keys": (
        {"auth": {"allow_anonymous": False}, "api_keys": KEYS_AND_BEARER["api_keys"]},
        KEY_SCHEMES,
        False,
        True,
    ),
    "database keys and anonymous": (
        {"api_keys": {"db": {"enabled": True}}, "database": {"url": "sqlite+aiosqlite:///x.db"}},
        KEY_SCHEMES,
        True,
        True,
    ),
    "keys and bearer": (KEYS_AND_BEARER, [*KEY_SCHEMES, "bearer"], False, True),
    "bearer and anonymous": ({"bearer": KEYS_AND_BEARER["bearer"]}, ["bearer"], True, True),
    "oidc": (OIDC, ["bearer", "oidc"], False, True),
    "everything": (
        {"oidc": OIDC["oidc"], "api_keys": KEYS_AND_BEARER["api_keys"], "bearer": KEYS_AND_BEARER["bearer"]},
        [*KEY_SCHEMES, "bearer", "oidc"],
        True,
        True,
    ),
}


@pytest.mark.parametrize("name", CASES)
def test_schemes_requirements_and_401_follow_the_config(name: str) -> None:
    overrides, schemes, anonymous, rejects = CASES[name]
    doc = document(overrides)
    assert list(doc["components"].get("securitySchemes", {})) == schemes
    plain = operation(doc, "/v1/plain")
    assert plain["security"] == [{s: []} for s in schemes] + ([{}] if anonymous else [])
    assert ("401" in plain["responses"]) is rejects
    admin = operation(doc, "/v1/admin")
    # A scope is never anonymous; with no scheme at all nothing can be presented.
    assert admin["security"] == ([{s: ["admin:read"]} for s in schemes] or [{}])
    assert operation(doc, "/v1/scoped/{scope}")["security"] == ([{s: []} for s in schemes] or [{}])
    for path in ("/v1/admin", "/v1/scoped/{scope}"):
        responses = operation(doc, path)["responses"]
        assert "missing credential" in responses["401"]["description"], path  # anonymous callers hold no scope
        assert ("invalid credential" in responses["401"]["description"]) is bool(schemes)
        assert ("403" in responses) is bool(schemes), path  # 403 needs a valid credential


def test_api_key_schemes_use_the_configured_names() -> None:
    keys = {**KEYS_AND_BEARER["api_keys"], "header_name": "X-Gw-Key", "query_param_name": "gw_key"}
    schemes = document({**KEYS_AND_BEARER, "api_keys": keys})["components"]["securitySchemes"]
    assert [(s["type"], s["in"], s["name"]) for s in (schemes["apiKey"], schemes["apiKeyQuery"])] == [
        ("apiKey", "header", "X-Gw-Key"),
        ("apiKey", "query", "gw_key"),
    ]


def test_bearer_is_a_jwt_only_with_oidc() -> None:
    static = document(KEYS_AND_BEARER)["components"]["securitySchemes"]["bearer"]
    assert (static["type"], static["scheme"]) == ("http", "bearer")
    assert "bearerFormat" not in static
    with_oidc = document(OIDC)["components"]["securitySchemes"]["bearer"]
    assert with_oidc["bearerFormat"] == "JWT"


@pytest.mark.parametrize(
    "issuer", ["https://idp.example.test/realms/api-test", "https://idp.example.test/realms/api-test/"]
)
def test_oidc_scheme_points_at_the_issuer_discovery_document(issuer: str) -> None:
    doc = document({"auth": {"allow_anonymous": False}, "oidc": {"enabled": True, "issuer": issuer}})
    assert doc["components"]["securitySchemes"]["oidc"]["type"] == "openIdConnect"
    assert (
        doc["components"]["securitySchemes"]["oidc"]["openIdConnectUrl"]
        == "https://idp.example.test/realms/api-test/.well-known/openid-configuration"
    )


def test_401_documents_the_challenge_header_and_error_body() -> None:
    doc = document(KEYS_AND_BEARER | {"server": {"base_url": "https://fixture.test"}})
    unauthorized = operation(doc, "/v1/plain")["responses"]["401"]
    challenge = unauthorized["headers"]["WWW-Authenticate"]["description"]
    assert 'Bearer realm="api-test"' in challenge
    assert 'resource_metadata="https://fixture.test/.well-known/oauth-protected-resource"' in challenge
    assert 'error="invalid_token"' in challenge
    assert "missing credential" in unauthorized["description"]
    assert unauthorized["content"] == {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}


def test_401_with_anonymous_allowed_is_only_for_invalid_credentials() -> None:
    unauthorized = operation(document({"bearer": KEYS_AND_BEARER["bearer"]}), "/v1/plain")["responses"]["401"]
    assert "missing credential" not in unauthorized["description"]
    assert "invalid credential" in unauthorized["description"]


@pytest.mark.parametrize(("path", "scope_text"), [("/v1/admin", "`admin:read`"), ("/v1/scoped/{scope}", "`scope`")])
def test_403_insufficient_scope_only_on_scoped_routes(path: str, scope_text: str) -> None:
    doc = document(KEYS_AND_BEARER)
    forbidden = operation(doc, path)["responses"]["403"]
    assert scope_text in forbidden["description"]
    assert 'error="insufficient_scope"' in forbidden["headers"]["WWW-Authenticate"]["description"]
    ref = forbidden["content"]["application/json"]["schema"]["$ref"]
    assert doc["components"]["schemas"][ref.rsplit("/", 1)[1]]["required"] == ["error", "required_scope"]
    assert "403" not in operation(doc, "/v1/plain")["responses"]


def test_a_status_the_route_answers_itself_and_auth_also_gives_documents_both() -> None:
    own = obj({"status": INT, "message": STR})
    teapot = spec("echo_status", responses={200: ok(own), 401: ok(own, "Echoed 401."), 429: ok(own, "Echoed 429.")})
    doc = document(KEYS_AND_BEARER | {"rate_limit": {"groups": {"identity": 5}}}, [teapot])
    responses = operation(doc, "/v1/echo_status")["responses"]
    for code, generated in (("401", "#/components/schemas/Error"), ("429", "#/components/schemas/RateLimited")):
        assert responses[code]["content"]["application/json"]["schema"] == {"anyOf": [own, {"$ref": generated}]}
        assert responses[code]["description"].startswith(f"Echoed {code}. Or: ")
    assert "WWW-Authenticate" in responses["401"]["headers"]
    assert "Retry-After" in responses["429"]["headers"]
