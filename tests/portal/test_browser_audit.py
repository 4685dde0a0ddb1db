"""The audit pages in a real browser: filters, event detail, replay, live tail, and hostile captured data."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.portal.browser_support import Watched, browser, portal_server, send, settle, watch  # noqa: F401
from tests.support import LiveServer

pytestmark = pytest.mark.browser

XSS = ['<script>alert("xss-script")</script>', '"><img src=x onerror=alert("xss-img")>', "javascript:alert('xss-js')"]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LiveServer]:
    with portal_server(tmp_path) as running:
        yield running


@pytest.fixture
def user(browser: Any, server: LiveServer) -> Iterator[Watched]:  # noqa: F811
    for watched in watch(browser, server):
        watched.sign_in()
        yield watched


def test_filter_the_audit_list(server: LiveServer, user: Watched) -> None:
    for path in ("/v1/whoami", "/v1/status/500", "/v1/status/503", "/v1/status/404", "/v1/whoami"):
        send(server, "GET", path)
    settle(server)
    page = user.page
    page.goto(server.url + "/portal/audit")
    assert page.locator("#events tbody tr").count() == 5
    page.fill("#f-status", "5xx")
    page.select_option("#f-method", "GET")
    page.click("text=Apply")
    page.wait_for_url("**/portal/audit?**status=5xx**")
    rows = page.locator("#events tbody tr")
    assert rows.count() == 2
    assert sorted(rows.locator(".badge").all_inner_texts()) == ["500", "503"]
    assert "status is 5xx" in page.inner_text(".chips")
    assert "status=5xx" in (page.get_attribute("#export-csv", "href") or "")
    user.shot("audit-filtered")


def test_open_an_event_replay_it_and_see_the_new_row(server: LiveServer, user: Watched) -> None:
    send(server, "POST", "/v1/echo?n=1", json={"hello": "world"}, headers={"X-Trace": "abc"})
    settle(server)
    page = user.page
    page.goto(server.url + "/portal/audit")
    page.locator("#events tbody tr a").first.click()
    page.wait_for_url("**/portal/audit/*")
    assert "/v1/echo" in page.inner_text("h1")
    page.click("a[href='#request']")
    assert page.is_visible("#request-headers") and not page.is_visible("#overview")
    assert "[redacted]" in page.inner_text("#request-headers")
    assert '"hello": "world"' in page.inner_text("#request-body-tree")  # JSON opens as a tree
    user.shot("event-request")
    page.click("#replay")
    page.wait_for_url("**?replayed_from=*")
    assert "This is the replay of" in page.inner_text("#replay-notice")
    assert page.inner_text("#overview dl").count("replay") >= 1
    page.goto(server.url + "/portal/audit")
    sources = page.locator("#events tbody tr td:nth-child(8)").all_inner_texts()
    assert sources[0] == "replay" and "wire" in sources


def test_live_tail_shows_new_requests_without_reload(server: LiveServer, user: Watched) -> None:
    page = user.page
    page.goto(server.url + "/portal/audit")
    page.evaluate("window.__loaded = true")
    page.click("#live-tail")
    page.wait_for_selector("#live-status.on")
    send(server, "GET", "/v1/status/418")
    row = page.locator("#events tbody tr", has_text="/v1/status/418")
    row.wait_for(timeout=10000)
    assert page.evaluate("window.__loaded") is True  # same document: no reload happened
    assert row.locator(".badge").inner_text() == "418"


def test_hostile_headers_query_and_bodies_never_run(server: LiveServer, user: Watched) -> None:
    for payload in XSS:
        send(server, "POST", "/v1/echo", params={"p": payload}, content=payload.encode(), headers={"X-Evil": payload})
        send(server, "GET", "/v1/headers", headers={"User-Agent": payload, "X-Evil": payload})
    settle(server)
    page = user.page
    page.goto(server.url + "/portal/audit")
    ids = page.locator("#events tbody tr").evaluate_all("rows => rows.map(r => r.dataset.eventId)")
    assert len(ids) == 6
    assert page.locator("a[href^='javascript:']").count() == 0
    page.goto(server.url + "/portal/")
    for event_id in ids:
        page.goto(f"{server.url}/portal/audit/{event_id}")
        for panel in ("#request", "#response"):
            page.click(f"a[href='{panel}']")
        assert page.locator("img[src='x']").count() == 0
        assert page.locator("main script").count() == 0
        assert page.locator("a[href^='javascript:']").count() == 0
        text = page.text_content("main") or ""
        assert any(p in text for p in XSS)  # shown as text
    page.goto(f"{server.url}/portal/audit?q={'%3Cscript%3E'}")
    assert page.locator("#events tbody tr").count() >= 1
    page.goto(f"{server.url}/portal/audit/compare?a={ids[0]}&b={ids[1]}")
    assert page.evaluate("typeof window.alert") == "function"
    # the dialog listener of the fixture fails the test if any alert() ran
