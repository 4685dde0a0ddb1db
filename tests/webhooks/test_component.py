from __future__ import annotations

import re
from typing import Any

import pytest

from apitest.config.loader import ConfigError
from tests.conftest import ClientFactory
from tests.support import make_settings

ALLOWED = {"enabled": True, "allowed_hosts": ["127.0.0.1"]}


@pytest.mark.parametrize(
    ("webhooks", "database", "message"),
    [
        (ALLOWED, "", "webhooks.enabled is true but database.url is empty"),
        ({"signature_scheme": "hmac"}, "", "webhooks.signature_scheme must be one of standard, stripe"),
        ({"jitter": 2}, "", "webhooks.jitter must be between 0 and 1"),
        ({"backoff_base": "10s", "backoff_max": "1s"}, "", "webhooks.backoff_max must be >= webhooks.backoff_base"),
        (
            {"subscriptions": [{"name": "a", "url": "ftp://x"}]},
            "",
            "webhooks.subscriptions[0].url must be an http(s) URL",
        ),
        ({"subscriptions": [{"name": "a", "url": "http://x"}]}, "", "webhooks.subscriptions[0].secret is required"),
        (
            {"subscriptions": [{"name": "a", "url": "http://x", "secret": "s" * 20}] * 2},
            "",
            "webhooks.subscriptions[1].name 'a' is used twice",
        ),
    ],
)
def test_configuration_problems_are_reported(webhooks: dict[str, Any], database: str, message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        make_settings({"webhooks": webhooks, "database": {"url": database}})


@pytest.mark.parametrize(
    ("sub", "message"),
    [
        ({"url": "http://evil.test/h"}, r"webhooks.subscriptions\[0\] \(a\): host 'evil.test' is not in"),
        ({"url": "http://127.0.0.1/h", "filter": "status=abc"}, r"\(a\): filter: status"),
    ],
)
async def test_a_bad_file_subscription_stops_the_start(
    client_factory: ClientFactory, sqlite_url: str, sub: dict[str, Any], message: str
) -> None:
    subs = [{"name": "a", "secret": "file-secret-0123456789", **sub}]
    with pytest.raises(ValueError, match=message):
        await client_factory({"database": {"url": sqlite_url}, "webhooks": {**ALLOWED, "subscriptions": subs}})


async def test_file_subscriptions_are_stored_at_start(client_factory: ClientFactory, sqlite_url: str) -> None:
    subs = [{"name": "a", "url": "http://127.0.0.1/h", "secret": "file-secret-0123456789", "filter": "status=5xx"}]
    client = await client_factory({"database": {"url": sqlite_url}, "webhooks": {**ALLOWED, "subscriptions": subs}})
    service = client.app.state.webhooks  # type: ignore[attr-defined]
    (stored,) = await service.store.list_subscriptions()
    assert (stored.name, stored.source, stored.filter, stored.scheme) == ("a", "config", "status=5xx", "standard")
