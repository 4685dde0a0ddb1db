"""Real servers on loopback: apitest (uvicorn) delivering to a scripted receiver and to its own receiver.

No timing asserts: the test waits (with a deadline) for states, then checks the order of the logged times.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from typing import Any

import httpx

from apitest.app import create_app
from tests.support import live_server, make_settings
from tests.webhooks.support import receiver

ADMIN = {"X-API-Key": "admin-secret"}
RECEIVER_SECRET = "whsec_cmVjZWl2ZXJyZWNlaXZlcnJlY2VpdmVy"
BASE = "/api/v1/admin/webhooks"
BACKOFF = [0.2, 0.4]  # webhooks.backoff_base 0.2s, doubling


def settings(db_url: str) -> Any:
    return make_settings(
        {
            "api_keys": {"file": [{"name": "admin", "key": "admin-secret", "scopes": ["admin"]}]},
            "database": {"url": db_url},
            "audit": {"enabled": True, "flush_interval_ms": 20},
            "webhooks": {
                "enabled": True,
                "allowed_hosts": ["127.0.0.1"],
                "poll_interval": "50ms",
                "backoff_base": "200ms",
                "backoff_max": "1s",
                "jitter": 0,
                "max_attempts": 3,
                "receiver": {"secrets": [RECEIVER_SECRET]},
            },
        },
        groups=["failure", "lab"],
    )


def wait_for(client: httpx.Client, delivery_id: str, done: Any, within: float = 20.0) -> dict[str, Any]:
    deadline = time.monotonic() + within
    while True:
        delivery = client.get(f"{BASE}/deliveries/{delivery_id}", headers=ADMIN).json()["delivery"]
        if done(delivery) or time.monotonic() > deadline:
            return dict(delivery)
        time.sleep(0.05)


def ts(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_an_audit_event_reaches_the_third_attempt_at_the_documented_backoff(db_url: str) -> None:
    with receiver(500, 503, 204) as (url, script), live_server(create_app(settings(db_url))) as server:
        client = httpx.Client(base_url=server.url, timeout=10)
        made = client.post(
            BASE, json={"name": "errors", "url": url, "filter": "status=503 route=status"}, headers=ADMIN
        )
        assert made.status_code == 201
        assert client.get("/v1/status/503").status_code == 503
        assert client.get("/v1/status/200").status_code == 200  # does not match the filter
        deadline = time.monotonic() + 20
        deliveries: list[Any] = []
        while not deliveries and time.monotonic() < deadline:
            deliveries = client.get(f"{BASE}/deliveries", headers=ADMIN).json()["deliveries"]
            time.sleep(0.05)
        (first,) = deliveries
        delivery = wait_for(client, first["id"], lambda d: d["state"] in ("succeeded", "dead"))
        assert delivery["state"] == "succeeded" and delivery["event_type"] == "audit.event"
        log = delivery["attempt_log"]
        assert [(a["number"], a["status"], a["outcome"]) for a in log] == [
            (1, 500, "retry"),
            (2, 503, "retry"),
            (3, 204, "succeeded"),
        ]
        for attempt, following, delay in zip(log, log[1:], BACKOFF, strict=False):
            scheduled = ts(attempt["next_attempt_at"])
            assert scheduled - ts(attempt["started_at"]) >= timedelta(seconds=delay)
            assert ts(following["started_at"]) >= scheduled
        assert delivery["payload"]["data"]["path"] == "/v1/status/503"
        assert len(script.received) == 3
        metrics = client.get("/metrics").text
        assert "apitest_webhook_attempts_total 3.0" in metrics
        assert "apitest_webhook_attempts_succeeded_total 1.0" in metrics
        assert "apitest_webhook_attempts_failed_total 2.0" in metrics


def test_apitest_delivers_to_its_own_receiver(sqlite_url: str) -> None:
    with live_server(create_app(settings(sqlite_url))) as server:
        client = httpx.Client(base_url=server.url, timeout=10)
        target = f"{server.url}/v1/webhooks/receive"
        for name, secret in (("good", RECEIVER_SECRET), ("wrong", "whsec_d3Jvbmd3cm9uZ3dyb25nd3Jvbmc=")):
            body = {"name": name, "url": target, "secret": secret, "event_types": [], "scheme": "standard"}
            assert client.post(BASE, json=body, headers=ADMIN).status_code == 201
        ids = {}
        for name in ("good", "wrong"):
            sent = client.post("/v1/webhooks/send", json={"type": "ping", "subscription": name, "data": {}})
            assert sent.status_code == 202
            ids[name] = sent.json()["deliveries"][0]
        good = wait_for(client, ids["good"], lambda d: d["state"] == "succeeded")
        assert good["state"] == "succeeded" and good["attempt_log"][0]["status"] == 204
        wrong = wait_for(client, ids["wrong"], lambda d: d["state"] == "dead")
        assert wrong["state"] == "dead" and wrong["attempts"] == 1  # a 401 is not retried
        answer = wrong["attempt_log"][0]["response_body"]["text"]
        assert '"error":"signature mismatch"' in answer
        metrics = client.get("/metrics").text
        assert "apitest_webhook_dead_letters_total 1.0" in metrics
