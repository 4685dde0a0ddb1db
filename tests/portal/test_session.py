from __future__ import annotations

import secrets
import time

import pytest
from starlette.responses import Response

from apitest.identity import Identity
from apitest.portal.session import PortalIdentity, Session, SessionCodec
from tests.support import make_settings


def codec(secret: str = "s" * 32, ttl: str = "12h", secure: bool = False) -> SessionCodec:
    return SessionCodec(
        make_settings(
            {"portal": {"enabled": True, "cookie_secret": secret, "session_ttl": ttl, "cookie_secure": secure}}
        )
    )


def test_round_trip_keeps_identity_and_csrf_token() -> None:
    c = codec()
    identity = PortalIdentity(subject="devkey", auth_type="apikey", api_key_id="devkey", scopes=("read",))
    original = Session(identity, "tok")
    status, session = c.decode(c.encode(original))
    assert status == "valid"
    assert session == original
    assert original.sid and original.sid != Session(identity, "tok").sid


@pytest.mark.parametrize(
    ("value", "expected"),
    [("", "none"), ("garbage", "invalid"), ("eyJpZCI6e319.AAAA.BBBB", "invalid")],
)
def test_bad_values_are_no_session(value: str, expected: str) -> None:
    assert codec().decode(value) == (expected, None)


def test_a_cookie_without_a_session_id_is_invalid() -> None:
    c = codec()
    value = c.serializer.dumps({"id": {"subject": "x", "auth_type": "apikey"}, "csrf": "t", "iat": time.time()})
    assert c.decode(str(value)) == ("invalid", None)


def test_other_secret_is_invalid() -> None:
    value = codec("a" * 32).encode(Session(PortalIdentity("x", "apikey"), "t"))
    assert codec("b" * 32).decode(value) == ("invalid", None)


def test_tampered_payload_is_invalid() -> None:
    c = codec()
    value = c.encode(Session(PortalIdentity("x", "apikey"), "t"))
    head, _, rest = value.partition(".")
    assert c.decode(head[:-2] + "AA." + rest)[0] == "invalid"


def test_expired_session_is_reported_as_expired(monkeypatch: pytest.MonkeyPatch) -> None:
    c = codec(ttl="1s")
    value = c.encode(Session(PortalIdentity("x", "apikey"), "t"))
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() + 5)
    assert c.decode(value) == ("expired", None)


def test_cookie_attributes() -> None:
    response = Response()
    codec(ttl="12h", secure=True).issue(response, Session(PortalIdentity("x", "apikey"), "t"))
    header = response.headers["set-cookie"]
    assert header.startswith("api_test_session=")
    for attribute in ("HttpOnly", "Max-Age=43200", "Path=/", "SameSite=lax", "Secure"):
        assert attribute in header


def test_cookie_never_holds_a_key() -> None:
    identity = PortalIdentity.from_identity(Identity(subject="devkey", auth_type="apikey", key_name="devkey"))
    value = codec().encode(Session(identity, "t"))
    assert "devkey-please-change" not in value
    assert identity.api_key_id == "devkey"


@pytest.mark.parametrize(
    ("identity", "api_key_id"),
    [
        (Identity(subject="devkey", auth_type="apikey", key_name="devkey"), "devkey"),
        (Identity(subject="robot", auth_type="bearer", key_name="robot"), "robot"),
        (
            Identity(subject="alice", auth_type="oidc", key_name="alice", email="a@example.com"),
            "alice",
        ),  # as the original
        (Identity(subject="", auth_type="anonymous"), ""),
    ],
)
def test_api_key_id_names_the_credential(identity: Identity, api_key_id: str) -> None:
    assert PortalIdentity.from_identity(identity).api_key_id == api_key_id


def test_large_oidc_claims_are_trimmed_to_fit_a_cookie() -> None:
    noise = {f"group{i}": secrets.token_hex(40) for i in range(80)}  # random: the serializer compresses
    claims = {"sub": "u1", "email": "u@example.com", "iss": "https://idp", **noise}
    identity = PortalIdentity("u1", "oidc", email="u@example.com", claims=claims)
    c = codec()
    value = c.encode(Session(identity, "t"))
    assert len(value) < 3800
    _, session = c.decode(value)
    assert session is not None
    assert session.identity.claims == {"sub": "u1", "email": "u@example.com", "iss": "https://idp"}


def test_me_omits_empty_fields() -> None:
    assert PortalIdentity("devkey", "apikey", api_key_id="devkey").me() == {
        "subject": "devkey",
        "auth_type": "apikey",
        "api_key_id": "devkey",
    }
