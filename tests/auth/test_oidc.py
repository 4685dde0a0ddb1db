from __future__ import annotations

import json
import threading
import time
import warnings
from collections.abc import AsyncIterator, Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import werkzeug.serving

from apitest.app import create_app
from apitest.auth.credentials import Presented
from apitest.auth.oidc import (
    MAX_TOKEN_BYTES,
    OIDCAuthenticator,
    OIDCStartupError,
    OIDCValidator,
    TokenError,
    identity_from,
    scopes_from,
)
from apitest.config.model import OIDCSettings
from apitest.identity import Identity
from tests.auth.idp import AUDIENCE, CLIENT, LocalIdP, b64, unsigned
from tests.support import free_port, make_settings

with warnings.catch_warnings():
    import authlib.deprecate  # noqa: F401  (importing it installs an "always" filter for its warnings)

    warnings.simplefilter("ignore", DeprecationWarning)  # then silence the deprecations the mock's imports raise
    import oidc_provider_mock


def oidc_settings(issuer: str, **overrides: Any) -> OIDCSettings:
    values: dict[str, Any] = {
        "enabled": True,
        "issuer": issuer,
        "audience": AUDIENCE,
        "allowed_clients": [CLIENT, "other-client"],
        "clock_skew_seconds": 30,
    }
    values.update(overrides)
    return OIDCSettings(**values)


@pytest.fixture
async def validator(idp: LocalIdP) -> AsyncIterator[OIDCValidator]:
    v = OIDCValidator(oidc_settings(idp.issuer), httpx.AsyncClient(timeout=5))
    await v.start()
    yield v
    await v.close()


async def test_valid_tokens_rs256_rs384_rs512_es256(idp: LocalIdP, validator: OIDCValidator) -> None:
    for alg in ("RS256", "RS384", "RS512", "ES256"):
        claims = await validator.validate(idp.mint(idp.claims(sub=alg), alg=alg))
        assert claims["sub"] == alg


def now() -> int:
    return int(time.time())


CLAIM_CASES: list[tuple[str, dict[str, Any], str | None]] = [
    ("wrong issuer", {"iss": "https://evil.example"}, "wrong issuer"),
    ("issuer with extra slash", {"iss": "{issuer}/"}, "wrong issuer"),
    ("missing exp", {"exp": None}, "missing exp"),
    ("exp not a number", {"exp": "tomorrow"}, "malformed token"),
    ("expired beyond skew", {"exp": -31}, "expired token"),
    ("expired within skew", {"exp": -20}, None),
    ("nbf in the future", {"nbf": 60}, "not yet valid"),
    ("nbf within skew", {"nbf": 20}, None),
    ("wrong audience", {"aud": "someone-else"}, "wrong audience"),
    ("audience in a list", {"aud": ["x", AUDIENCE]}, None),
    ("audience list without it", {"aud": ["x", "y"]}, "wrong audience"),
    ("no audience", {"aud": None}, "wrong audience"),
    ("client not allowed", {"azp": "rogue"}, "client not allowed"),
    ("no client claim", {"azp": None}, "client not allowed"),
    ("client_id claim", {"azp": None, "client_id": "other-client"}, None),
    ("appid claim", {"azp": None, "appid": CLIENT}, None),
    ("azp decides over appid", {"azp": "rogue", "appid": CLIENT}, "client not allowed"),
    ("azp decides over client_id", {"azp": "rogue", "client_id": CLIENT}, "client not allowed"),
    ("client_id decides over appid", {"azp": None, "client_id": "rogue", "appid": CLIENT}, "client not allowed"),
    ("iat is not checked", {"iat": 10**10}, None),
]


@pytest.mark.parametrize(("case", "changes", "error"), CLAIM_CASES, ids=[c[0] for c in CLAIM_CASES])
async def test_claim_checks(
    idp: LocalIdP, validator: OIDCValidator, case: str, changes: dict[str, Any], error: str | None
) -> None:
    resolved: dict[str, Any] = {}
    for name, value in changes.items():
        if isinstance(value, str) and "{issuer}" in value:
            value = value.format(issuer=idp.issuer)
        elif name in ("exp", "nbf") and isinstance(value, int):
            value = now() + value
        resolved[name] = value
    token = idp.mint(idp.claims(**resolved))
    if error is None:
        await validator.validate(token)
        return
    with pytest.raises(TokenError) as raised:
        await validator.validate(token)
    assert raised.value.description == error


async def test_audience_override_for_id_tokens(idp: LocalIdP, validator: OIDCValidator) -> None:
    token = idp.mint(idp.claims(aud="api-test-portal"))
    with pytest.raises(TokenError, match="wrong audience"):
        await validator.validate(token)
    assert (await validator.validate(token, audience="api-test-portal"))["aud"] == "api-test-portal"


async def test_no_audience_or_clients_configured(idp: LocalIdP) -> None:
    v = OIDCValidator(oidc_settings(idp.issuer, audience="", allowed_clients=[]), httpx.AsyncClient())
    await v.start()
    try:
        await v.validate(idp.mint(idp.claims(aud="anything", azp=None)))
    finally:
        await v.close()


@pytest.mark.parametrize(
    ("token", "error"),
    [
        (lambda idp: unsigned({"alg": "none", "kid": "rsa-1"}, idp.claims()), "unsupported algorithm"),
        (lambda idp: unsigned({"alg": "NONE", "kid": "rsa-1"}, idp.claims()), "unsupported algorithm"),
        (lambda idp: unsigned({"alg": "HS256", "kid": "rsa-1"}, idp.claims(), "c2ln"), "unsupported algorithm"),
        (lambda idp: unsigned({"alg": "PS256", "kid": "rsa-1"}, idp.claims(), "c2ln"), "unsupported algorithm"),
        (lambda idp: "x" * (MAX_TOKEN_BYTES + 1), "token too large"),
        (lambda idp: "not-a-jwt", "malformed token"),
        (lambda idp: idp.mint(alg="RS256", key=idp.rsa, header={"kid": "ec-1"}), "bad signature"),
        (lambda idp: idp.mint(header={"kid": "nobody"}), "unknown signing key"),
    ],
)
async def test_header_level_refusals(idp: LocalIdP, validator: OIDCValidator, token: Any, error: str) -> None:
    with pytest.raises(TokenError) as raised:
        await validator.validate(token(idp))
    assert raised.value.description == error


async def test_algorithms_setting_narrows_but_never_widens(idp: LocalIdP) -> None:
    settings = oidc_settings(idp.issuer, algorithms=["RS256", "HS256", "none"])
    v = OIDCValidator(settings, httpx.AsyncClient())
    assert v.algorithms == ["RS256"]
    await v.start()
    try:
        with pytest.raises(TokenError, match="'ES256' is not in oidc.algorithms"):
            await v.validate(idp.mint(alg="ES256"))
    finally:
        await v.close()


async def test_skip_signature_verification_still_checks_claims(idp: LocalIdP) -> None:
    v = OIDCValidator(oidc_settings(idp.issuer, skip_signature_verification=True), httpx.AsyncClient())
    await v.start()
    try:
        forged = unsigned({"alg": "RS256", "kid": "x"}, idp.claims(sub="mallory"), "AAAA")
        assert (await v.validate(forged))["sub"] == "mallory"
        with pytest.raises(TokenError, match="expired token"):
            await v.validate(unsigned({"alg": "RS256"}, idp.claims(exp=1), "AAAA"))
        with pytest.raises(TokenError, match="unsupported algorithm"):
            await v.validate(unsigned({"alg": "none"}, idp.claims()))
        with pytest.raises(TokenError, match="malformed token"):
            await v.validate("eyJhbGciOiJSUzI1NiJ9.@@@.AAAA")
    finally:
        await v.close()


@pytest.mark.parametrize(
    ("claims", "scopes"),
    [
        ({"scope": "openid read  write"}, ("openid", "read", "write")),
        ({"scp": ["read", "admin"]}, ("read", "admin")),
        ({"scope": "read", "scp": ["read", "x"]}, ("read", "x")),
        ({"scope": 5}, ()),
        ({"roles": ["a"]}, ()),
    ],
)
def test_scopes_from(claims: dict[str, Any], scopes: tuple[str, ...]) -> None:
    assert scopes_from(claims, "scope") == scopes


def test_scopes_from_custom_claim() -> None:
    assert scopes_from({"permissions": ["p1"], "scope": "ignored"}, "permissions") == ("p1",)


@pytest.mark.parametrize(
    ("claims", "subject"),
    [
        ({"sub": "s", "preferred_username": "u"}, "s"),
        ({"preferred_username": "u"}, "u"),
        ({"sub": ""}, "oidc-subject-missing"),
        ({}, "oidc-subject-missing"),
    ],
)
def test_identity_subject_fallbacks(claims: dict[str, Any], subject: str) -> None:
    identity = identity_from(claims, "scope")
    assert (identity.subject, identity.key_name, identity.auth_type) == (subject, subject, "oidc")
    assert identity.claims == claims


async def test_authenticator_routes_only_jwt_shaped_tokens(idp: LocalIdP, validator: OIDCValidator) -> None:
    auth = OIDCAuthenticator(validator, "scope")
    assert await auth.authenticate(Presented()) is None
    assert await auth.authenticate(Presented(bearer="abc123")) is None
    identity = await auth.authenticate(Presented(bearer=idp.mint()))
    assert isinstance(identity, Identity)
    assert (identity.subject, identity.email, identity.scopes) == ("alice", "alice@example.com", ("openid", "read"))
    invalid = await auth.authenticate(Presented(bearer=idp.mint(idp.claims(iss="https://evil"))))
    assert invalid is not None and not isinstance(invalid, Identity) and invalid.description == "wrong issuer"


async def test_startup_fails_naming_the_issuer() -> None:
    issuer = f"http://127.0.0.1:{free_port()}/realms/gone"
    v = OIDCValidator(oidc_settings(issuer), httpx.AsyncClient(timeout=2))
    with pytest.raises(OIDCStartupError, match=f"oidc: cannot use issuer {issuer}: GET {issuer}/.well-known"):
        await v.start()
    await v.close()


async def test_startup_needs_a_jwks_uri() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"issuer": "https://idp.test"})

    v = OIDCValidator(oidc_settings("https://idp.test"), httpx.AsyncClient(transport=httpx.MockTransport(handler)))
    with pytest.raises(OIDCStartupError, match="no http\\(s\\) jwks_uri"):
        await v.start()
    await v.close()


async def test_discovery_issuer_mismatch_is_logged(idp: LocalIdP, caplog: pytest.LogCaptureFixture) -> None:
    v = OIDCValidator(oidc_settings(idp.issuer + "/"), httpx.AsyncClient())
    await v.start()
    await v.close()
    assert any("names another issuer" in r.getMessage() for r in caplog.records)


# A real third-party provider: oidc-provider-mock (Authlib), authorization code flow on 127.0.0.1.


@pytest.fixture
def mock_provider() -> Iterator[str]:
    server = werkzeug.serving.make_server("127.0.0.1", 0, oidc_provider_mock.app(), threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(5)


def id_token_from(provider: str, subject: str, client_id: str) -> str:
    redirect = "http://127.0.0.1/callback"
    with httpx.Client(base_url=provider, timeout=5) as http:
        authorize = http.post(
            "/oauth2/authorize",
            params={"client_id": client_id, "redirect_uri": redirect, "response_type": "code", "scope": "openid email"},
            data={"sub": subject},
        )
        code = parse_qs(urlsplit(authorize.headers["location"]).query)["code"][0]
        token = http.post(
            "/oauth2/token",
            data={"grant_type": "authorization_code", "code": code, "redirect_uri": redirect},
            auth=(client_id, "secret"),
        )
    token.raise_for_status()
    return str(token.json()["id_token"])


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # raised inside the provider's Authlib calls
async def test_tokens_from_oidc_provider_mock(mock_provider: str) -> None:
    settings = oidc_settings(mock_provider, audience="portal-client", allowed_clients=[])
    v = OIDCValidator(settings, httpx.AsyncClient(timeout=5))
    await v.start()
    try:
        token = id_token_from(mock_provider, "bob@example.com", "portal-client")
        claims = await v.validate(token)
        assert (claims["sub"], claims["iss"], claims["aud"]) == ("bob@example.com", mock_provider, ["portal-client"])
        with pytest.raises(TokenError, match="wrong audience"):
            await v.validate(id_token_from(mock_provider, "eve@example.com", "another-client"))
    finally:
        await v.close()


async def test_app_refuses_to_start_when_the_issuer_is_unreachable(caplog: pytest.LogCaptureFixture) -> None:
    issuer = f"http://127.0.0.1:{free_port()}/realms/gone"
    app = create_app(make_settings({"oidc": {"enabled": True, "issuer": issuer}}))
    with pytest.raises(OIDCStartupError, match=f"cannot use issuer {issuer}"):
        async with app.router.lifespan_context(app):
            pass
    assert any(r.getMessage().startswith(f"oidc: cannot use issuer {issuer}") for r in caplog.records)


async def test_app_serves_oidc_tokens_on_v1(idp: LocalIdP) -> None:
    app = create_app(make_settings({"auth": {"allow_anonymous": False}, **{"oidc": oidc_settings_dict(idp)}}))
    async with app.router.lifespan_context(app):
        assert app.state.oidc is not None
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
            r = await client.get("/v1/whoami", headers={"Authorization": f"Bearer {idp.mint()}"})
    assert r.json()["auth_type"] == "oidc"
    assert app.state.oidc.client.is_closed  # closed by the lifespan


def oidc_settings_dict(idp: LocalIdP) -> dict[str, Any]:
    return {"enabled": True, "issuer": idp.issuer, "audience": AUDIENCE, "allowed_clients": [CLIENT]}


# Hostile tokens: a 401 with a reason, never a 500 -----------------------------------------------------------


def _payload(idp: LocalIdP, raw_claims: str, **drop: None) -> bytes:
    """Claims JSON spliced by hand (to hold what json.dumps cannot write), with a valid iss/aud/azp."""
    good = json.dumps(idp.claims(exp=None, **drop))[1:-1]
    return ("{" + good + ", " + raw_claims + "}").encode()


@pytest.mark.parametrize(
    ("raw", "detail"),
    [
        ('"exp": 1e20', "exp is outside 1970..9999"),
        ('"exp": -1e20', "exp is outside 1970..9999"),
        ('"exp": NaN', "NaN is not valid JSON"),
        ('"exp": 1e400', "number out of range"),
        ('"exp": 253402300800', "exp is outside 1970..9999"),
        ('"exp": 4102444800, "nbf": 1e20', "nbf is outside 1970..9999"),
        ('"exp": 4102444800, "nbf": -Infinity', "-Infinity is not valid JSON"),
        ('"exp": 4102444800, "sub": "a", "sub": "b"', "duplicate key"),
        ('"exp": 4102444800, "x": ' + "[" * 100 + "]" * 100, "nested deeper"),
        ('"exp": 4102444800, "x": ' + "[" * 1500 + "]" * 1500, "nested deeper"),
    ],
)
async def test_hostile_numeric_and_structural_claims_are_malformed(
    idp: LocalIdP, validator: OIDCValidator, raw: str, detail: str
) -> None:
    token = idp.sign_raw(_payload(idp, raw))
    with pytest.raises(TokenError) as raised:
        await validator.validate(token)
    assert raised.value.description == "malformed token"
    assert detail in raised.value.detail


@pytest.mark.parametrize(
    "header",
    [
        b'{"alg":"RS256","alg":"none","kid":"rsa-1"}',
        b'{"alg":"RS256","kid":"rsa-1","x":' + b"[" * 1500 + b"]" * 1500 + b"}",
        b'{"alg":"RS256","kid":"rsa-1","x":1e400}',
    ],
    ids=["duplicate alg", "deeply nested", "overflowing number"],
)
async def test_hostile_headers_are_malformed_and_still_jwt_shaped(
    idp: LocalIdP, validator: OIDCValidator, header: bytes
) -> None:
    token = idp.sign_raw(json.dumps(idp.claims()).encode(), header=header)
    with pytest.raises(TokenError) as raised:
        await validator.validate(token)
    assert raised.value.description == "malformed token"
    result = await OIDCAuthenticator(validator, "scope").authenticate(Presented(bearer=token))
    assert result is not None and not isinstance(result, Identity)


async def test_an_unstorable_alg_is_quoted_in_the_reason(validator: OIDCValidator) -> None:
    token = b64(b'{"alg":"X\\ud800\\u0000"}') + ".e30.c2ln"
    with pytest.raises(TokenError) as raised:
        await validator.validate(token)
    assert raised.value.detail == "alg 'X\\ud800\\x00' is not in oidc.algorithms"
    raised.value.detail.encode("utf-8")  # storable as is


async def test_unstorable_identity_claims_become_visible_escapes(idp: LocalIdP, validator: OIDCValidator) -> None:
    raw = '"exp": 4102444800, "sub": "a\\u0000b", "email": "e\\ud800@x", "k": ["\\udfff"]'
    token = idp.sign_raw(_payload(idp, raw, sub=None, email=None))
    claims = await validator.validate(token)
    identity = identity_from(claims, "scope")
    assert (identity.subject, identity.email) == ("a\\x00b", "e\\ud800@x")
    assert identity.claims["k"] == ["\\udfff"]
    json.dumps(identity.whoami(), ensure_ascii=False).encode("utf-8")
