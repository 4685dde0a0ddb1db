from __future__ import annotations

import hashlib
import json
import time
from typing import Any

import httpx
import pytest

from apitest.audit.records import AuditFilters
from apitest.webhooks.signing import signature_headers
from tests.conftest import ClientFactory

SECRET = "whsec_dGVzdHRlc3R0ZXN0dGVzdA=="
BODY = json.dumps({"type": "order.created", "data": {"id": "ord_1", "total": 12.5}}, separators=(",", ":")).encode()
RECEIVE = "/v1/webhooks/receive"


def signed(
    body: bytes = BODY, *, scheme: str = "standard", at: int | None = None, secret: str = SECRET
) -> dict[str, str]:
    return signature_headers(scheme, secret, "msg_test", int(time.time()) if at is None else at, body)


def overrides(db_url: str, **extra: Any) -> dict[str, Any]:
    return {
        "database": {"url": db_url},
        "audit": {"enabled": True},
        "webhooks": {"receiver": {"secrets": ["whsec_b2xkb2xkb2xkb2xkb2xk", SECRET], "tolerance_seconds": 300}},
        **extra,
    }


@pytest.fixture
async def client(client_factory: ClientFactory, sqlite_url: str) -> httpx.AsyncClient:
    return await client_factory(overrides(sqlite_url), groups=["lab"])


async def rows(client: httpx.AsyncClient) -> list[Any]:
    state = client.app.state  # type: ignore[attr-defined]
    assert await state.audit.flush()
    return list((await state.audit_store.list_page(AuditFilters(route_name="webhook_receive"))).events)


@pytest.mark.parametrize("scheme", ["standard", "stripe"])
async def test_a_valid_signature_is_accepted(client: httpx.AsyncClient, scheme: str) -> None:
    r = await client.post(RECEIVE, content=BODY, headers=signed(scheme=scheme))
    assert r.status_code == 204 and r.content == b""
    (row,) = await rows(client)
    assert row.success and row.error_message is None


async def test_a_reformatted_body_is_a_signature_mismatch_with_evidence(client: httpx.AsyncClient) -> None:
    headers = signed()
    pretty = json.dumps(json.loads(BODY), indent=2).encode()  # what a re-serializing gateway forwards
    r = await client.post(RECEIVE, content=pretty, headers=headers)
    assert r.status_code == 401
    body = r.json()
    assert body["error"] == "signature mismatch" and body["scheme"] == "standard"
    assert body["received_bytes"] == len(pretty)
    assert body["received_sha256"] == hashlib.sha256(pretty).hexdigest()
    assert body["body_is_json"] is True and body["json_reserialized_differs"] is True
    assert body["reserialized_sha256"] == hashlib.sha256(BODY).hexdigest()
    assert body["signature_matches_reserialized"] is True
    assert "reformatted the body in transit" in body["detail"]
    (row,) = await rows(client)
    assert row.error_category == "invalid_credential" and row.status == 401
    assert row.error_message.startswith("signature mismatch (standard): the signature matches the compact JSON")
    assert hashlib.sha256(pretty).hexdigest() in row.error_message


async def test_a_wrong_secret_is_a_plain_mismatch(client: httpx.AsyncClient) -> None:
    r = await client.post(RECEIVE, content=BODY, headers=signed(secret="whsec_d3Jvbmd3cm9uZ3dyb25n"))
    body = r.json()
    assert (r.status_code, body["error"]) == (401, "signature mismatch")
    assert body["json_reserialized_differs"] is False and body["signature_matches_reserialized"] is False
    assert "wrong secret" in body["detail"]


async def test_a_non_json_body_says_so(client: httpx.AsyncClient) -> None:
    r = await client.post(RECEIVE, content=b"\xff\x00not json", headers=signed(b"other"))
    body = r.json()
    assert body["error"] == "signature mismatch" and body["body_is_json"] is False
    assert body["json_reserialized_differs"] is None


@pytest.mark.parametrize(
    ("headers", "reason", "category"),
    [
        ({}, "missing header", "missing_credential"),
        ({"webhook-signature": "v1,abc"}, "missing header", "missing_credential"),
        ("old", "timestamp outside tolerance", "invalid_credential"),
    ],
)
async def test_refusals_give_the_exact_reason(
    client: httpx.AsyncClient, headers: Any, reason: str, category: str
) -> None:
    if headers == "old":
        headers = signed(at=int(time.time()) - 3600)
    r = await client.post(RECEIVE, content=BODY, headers=headers)
    assert r.status_code == 401 and r.json()["error"] == reason
    assert "received_sha256" not in r.json()
    (row,) = await rows(client)
    assert row.error_category == category and row.error_message.startswith(reason)


async def test_no_apitest_credential_is_needed_but_a_bad_one_is_refused(
    client_factory: ClientFactory, sqlite_url: str
) -> None:
    settings = overrides(sqlite_url, auth={"allow_anonymous": False}, api_keys={"file": [{"name": "k", "key": "k-1"}]})
    client = await client_factory(settings, groups=["lab"])
    assert (await client.post(RECEIVE, content=BODY, headers=signed())).status_code == 204
    bad = await client.post(RECEIVE, content=BODY, headers={**signed(), "X-API-Key": "wrong"})
    assert bad.status_code == 401 and bad.json()["error"] != "signature mismatch"
    assert (await client.post("/v1/webhooks/send", json={"type": "a.b"})).status_code == 401  # send is not open


async def test_without_secrets_the_receiver_is_unavailable(client_factory: ClientFactory) -> None:
    client = await client_factory(groups=["lab"])
    r = await client.post(RECEIVE, content=BODY, headers=signed())
    assert r.status_code == 503 and "webhooks.receiver.secrets" in r.json()["error"]


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        (b"{", 400, "invalid JSON body"),
        (b"[]", 400, "body must be a JSON object"),
        (b'{"type": "has space"}', 400, "type:"),
        (b'{"type": "a.b", "subscription": 5}', 400, "subscription:"),
        (b'{"type": "a.b"}', 422, "no active subscription takes event type 'a.b'"),
        (b'{"type": "a.b", "subscription": "ghost"}', 422, "no active subscription 'ghost'"),
    ],
)
async def test_send_validates_the_event(
    client_factory: ClientFactory, sqlite_url: str, body: bytes, status: int, message: str
) -> None:
    client = await client_factory(
        overrides(sqlite_url, webhooks={"enabled": True, "allowed_hosts": ["127.0.0.1"]}), groups=["lab"]
    )
    r = await client.post("/v1/webhooks/send", content=body, headers={"Content-Type": "application/json"})
    assert r.status_code == status
    assert message in r.json()["error"]


async def test_a_delivery_cannot_trigger_a_send(client_factory: ClientFactory, sqlite_url: str) -> None:
    client = await client_factory(
        overrides(sqlite_url, webhooks={"enabled": True, "allowed_hosts": ["127.0.0.1"]}), groups=["lab"]
    )
    r = await client.post("/v1/webhooks/send", json={"type": "a.b"}, headers={"User-Agent": "apitest-webhooks/0.1.0"})
    assert r.status_code == 409 and "loop" in r.json()["error"]
