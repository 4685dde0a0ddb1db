"""No 500 from untrusted input, against a real server (OIDC on, portal on, SQLite and PostgreSQL).

Every attack of issue #11's "no 500" list: a deeply nested JWT header, duplicate keys in a token's JSON,
``exp``/``nbf`` of 1e20, -1e20, NaN and 1e400, an 8 KB ``[[[[`` body to the admin API and to Try-It, a NUL in
an audit filter, U+0085/U+2028/U+2029 in a path (which must not split a JSON log line), and the client-id
claim precedence (``azp``, else ``client_id``, else ``appid``).
"""

from __future__ import annotations

import base64
import json

import httpx
import pytest

from tests.auth.idp import AUDIENCE, CLIENT, LocalIdP
from tests.security.conftest import ServerFactory

pytestmark = pytest.mark.security
KEY = "sec-parse-key-0123456789"
NESTED = b"[" * 8192


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def signed(idp: LocalIdP, raw_claims: str, **drop: None) -> str:
    good = json.dumps(idp.claims(exp=None, **drop))[1:-1]
    return idp.sign_raw(("{" + good + ", " + raw_claims + "}").encode())


@pytest.fixture
def server_url(apitest_server: ServerFactory, idp: LocalIdP, backend_url: str) -> str:
    server = apitest_server(
        "parse",
        database_url=backend_url,
        extra={
            "api_keys": {"file": [{"name": "admin", "key": KEY, "scopes": ["admin"]}], "db": {"enabled": True}},
            "oidc": {"enabled": True, "issuer": idp.issuer, "audience": AUDIENCE, "allowed_clients": [CLIENT]},
            "portal": {"enabled": True, "cookie_secret": "parse-cookie-secret-0123456789"},
            "audit": {"flush_interval_ms": 50},
        },
    )
    return server.url


def hostile_tokens(idp: LocalIdP) -> dict[str, str]:
    kid = idp.rsa.kid
    claims = json.dumps(idp.claims()).encode()
    return {
        "deeply nested header": b64(b'{"alg":"RS256","x":' + b"[" * 4000 + b"]" * 4000 + b"}") + ".e30.c2ln",
        "nested header under the size cap": b64(b'{"alg":"RS256","x":' + b"[" * 1500 + b"]" * 1500 + b"}")
        + ".e30.c2ln",
        "duplicate alg": idp.sign_raw(claims, header=b'{"alg":"RS256","alg":"none","kid":"' + kid.encode() + b'"}'),
        "duplicate sub": signed(idp, '"exp": 4102444800, "sub": "a", "sub": "b"', sub=None),
        "exp 1e20": signed(idp, '"exp": 1e20'),
        "exp -1e20": signed(idp, '"exp": -1e20'),
        "exp NaN": signed(idp, '"exp": NaN'),
        "exp 1e400": signed(idp, '"exp": 1e400'),
        "nbf 1e20": signed(idp, '"exp": 4102444800, "nbf": 1e20'),
        "nbf NaN": signed(idp, '"exp": 4102444800, "nbf": NaN'),
        "nested claims": signed(idp, '"exp": 4102444800, "x": ' + "[" * 1500 + "]" * 1500),
        "azp decides": idp.mint(idp.claims(azp="rogue", appid=CLIENT)),
        "client_id decides": idp.mint(idp.claims(azp=None, client_id="rogue", appid=CLIENT)),
    }


def test_hostile_tokens_are_401_with_a_reason(server_url: str, idp: LocalIdP) -> None:
    with httpx.Client(base_url=server_url, timeout=10) as client:
        assert client.get("/v1/whoami", headers={"Authorization": f"Bearer {idp.mint()}"}).status_code == 200
        for name, token in hostile_tokens(idp).items():
            r = client.get("/v1/whoami", headers={"Authorization": f"Bearer {token}"})
            assert r.status_code == 401, (name, r.status_code, r.text)
            assert 'error="invalid_token"' in r.headers["www-authenticate"], name
            assert "error_description=" in r.headers["www-authenticate"], name


def test_hostile_json_bodies_are_400(server_url: str) -> None:
    auth = {"X-API-Key": KEY, "Content-Type": "application/json"}
    with httpx.Client(base_url=server_url, timeout=10) as client:
        for body in (NESTED, b'{"name":' * 1000, b'{"name": NaN}', b'{"name": 1e400}'):
            r = client.post("/api/v1/admin/keys", headers=auth, content=body)
            assert r.status_code == 400, (body[:20], r.status_code, r.text)
            assert r.json()["error"]
            r = client.post("/api/v1/portal/tryit/echo/echo_post", headers=auth, content=body)
            assert r.status_code == 400, (body[:20], r.status_code, r.text)
            assert r.json()["error"] == "invalid JSON body"
        r = client.post("/v1/echo", headers=auth, content=NESTED)
        assert r.status_code == 200 and r.json()["body_size"] == len(NESTED)


def test_unstorable_audit_filters_are_400(server_url: str) -> None:
    with httpx.Client(base_url=server_url, timeout=10) as client:
        for query in ("q=a%00b", "path=%00", "caller=x%00", "request_id=%00", "user=%00"):
            r = client.get(f"/api/v1/portal/audit/events?{query}", headers={"X-API-Key": KEY})
            assert r.status_code == 400, (query, r.text)
            assert "NUL" in r.json()["error"]
        r = client.get("/portal/audit?q=%00", headers={"X-API-Key": KEY})
        assert r.status_code < 500


def test_line_separators_in_a_path_do_not_split_a_log_line(
    apitest_server: ServerFactory, tmp_path: object, backend_url: str
) -> None:
    server = apitest_server("logs", database_url=backend_url, anonymous=True)
    with httpx.Client(base_url=server.url, timeout=10) as client:
        for separator in ("%C2%85", "%E2%80%A8", "%E2%80%A9"):
            forged = separator + '{"level":"error","msg":"forged"}'.replace('"', "%22")
            assert client.get(f"/v1/echo{forged}").status_code == 404
            assert client.get(f"/v1/echo?x={forged}").status_code == 200
    assert server.stop() == 0
    text = server.log_path.read_text(encoding="utf-8")
    lines = text.split("\n")
    assert "\\u2028" in text and "\\u0085" in text and "\\u2029" in text  # logged, escaped
    assert len(text.splitlines()) == len([line for line in lines if line])  # no U+0085/U+2028/U+2029 inside
    for line in lines:
        if line.startswith("{"):
            assert json.loads(line).get("msg") != "forged"
