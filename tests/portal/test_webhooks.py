"""The Webhooks page and the admin webhooks API with a portal session (admin scope, CSRF on unsafe methods)."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import httpx
import pytest

from tests.conftest import ClientFactory
from tests.portal.conftest import csrf_token, portal_overrides, sign_in
from tests.webhooks.support import receiver

WEBHOOKS = {"webhooks": {"enabled": True, "allowed_hosts": ["127.0.0.1"], "poll_interval": "50ms", "max_attempts": 1}}


@pytest.fixture
async def signed_in(client_factory: ClientFactory, tmp_path: Any) -> httpx.AsyncClient:
    client = await client_factory(portal_overrides(tmp_path, WEBHOOKS))
    assert (await sign_in(client)).status_code == 303
    return client


async def create(client: httpx.AsyncClient, **form: str) -> httpx.Response:
    token = csrf_token((await client.get("/portal/webhooks")).text)
    return await client.post("/portal/webhooks", data={"csrf_token": token, **form})


async def test_create_shows_the_secret_once(signed_in: httpx.AsyncClient) -> None:
    page = await signed_in.get("/portal/webhooks")
    assert page.status_code == 200 and 'href="/portal/webhooks"' in page.text  # in the navigation
    r = await create(signed_in, name="orders", url="http://127.0.0.1:9/hook", filter="status=5xx route=create_order")
    assert r.status_code == 201 and r.headers["cache-control"] == "no-store"
    secret = re.search(r'id="secret" class="mono" readonly value="(whsec_[^"]+)"', r.text)
    assert secret and "Copy its signing secret now" in r.text
    listing = (await signed_in.get("/portal/webhooks")).text
    assert secret.group(1) not in listing
    assert "status=5xx route_name=create_order" in listing


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"name": "x", "url": "http://evil.test/hook"}, "is not in webhooks.allowed_hosts"),
        ({"name": "x", "url": "http://127.0.0.1/h", "filter": "status=nope"}, "filter: status"),
        ({"name": " ", "url": "http://127.0.0.1/h"}, "name required"),
    ],
)
async def test_create_errors_are_shown(signed_in: httpx.AsyncClient, form: dict[str, str], message: str) -> None:
    r = await create(signed_in, **form)
    assert r.status_code == 200 and message in r.text and 'id="webhook-error"' in r.text


async def test_hostile_text_is_escaped(signed_in: httpx.AsyncClient) -> None:
    r = await create(
        signed_in, name="<script>alert(1)</script>", url="http://127.0.0.1:9/h", description="<img onerror=x>"
    )
    assert r.status_code == 201
    page = (await signed_in.get("/portal/webhooks")).text
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;" in page
    assert "<img onerror" not in page


async def test_forms_need_the_csrf_token(signed_in: httpx.AsyncClient) -> None:
    assert (await signed_in.post("/portal/webhooks", data={"name": "x"})).status_code == 403
    assert (await signed_in.post("/portal/webhooks/x/delete", data={"csrf_token": "forged"})).status_code == 403
    assert (await signed_in.post("/portal/webhooks/deliveries/x/redeliver")).status_code == 403


async def test_test_event_log_detail_and_redeliver(signed_in: httpx.AsyncClient) -> None:
    with receiver((500, {}, b"<b>boom</b>"), 204) as (url, script):
        await create(signed_in, name="r", url=url)
        page = (await signed_in.get("/portal/webhooks")).text
        sub_id = re.search(r'action="/portal/webhooks/([0-9a-f-]{36})/test"', page)
        assert sub_id
        token = csrf_token(page)
        sent = await signed_in.post(f"/portal/webhooks/{sub_id.group(1)}/test", data={"csrf_token": token})
        assert sent.status_code == 303
        detail_url = sent.headers["location"]
        for _ in range(400):
            detail = (await signed_in.get(detail_url)).text
            if 'id="state">dead' in detail:
                break
            await asyncio.sleep(0.025)
        assert 'id="state">dead' in detail and 'id="attempt-1"' in detail
        assert "&lt;b&gt;boom&lt;/b&gt;" in detail and "apitest.test" in detail
        log = (await signed_in.get("/portal/webhooks?state=dead&subscription=r")).text
        assert detail_url in log
        assert "No deliveries match" in (await signed_in.get("/portal/webhooks?state=succeeded")).text
        again = await signed_in.post(detail_url + "/redeliver", data={"csrf_token": token})
        assert again.status_code == 303 and "queued+again" in again.headers["location"]
        for _ in range(400):
            if 'id="state">succeeded' in (await signed_in.get(detail_url)).text:
                break
            await asyncio.sleep(0.025)
        assert 'id="state">succeeded' in (await signed_in.get(detail_url)).text
    assert len(script.received) == 2


async def test_pause_resume_delete(signed_in: httpx.AsyncClient) -> None:
    await create(signed_in, name="p", url="http://127.0.0.1:9/h")
    page = (await signed_in.get("/portal/webhooks")).text
    sub_id = re.search(r'action="/portal/webhooks/([0-9a-f-]{36})/state"', page)
    assert sub_id
    token = csrf_token(page)
    r = await signed_in.post(f"/portal/webhooks/{sub_id.group(1)}/state", data={"csrf_token": token})
    assert r.status_code == 303 and "paused" in (await signed_in.get(r.headers["location"])).text
    r = await signed_in.post(f"/portal/webhooks/{sub_id.group(1)}/delete", data={"csrf_token": token})
    assert r.status_code == 303 and "No subscriptions yet" in (await signed_in.get("/portal/webhooks")).text


async def test_the_admin_scope_is_needed(client_factory: ClientFactory, tmp_path: Any) -> None:
    viewer = {"api_keys": {"file": [{"name": "viewer", "key": "viewer-key-0123456789", "scopes": ["read"]}]}}
    client = await client_factory(portal_overrides(tmp_path, {**WEBHOOKS, **viewer}))
    assert (await sign_in(client, "viewer-key-0123456789")).status_code == 303
    page = await client.get("/portal/webhooks")
    assert page.status_code == 403 and "admin scope" in page.text
    assert (await client.get("/api/v1/admin/webhooks")).status_code == 403


async def test_admin_api_with_a_session_needs_csrf(signed_in: httpx.AsyncClient) -> None:
    assert (await signed_in.get("/api/v1/admin/webhooks")).json() == {"subscriptions": []}
    body = {"name": "via-api", "url": "http://127.0.0.1:9/h"}
    r = await signed_in.post("/api/v1/admin/webhooks", json=body)
    assert r.status_code == 403 and "CSRF" in r.json()["error"]
    token = csrf_token((await signed_in.get("/portal/")).text)
    r = await signed_in.post("/api/v1/admin/webhooks", json=body, headers={"X-CSRF-Token": token})
    assert r.status_code == 201 and r.json()["subscription"]["created_by"] == "tester"


async def test_anonymous_dev_portal_does_not_manage_webhooks(client_factory: ClientFactory, tmp_path: Any) -> None:
    client = await client_factory(portal_overrides(tmp_path, {**WEBHOOKS, "portal": {"allow_anonymous": True}}))
    page = await client.get("/portal/webhooks")
    assert page.status_code == 403 and "needs the admin scope" in page.text
    r = await create(client, name="dev", url="http://127.0.0.1:9/h")
    assert r.status_code == 403  # as for keys: a cross-site page must not drive the open dev portal
    assert (await sign_in(client)).status_code == 303  # an admin key signs in and manages them
    assert (await create(client, name="dev", url="http://127.0.0.1:9/h")).status_code == 201


async def test_no_page_when_webhooks_are_off(client_factory: ClientFactory, tmp_path: Any) -> None:
    client = await client_factory(portal_overrides(tmp_path))
    assert (await sign_in(client)).status_code == 303
    assert (await client.get("/portal/webhooks")).status_code == 404
    assert 'href="/portal/webhooks"' not in (await client.get("/portal/")).text
