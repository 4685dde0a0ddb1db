"""The Webhooks page in a real browser: create a subscription (secret shown once), send a test event to a
receiver answering hostile HTML, read the attempt, redeliver; nothing the receiver sent may execute."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.portal.browser_support import browser, portal_server, watch  # noqa: F401
from tests.support import LiveServer
from tests.webhooks.support import receiver

pytestmark = pytest.mark.browser

HOSTILE = b'<script>alert("body")</script><img src=x onerror=alert("img")><a href="javascript:alert(1)">x</a>'
WEBHOOKS = {"webhooks": {"enabled": True, "allowed_hosts": ["127.0.0.1"], "poll_interval": "50ms", "max_attempts": 1}}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with portal_server(tmp_path_factory.mktemp("webhooks"), WEBHOOKS) as running:
        yield running


def test_subscribe_send_inspect_and_redeliver(browser: Any, server: LiveServer) -> None:  # noqa: F811
    answer = (500, {"X-Evil": "<script>alert('header')</script>"}, HOSTILE)
    with receiver(answer) as (url, script):
        for watched in watch(browser, server):
            watched.sign_in()
            page = watched.page
            page.goto(server.url + "/portal/webhooks")
            page.fill("#wh-name", "browser-hook")
            page.fill("#wh-url", url)
            page.fill("#wh-description", "<img src=x onerror=alert('desc')>")
            page.click("#create")
            secret = page.input_value("#secret")
            assert secret.startswith("whsec_")
            watched.shot("webhooks-created")
            page.goto(server.url + "/portal/webhooks")
            assert secret not in page.content()
            page.locator("tr[data-subscription='browser-hook'] button", has_text="Send test event").click()
            page.wait_for_url("**/portal/webhooks/deliveries/*")
            for _ in range(100):
                if "dead" in page.inner_text("#state"):
                    break
                page.wait_for_timeout(100)
                page.reload()
            assert page.inner_text("#state") == "dead"
            assert 'alert("body")' in page.inner_text("#attempt-1")  # shown as text
            watched.shot("webhook-delivery")
            page.click("#redeliver button")
            page.wait_for_url("**notice=queued+again")
            page.goto(server.url + "/portal/webhooks?state=dead")
            assert page.locator("tr[data-delivery]").count() >= 1
    assert len(script.received) >= 2
