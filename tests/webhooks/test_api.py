from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.conftest import ClientFactory
from tests.webhooks.support import receiver

ADMIN = {"X-API-Key": "admin-secret"}
READER = {"X-API-Key": "reader-secret"}
BASE = "/api/v1/admin/webhooks"


def overrides(db_url: str, **webhooks: Any) -> dict[str, Any]:
    return {
        "api_keys": {
            "file": [
                {"name": "admin", "key": "admin-secret", "scopes": ["admin"]},
                {"name": "reader", "key": "reader-secret", "scopes": ["read"]},
            ]
        },
        "database": {"url": db_url},
        "webhooks": {
            "enabled": True,
            "allowed_hosts": ["127.0.0.1"],
            "poll_interval": "50ms",
            "backoff_base": "0s",
            "jitter": 0,
            "max_attempts": 2,
            **webhooks,
        },
    }


@pytest.fixture
async def client(client_factory: ClientFactory, sqlite_url: str) -> httpx.AsyncClient:
    return await client_factory(overrides(sqlite_url), groups=["lab"])


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", BASE), ("POST", BASE), ("GET", f"{BASE}/deliveries"), ("POST", f"{BASE}/deliveries/x/redeliver")],
)
async def test_admin_scope_is_required(client: httpx.AsyncClient, method: str, path: str) -> None:
    assert (await client.request(method, path)).status_code == 401
    assert (await client.request(method, path, headers={"X-API-Key": "wrong"})).status_code == 401
    refused = await client.request(method, path, headers=READER)
    assert refused.status_code == 403
    assert refused.json() == {"error": "insufficient_scope", "required_scope": "admin"}
    assert 'scope="admin"' in refused.headers["www-authenticate"]


async def test_create_shows_the_secret_once_then_list_get_patch_delete(client: httpx.AsyncClient) -> None:
    created = await client.post(
        BASE, json={"name": "orders", "url": "http://127.0.0.1:9/hook", "filter": "status=5xx"}, headers=ADMIN
    )
    assert created.status_code == 201 and created.headers["cache-control"] == "no-store"
    body = created.json()
    assert body["secret"].startswith("whsec_")
    sub = body["subscription"]
    assert (sub["name"], sub["filter"], sub["event_types"], sub["scheme"], sub["active"], sub["created_by"]) == (
        "orders",
        "status=5xx",
        ["*"],
        "standard",
        True,
        "admin",
    )
    listed = (await client.get(BASE, headers=ADMIN)).text
    assert body["secret"] not in listed and "orders" in listed
    one = await client.get(f"{BASE}/orders", headers=ADMIN)
    assert one.json()["subscription"]["id"] == sub["id"] and body["secret"] not in one.text
    patched = await client.patch(f"{BASE}/{sub['id']}", json={"active": False, "scheme": "stripe"}, headers=ADMIN)
    assert patched.status_code == 200 and patched.json()["subscription"]["scheme"] == "stripe"
    assert (await client.patch(f"{BASE}/orders", json={"secret": "x" * 20}, headers=ADMIN)).status_code == 400
    assert (await client.delete(f"{BASE}/orders", headers=ADMIN)).status_code == 204
    assert (await client.get(f"{BASE}/orders", headers=ADMIN)).status_code == 404


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"url": "http://127.0.0.1:9/h"}, "name required"),
        ({"name": "x", "url": "http://evil.test/h"}, "not in webhooks.allowed_hosts"),
        ({"name": "x", "url": "http://u:p@127.0.0.1/h"}, "user name or password"),
        ({"name": "x", "url": "http://127.0.0.1/h", "filter": "status=abc"}, "filter: status"),
        ({"name": "x", "url": "http://127.0.0.1/h", "scheme": "hmac"}, "scheme: one of"),
        ({"name": "x", "url": "http://127.0.0.1/h", "secret": "short"}, "secret:"),
        ({"name": "x\x00y", "url": "http://127.0.0.1/h"}, "control characters"),
        ({"name": "x", "url": "http://127.0.0.1/h", "event_types": ["bad type"]}, "event_types"),
        ({"name": "x", "url": "http://127.0.0.1/h", "colour": "red"}, "unknown field 'colour'"),
        ([], "body must be a JSON object"),
    ],
)
async def test_invalid_subscriptions_are_refused(client: httpx.AsyncClient, body: Any, message: str) -> None:
    r = await client.post(BASE, json=body, headers=ADMIN)
    assert r.status_code == 400
    assert message in r.json()["error"]


async def test_duplicate_names_are_refused(client: httpx.AsyncClient) -> None:
    body = {"name": "dup", "url": "http://127.0.0.1:9/h"}
    assert (await client.post(BASE, json=body, headers=ADMIN)).status_code == 201
    r = await client.post(BASE, json=body, headers=ADMIN)
    assert r.status_code == 400 and "exists" in r.json()["error"]


async def test_config_subscriptions_are_read_only_here(client_factory: ClientFactory, sqlite_url: str) -> None:
    sub = {"name": "from-file", "url": "http://127.0.0.1:9/h", "secret": "file-secret-0123456789"}
    client = await client_factory(overrides(sqlite_url, subscriptions=[sub]), groups=["lab"])
    listed = (await client.get(BASE, headers=ADMIN)).json()["subscriptions"]
    assert [(s["name"], s["source"]) for s in listed] == [("from-file", "config")]
    r = await client.delete(f"{BASE}/from-file", headers=ADMIN)
    assert r.status_code == 409 and "configuration file" in r.json()["error"]


async def test_send_log_and_redeliver_through_the_api(client: httpx.AsyncClient) -> None:
    import asyncio

    with receiver(500) as (url, script):
        secret = "whsec_" + "A" * 43 + "="
        r = await client.post(BASE, json={"name": "r", "url": url, "secret": secret}, headers=ADMIN)
        assert r.status_code == 201 and r.json()["secret"] == secret
        sent = await client.post("/v1/webhooks/send", json={"type": "order.created", "data": {"n": 1}})
        assert sent.status_code == 202
        (delivery_id,) = sent.json()["deliveries"]

        async def state() -> dict[str, Any]:
            r = await client.get(f"{BASE}/deliveries/{delivery_id}", headers=ADMIN)
            return dict(r.json()["delivery"])

        for _ in range(400):
            if (await state())["state"] == "dead":
                break
            await asyncio.sleep(0.025)
        dead = await state()
        assert dead["state"] == "dead" and dead["attempts"] == 2 and len(dead["attempt_log"]) == 2
        assert dead["payload"]["data"] == {"n": 1}
        assert dead["attempt_log"][0]["status"] == 500 and dead["attempt_log"][0]["outcome"] == "retry"

        logs = (await client.get(f"{BASE}/logs?state=dead&subscription=r", headers=ADMIN)).json()
        assert [d["id"] for d in logs["deliveries"]] == [delivery_id] and logs["filters"]["state"] == "dead"
        assert (await client.get(f"{BASE}/deliveries?status=2xx", headers=ADMIN)).json()["deliveries"] == []
        assert (await client.get(f"{BASE}/deliveries?state=lost", headers=ADMIN)).status_code == 400

        again = await client.post(f"{BASE}/{delivery_id}/retry", headers=ADMIN)  # the troubleshooting guide's path
        assert again.status_code == 202
        for _ in range(400):
            if (await state())["attempts"] == 4:
                break
            await asyncio.sleep(0.025)
        assert (await state())["attempts"] == 4
    assert len(script.received) == 4
    assert (await client.post(f"{BASE}/deliveries/nope/redeliver", headers=ADMIN)).status_code == 404


async def test_disabled_webhooks_serve_no_admin_api(client_factory: ClientFactory, sqlite_url: str) -> None:
    client = await client_factory(overrides(sqlite_url, enabled=False), groups=["lab"])
    assert (await client.get(BASE, headers=ADMIN)).status_code == 404
    r = await client.post("/v1/webhooks/send", json={"type": "x.y"})
    assert r.status_code == 503 and r.json() == {"error": "webhooks not enabled (webhooks.enabled)"}
