from __future__ import annotations

import asyncio
import json

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apitest.webhooks.rules import subscription_fields
from apitest.webhooks.store import WebhookStore
from tests.support import make_app
from tests.webhooks.conftest import subscription

ALLOWED = ["127.0.0.1", "hooks.example.com"]


def fields(body: object, partial: bool = False) -> dict[str, object]:
    return subscription_fields(body, allowed_hosts=ALLOWED, default_scheme="standard", partial=partial)


@given(name=st.text(max_size=120), description=st.text(max_size=600), secret=st.text(max_size=600))
@settings(max_examples=200)
def test_any_text_is_refused_or_storable(name: str, description: str, secret: str) -> None:
    try:
        out = fields({"name": name, "url": "http://127.0.0.1/h", "description": description, "secret": secret})
    except ValueError:
        return
    for value in (out["name"], out["description"], out["secret"]):
        if value is not None:
            assert isinstance(value, str)
            assert "\x00" not in value
            value.encode("utf-8")  # no lone surrogate
            assert len(value) <= 600


def test_defaults_and_generated_secret() -> None:
    out = fields({"name": "n", "url": "https://hooks.example.com/x"})
    assert out["event_types"] == ["*"] and out["scheme"] == "standard" and out["active"] is True
    assert str(out["secret"]).startswith("whsec_") and out["filter"] is None


def test_partial_updates_only_name_what_they_change() -> None:
    assert fields({"active": False}, partial=True) == {"active": False}
    with pytest.raises(ValueError, match="name and secret cannot change"):
        fields({"name": "other"}, partial=True)


async def test_unicode_round_trips_through_the_store(store: WebhookStore) -> None:
    name = "заказы ✓ 注文 \u202e"
    sub = await store.create_subscription(subscription(name, description="émoji 🎉"))
    found = await store.get_subscription(sub.id)
    assert found is not None and (found.name, found.description) == (name, "émoji 🎉")


@given(
    body=st.binary(max_size=300),
    signature=st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=80),
    timestamp=st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=20),
)
@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow], deadline=None)
def test_the_receiver_answers_any_input_with_204_or_401(body: bytes, signature: str, timestamp: str) -> None:
    app = make_app({"webhooks": {"receiver": {"secrets": ["whsec_dGVzdHRlc3R0ZXN0dGVzdA=="]}}}, groups=["lab"])

    async def call() -> httpx.Response:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            headers = {"webhook-id": "m", "webhook-timestamp": timestamp, "webhook-signature": signature}
            return await client.post("/v1/webhooks/receive", content=body, headers=headers)

    r = asyncio.run(call())
    assert r.status_code == 401  # nothing random is a valid signature
    assert json.loads(r.content)["error"] in ("missing header", "timestamp outside tolerance", "signature mismatch")
