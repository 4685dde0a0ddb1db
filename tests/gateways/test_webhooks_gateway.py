"""Webhooks through a real nginx, both directions: apitest's deliveries (egress) and signed requests to its
``/v1/webhooks/receive`` (ingress). A gateway that forwards the body as it came verifies; one that changes
the body in transit fails with "signature mismatch" and the evidence says what happened.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from apitest.app import create_app
from apitest.webhooks.signing import signature_headers
from tests.gateways.webhook_support import nginx
from tests.support import live_server, make_settings

pytestmark = pytest.mark.gateways

SECRET = "whsec_Z2F0ZXdheWdhdGV3YXlnYXRld2F5Z2F0ZXdheQ=="
ADMIN = {"X-API-Key": "admin-secret"}
BODY = json.dumps({"type": "order.created", "data": {"id": "ord_1"}}, separators=(",", ":")).encode()


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
                "max_attempts": 1,
                "receiver": {"secrets": [SECRET]},
            },
        },
        groups=["lab"],
    )


def wait_done(client: httpx.Client, delivery_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 20
    while True:
        delivery = client.get(f"/api/v1/admin/webhooks/deliveries/{delivery_id}", headers=ADMIN).json()["delivery"]
        if delivery["state"] in ("succeeded", "dead") or time.monotonic() > deadline:
            return dict(delivery)
        time.sleep(0.05)


def test_egress_deliveries_through_nginx(sqlite_url: str, tmp_path: Path) -> None:
    with live_server(create_app(settings(sqlite_url))) as server, nginx(server.port, tmp_path) as gateway:
        client = httpx.Client(base_url=server.url, timeout=10)
        for mode in ("pass", "rewrite"):
            body = {"name": mode, "url": f"{gateway}/{mode}/v1/webhooks/receive", "secret": SECRET, "event_types": []}
            assert client.post("/api/v1/admin/webhooks", json=body, headers=ADMIN).status_code == 201
        results = {}
        for mode in ("pass", "rewrite"):
            sent = client.post("/v1/webhooks/send", json={"type": "order.created", "subscription": mode, "data": {}})
            assert sent.status_code == 202
            results[mode] = wait_done(client, sent.json()["deliveries"][0])

        assert results["pass"]["state"] == "succeeded"
        assert results["pass"]["attempt_log"][0]["status"] == 204

        rewritten = results["rewrite"]
        assert rewritten["state"] == "dead"  # a 401 is not retried
        (attempt,) = rewritten["attempt_log"]
        assert attempt["status"] == 401
        evidence = json.loads(attempt["response_body"]["text"])
        sent_bytes = json.dumps(rewritten["payload"], separators=(",", ":")).encode()
        assert evidence["error"] == "signature mismatch"
        assert evidence["received_bytes"] == len(sent_bytes) + 1  # nginx added a newline
        assert evidence["received_sha256"] == hashlib.sha256(sent_bytes + b"\n").hexdigest()
        assert evidence["reserialized_sha256"] == hashlib.sha256(sent_bytes).hexdigest()
        assert evidence["json_reserialized_differs"] is True
        assert evidence["signature_matches_reserialized"] is True
        assert "reformatted the body in transit" in evidence["detail"]


def test_ingress_signed_requests_through_nginx(sqlite_url: str, tmp_path: Path) -> None:
    with live_server(create_app(settings(sqlite_url))) as server, nginx(server.port, tmp_path) as gateway:
        headers = {
            **signature_headers("standard", SECRET, "msg_in", int(time.time()), BODY),
            "Content-Type": "application/json",
        }
        passed = httpx.post(f"{gateway}/pass/v1/webhooks/receive", content=BODY, headers=headers)
        assert passed.status_code == 204
        refused = httpx.post(f"{gateway}/rewrite/v1/webhooks/receive", content=BODY, headers=headers)
        assert refused.status_code == 401
        evidence = refused.json()
        assert evidence["error"] == "signature mismatch"
        assert evidence["received_sha256"] == hashlib.sha256(BODY + b"\n").hexdigest()
        assert evidence["signature_matches_reserialized"] is True
        stripe = signature_headers("stripe", SECRET, "msg_in", int(time.time()), BODY)
        assert httpx.post(f"{gateway}/pass/v1/webhooks/receive", content=BODY, headers=stripe).status_code == 204
