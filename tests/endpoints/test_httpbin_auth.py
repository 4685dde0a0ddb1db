from __future__ import annotations

import base64
import hashlib
import time
from typing import Any

import httpx
import pytest

from apitest.auth.middleware import credential_optional
from apitest.endpoints import ROUTES_BY_GROUP, httpbin_auth
from apitest.endpoints.httpbin_auth import DIGEST_REALM, digest_params, make_nonce, opaque_of
from apitest.registry import ROUTE_KEY
from tests.conftest import ClientFactory

KEYS: dict[str, Any] = {
    "auth": {"allow_anonymous": False},
    "api_keys": {"file": [{"name": "devkey", "key": "dev-key-0123456789"}]},
}
API_KEY = {"X-API-Key": "dev-key-0123456789"}
NOBODY = {"authenticated": False, "authorized": False, "user": ""}

ALL_ROUTES = [r for routes in ROUTES_BY_GROUP.values() for r in routes]


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


@pytest.mark.parametrize(
    ("headers", "status", "body"),
    [
        (basic("ann", "s3cret"), 200, {"authenticated": True, "authorized": True, "user": "ann"}),
        (basic("ann", "wrong"), 401, {"authenticated": False, "authorized": False, "user": "ann"}),
        (basic("bob", "s3cret"), 401, {"authenticated": False, "authorized": False, "user": "bob"}),
        ({"Authorization": "Basic !!!"}, 401, NOBODY),
        ({"Authorization": b"Basic \xff\xfe"}, 401, NOBODY),
        (
            {"Authorization": "Basic " + base64.b64encode(b"\xff:x").decode()},
            401,
            NOBODY,
        ),
        ({}, 401, NOBODY),
    ],
)
async def test_basic_auth(
    client: httpx.AsyncClient, headers: dict[str, str], status: int, body: dict[str, Any]
) -> None:
    r = await client.get("/v1/basic-auth/ann/s3cret", headers=headers)
    assert (r.status_code, r.json()) == (status, body)
    if status == 401:
        assert r.headers["www-authenticate"] == 'Basic realm="Fake Realm"'


@pytest.mark.parametrize(("headers", "status"), [(basic("ann", "s3cret"), 200), (basic("ann", "x"), 404), ({}, 404)])
async def test_hidden_basic_auth(client: httpx.AsyncClient, headers: dict[str, str], status: int) -> None:
    r = await client.get("/v1/hidden-basic-auth/ann/s3cret", headers=headers)
    assert r.status_code == status
    assert "www-authenticate" not in r.headers


async def test_the_challenge_routes_need_no_apitest_credential_when_anonymous_is_off(
    client_factory: ClientFactory,
) -> None:
    client = await client_factory(KEYS, groups=["httpbin", "identity"])
    alone = await client.get("/v1/basic-auth/ann/pw", headers=basic("ann", "pw"))
    assert (alone.status_code, alone.json()["user"]) == (200, "ann")
    keyed = await client.get("/v1/basic-auth/ann/pw", headers=basic("ann", "pw") | API_KEY)
    assert (keyed.status_code, keyed.json()["user"]) == (200, "ann")
    bad = await client.get("/v1/basic-auth/ann/pw", headers=basic("ann", "pw") | {"X-API-Key": "wrong"})
    assert bad.status_code == 401  # a presented bad credential is still refused
    elsewhere = await client.get("/v1/whoami", headers=basic("ann", "pw"))
    assert elsewhere.status_code == 401 and elsewhere.headers["www-authenticate"].startswith("Bearer ")


async def test_with_anonymous_allowed_basic_is_no_credential_anywhere(client: httpx.AsyncClient) -> None:
    assert (await client.get("/v1/basic-auth/ann/pw", headers=basic("ann", "pw"))).status_code == 200
    # Elsewhere a Basic header is no credential either (as in the original): anonymous.
    anonymous = await client.get("/v1/whoami", headers=basic("ann", "pw"))
    assert anonymous.json()["auth_type"] == "anonymous"


def test_only_the_challenge_routes_read_authorization_themselves() -> None:
    owners = sorted(r.name for r in ALL_ROUTES if r.own_authorization)
    assert owners == [
        "httpbin_basic_auth",
        "httpbin_digest_auth",
        "httpbin_digest_auth_algorithm",
        "httpbin_hidden_basic_auth",
    ]


def test_the_challenge_routes_need_no_apitest_credential() -> None:
    route = next(r for r in ALL_ROUTES if r.name == "httpbin_basic_auth")
    assert credential_optional({ROUTE_KEY: route, "state": {}})
    whoami = next(r for r in ALL_ROUTES if r.name == "whoami")
    assert not credential_optional({ROUTE_KEY: whoami, "state": {}})


# --- Digest -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("suffix", "algorithm"),
    [("", "MD5"), ("/MD5", "MD5"), ("/md5", "MD5"), ("/SHA-256", "SHA-256"), ("/sha-256", "SHA-256")],
)
async def test_digest_round_trip_with_httpx(client: httpx.AsyncClient, suffix: str, algorithm: str) -> None:
    path = "/v1/digest-auth/auth/ann/pw" + suffix
    challenge = await client.get(path)
    assert challenge.status_code == 401
    header = challenge.headers["www-authenticate"]
    params = digest_params(header)
    assert params is not None
    assert (params["realm"], params["qop"], params["algorithm"]) == (DIGEST_REALM, "auth", algorithm)
    r = await client.get(path, auth=httpx.DigestAuth("ann", "pw"))
    assert (r.status_code, r.json()) == (200, {"authenticated": True, "authorized": True, "user": "ann"})
    assert (await client.get(path, auth=httpx.DigestAuth("ann", "nope"))).status_code == 401
    assert (await client.get(path, auth=httpx.DigestAuth("bob", "pw"))).status_code == 401


def authorization(path: str, *, nonce: str, opaque: str, user: str = "ann", password: str = "pw", **extra: str) -> str:
    fields = {"username": user, "realm": DIGEST_REALM, "nonce": nonce, "uri": path, "qop": "auth", "nc": "00000001"}
    fields |= {"cnonce": "c0ffee", "opaque": opaque} | extra
    ha1 = hashlib.md5(f"{user}:{fields['realm']}:{password}".encode()).hexdigest()
    ha2 = hashlib.md5(f"GET:{fields['uri']}".encode()).hexdigest()
    digest = f"{ha1}:{nonce}:{fields['nc']}:{fields['cnonce']}:{fields['qop']}:{ha2}"
    fields.setdefault("response", hashlib.md5(digest.encode()).hexdigest())
    return "Digest " + ", ".join(f'{k}="{v}"' for k, v in fields.items())


@pytest.mark.parametrize(
    ("age", "extra", "status", "stale"),
    [
        (0, {}, 200, False),
        (299, {}, 200, False),
        (400, {}, 401, True),  # right answer, expired nonce
        (400, {"response": "0" * 32}, 401, False),  # wrong answer: not stale
        (0, {"uri": "/v1/other"}, 401, False),
        (0, {"realm": "other"}, 401, False),
        (0, {"opaque": "0" * 32}, 401, False),
        (0, {"qop": "auth-int"}, 401, False),
        (0, {"algorithm": "SHA-256"}, 401, False),
    ],
)
async def test_digest_nonce_and_field_checks(
    client: httpx.AsyncClient, age: int, extra: dict[str, str], status: int, stale: bool
) -> None:
    path = "/v1/digest-auth/auth/ann/pw"
    key = httpbin_auth._PROCESS_KEY  # no portal.cookie_secret in this app
    nonce = make_nonce(key, int(time.time()) - age)
    header = authorization(path, nonce=nonce, **({"opaque": opaque_of(key, nonce)} | extra))
    r = await client.get(path, headers={"Authorization": header})
    assert r.status_code == status
    if status == 401:
        assert ("stale=true" in r.headers["www-authenticate"]) is stale


async def test_a_forged_nonce_is_refused(client: httpx.AsyncClient) -> None:
    path = "/v1/digest-auth/auth/ann/pw"
    nonce = make_nonce(b"not the server key", int(time.time()))
    header = authorization(path, nonce=nonce, opaque=opaque_of(b"not the server key", nonce))
    assert (await client.get(path, headers={"Authorization": header})).status_code == 401


async def test_stale_after_parameter(client: httpx.AsyncClient) -> None:
    path = "/v1/digest-auth/auth/ann/pw?stale_after=10"
    key = httpbin_auth._PROCESS_KEY
    nonce = make_nonce(key, int(time.time()) - 60)
    r = await client.get(
        path, headers={"Authorization": authorization(path, nonce=nonce, opaque=opaque_of(key, nonce))}
    )
    assert r.status_code == 401
    assert "stale=true" in r.headers["www-authenticate"]


async def test_nonces_survive_a_restart_when_the_cookie_secret_is_set(client_factory: ClientFactory) -> None:
    settings = {"portal": {"cookie_secret": "s" * 32}}
    first = await client_factory(settings, groups=["httpbin"])
    second = await client_factory(settings, groups=["httpbin"])
    params = digest_params((await first.get("/v1/digest-auth/auth/ann/pw")).headers["www-authenticate"])
    assert params is not None
    path = "/v1/digest-auth/auth/ann/pw"
    header = authorization(path, nonce=params["nonce"], opaque=params["opaque"])
    assert (await second.get(path, headers={"Authorization": header})).status_code == 200


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/v1/digest-auth/auth-int/ann/pw", "invalid QOP directive"),
        ("/v1/digest-auth/auth/ann/pw/SHA-512", "invalid algorithm"),
        ("/v1/digest-auth/auth/ann/pw?stale_after=-1", "stale_after"),
    ],
)
async def test_digest_bad_parameters(client: httpx.AsyncClient, path: str, message: str) -> None:
    r = await client.get(path)
    assert r.status_code == 400
    assert message in r.json()["error"]


@pytest.mark.parametrize(
    "header",
    [
        "Digest",
        "Digest ,,,",
        'Digest username="a\\"b", realm=',
        "Basic abc",
        "Digest " + "x=y," * 1000,
        'Digest a="unterminated',
    ],
)
async def test_malformed_digest_headers_get_a_challenge(client: httpx.AsyncClient, header: str) -> None:
    r = await client.get("/v1/digest-auth/auth/ann/pw", headers={"Authorization": header})
    assert r.status_code == 401
    assert r.headers["www-authenticate"].startswith("Digest ")
