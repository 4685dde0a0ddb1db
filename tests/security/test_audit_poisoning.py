"""One poisoned request must not stop the audit log: a real server, OIDC on, on SQLite and PostgreSQL.

The attacks of issue #11: a JWT-shaped bearer with no valid credential whose header ``alg`` is a lone
surrogate (``{"alg":"X\\ud800"}``), and tokens an identity provider really signed whose ``sub`` or ``email``
holds NUL or a lone surrogate. Each is followed by clean requests; every row must be written and readable.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
import pytest

from tests.auth.idp import AUDIENCE, CLIENT, LocalIdP
from tests.security.conftest import ServerFactory, audit_rows, log_records

pytestmark = pytest.mark.security
KEY = "sec-poison-key-0123456789"
CLEAN = 1000


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def oidc_profile(idp: LocalIdP, url: str) -> dict[str, Any]:
    return {
        "database_url": url,
        "key": KEY,
        "extra": {
            "oidc": {"enabled": True, "issuer": idp.issuer, "audience": AUDIENCE, "allowed_clients": [CLIENT]},
            "audit": {"flush_interval_ms": 50},
        },
    }


def signed_with(idp: LocalIdP, raw_claims: str) -> str:
    """A token the IdP really signed, whose claims JSON holds escapes json.dumps would never write."""
    good = json.dumps(idp.claims(sub=None, email=None))[1:-1]
    return idp.sign_raw(("{" + good + ", " + raw_claims + "}").encode())


def test_a_lone_surrogate_alg_then_a_thousand_clean_requests_leave_every_row(
    apitest_server: ServerFactory, idp: LocalIdP, backend_url: str
) -> None:
    server = apitest_server("poison", **oidc_profile(idp, backend_url))
    poison = b64(b'{"alg":"X\\ud800"}') + "." + b64(b"{}") + ".c2ln"
    with httpx.Client(base_url=server.url, timeout=10) as client:
        r = client.get("/v1/whoami", headers={"Authorization": f"Bearer {poison}"})
        assert r.status_code == 401
        for _ in range(CLEAN):
            assert client.get("/v1/whoami", headers={"X-API-Key": KEY}).status_code == 200
    assert server.stop() == 0
    rows = audit_rows(backend_url)
    assert len(rows) == CLEAN + 1
    [rejected] = [r for r in rows if r.status == 401]
    assert rejected.error_message == "unsupported algorithm (alg 'X\\ud800' is not in oidc.algorithms)"
    stopped = [r for r in log_records(server) if r.get("msg") == "audit writer stopped"][-1]
    assert (stopped["written_total"], stopped["dropped_total"], stopped["scrubbed_total"]) == (CLEAN + 1, 0, 0)


POISONED_CLAIMS = {
    "sub with NUL": ('"sub": "alice\\u0000admin", "email": "a@x"', "alice\\x00admin"),
    "sub with a lone surrogate": ('"sub": "\\ud800bob", "email": "b@x"', "\\ud800bob"),
    "email with NUL and a surrogate": ('"sub": "carol", "email": "c\\u0000\\udfff@x"', "carol"),
}


@pytest.mark.parametrize(("claims", "stored_subject"), POISONED_CLAIMS.values(), ids=POISONED_CLAIMS.keys())
def test_idp_signed_unstorable_identities_are_stored_escaped(
    apitest_server: ServerFactory, idp: LocalIdP, backend_url: str, claims: str, stored_subject: str
) -> None:
    server = apitest_server("signed", **oidc_profile(idp, backend_url))
    token = signed_with(idp, claims)
    with httpx.Client(base_url=server.url, timeout=10) as client:
        r = client.get("/v1/whoami", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 200, r.text
        assert r.json()["subject"] == stored_subject
        for _ in range(50):
            assert client.get("/v1/echo", headers={"X-API-Key": KEY}).status_code == 200
    assert server.stop() == 0
    rows = audit_rows(backend_url, with_payloads=True)
    assert len(rows) == 51
    [oidc] = [r for r in rows if r.auth_type == "oidc"]
    assert oidc.user_subject == stored_subject
    assert oidc.payload is not None and oidc.payload.response_body is not None
    json.loads(oidc.payload.response_body)  # the whoami body (claims included) was valid UTF-8 JSON
