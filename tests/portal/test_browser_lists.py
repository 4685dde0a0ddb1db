"""The audit list and dashboard in a real browser: every list defect of #16 reproduced, search, chips, saved
views, exports, onboarding, the time toggle and drill-down."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest
from playwright.sync_api import expect

from apitest.audit.records import EventRecord, PayloadRecord
from apitest.audit.store_sql import SQLAuditStore
from apitest.db.engine import Database
from tests.portal.browser_support import Watched, browser, portal_server, send, settle, watch  # noqa: F401
from tests.portal.conftest import KEY
from tests.support import LiveServer

pytestmark = pytest.mark.browser
LAB = {"endpoints": {"lab": {"enabled": True}}}


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LiveServer]:
    with portal_server(tmp_path, LAB) as running:
        yield running


@pytest.fixture
def user(browser: Any, server: LiveServer) -> Iterator[Watched]:  # noqa: F811
    for watched in watch(browser, server):
        watched.sign_in()
        yield watched


def query_of(url: str) -> list[tuple[str, str]]:
    return parse_qsl(urlsplit(url).query, keep_blank_values=True)


def store_rows(tmp_path: Path, records: list[EventRecord]) -> None:
    """Write rows straight into the portal's SQLite audit log (large volumes without sending requests)."""

    async def write() -> None:
        database = Database(f"sqlite+aiosqlite:///{tmp_path}/portal.db")
        try:
            store = SQLAuditStore(database)
            for start in range(0, len(records), 1000):
                await store.append_many(records[start : start + 1000])
        finally:
            await database.dispose()

    with ThreadPoolExecutor(1) as pool:  # Playwright's sync API runs an event loop in this thread
        pool.submit(asyncio.run, write()).result()


def synthetic(n: int, *, at: datetime, payload: bool = False, spread_s: float = 0.0) -> list[EventRecord]:
    out = []
    for i in range(n):
        body = PayloadRecord(
            request_headers={"content-type": ["application/json"], "x-row": [str(i)]},
            request_query={"n": [str(i)]},
            request_content_type="application/json",
            request_body=f'{{"row": {i}}}'.encode(),
            request_size_bytes=10,
            response_headers={"content-type": ["application/json"]},
            response_content_type="application/json",
            response_body=b'{"ok": true}',
            response_size_bytes=12,
        )
        out.append(
            EventRecord(
                id=str(uuid.uuid4()),
                ts=at + timedelta(seconds=spread_s * i / max(1, n)),
                method="POST",
                path="/v1/echo",
                status=200,
                success=True,
                duration_ms=1.5,
                route_name="echo_post",
                endpoint_group="echo",
                auth_type="apikey",
                api_key_name="tester",
                raw_target=f"/v1/echo?n={i}",
                header_list=[["Host", "example"], ["X-Row", str(i)]],
                payload=body if payload else None,
            )
        )
    return out


# Defects -----------------------------------------------------------------------------------------------


def test_apply_keeps_filters_without_a_form_field(server: LiveServer, user: Watched) -> None:
    page = user.page
    hidden = "group=identity&category=not_found&path_exact=/v1/x&user=u1&session=s1&route=whoami&header=x-a%3Db"
    page.goto(f"{server.url}/portal/audit?{hidden}")
    chips = page.locator("#chips li").all_inner_texts()
    assert len(chips) == 7, chips
    page.fill("#f-status", "404")
    page.click("text=Apply")
    page.wait_for_url("**status=404**")
    kept = dict(query_of(page.url))
    assert kept == {
        "group": "identity",
        "category": "not_found",
        "path_exact": "/v1/x",
        "user": "u1",
        "session": "s1",
        "route_name": "whoami",
        "header": "x-a=b",
        "status": "404",
    }


def test_an_unlisted_method_is_shown_not_any(server: LiveServer, user: Watched) -> None:
    page = user.page
    page.goto(server.url + "/portal/audit?method=FOO")
    assert page.eval_on_selector("#f-method", "s => s.value") == "FOO"
    assert "method is FOO" in page.inner_text("#chips")


def test_shared_urls_carry_no_empty_parameters(server: LiveServer, user: Watched) -> None:
    page = user.page
    page.goto(server.url + "/portal/audit")
    page.fill("#f-status", "5xx")
    page.click("text=Apply")
    page.wait_for_url("**status=5xx**")
    assert query_of(page.url) == [("status", "5xx")]
    # Without the script (a plain form submission), the server redirects to the same short URL.
    cookies = {c["name"]: c["value"] for c in page.context.cookies()}
    answer = httpx.get(f"{server.url}/portal/audit?last=&method=&status=5xx&q=", cookies=cookies)
    assert answer.status_code == 303 and answer.headers["location"] == "/portal/audit?status=5xx"


def test_compare_with_one_pick_explains_inline_and_keeps_it(server: LiveServer, user: Watched) -> None:
    for path in ("/v1/whoami", "/v1/status/404"):
        send(server, "GET", path)
    settle(server)
    page = user.page
    page.goto(server.url + "/portal/audit")
    page.locator("#events tbody tr").first.locator("input[name=a]").check()
    page.click("text=Compare A with B")
    problem = page.locator("#compare-problem")
    problem.wait_for(state="visible")
    assert "A is chosen; choose B too" in problem.inner_text()
    assert "/portal/audit" in page.url and page.locator("input[name=a]:checked").count() == 1
    # The same without the script: the compare page sends the picks back to the list with the message.
    first = page.locator("#events tbody tr").first.get_attribute("data-event-id")
    page.goto(f"{server.url}/portal/audit/compare?a={first}&status=404")
    assert "/portal/audit?" in page.url and "A is chosen" in page.inner_text("#compare-problem")
    assert page.is_checked(f"#events input[name=a][value='{first}']")


def test_compare_picks_survive_paging(server: LiveServer, user: Watched) -> None:
    for n in range(3):
        send(server, "GET", f"/v1/status/{200 + n}")
    settle(server)
    page = user.page
    page.goto(server.url + "/portal/audit?limit=2")
    first = page.locator("#events tbody tr").first
    a_id = first.get_attribute("data-event-id")
    first.locator("input[name=a]").check()
    assert ("a", a_id) in query_of(page.url)
    page.click("#older")
    page.wait_for_url("**next=**")
    assert f"A = {a_id[:8]}" in page.inner_text("#picks-elsewhere") if a_id else False
    page.locator("#events tbody tr").first.locator("input[name=b]").check()
    page.click("text=Compare A with B")
    page.wait_for_url("**/portal/audit/compare?**")
    assert page.inner_text("h1") == "Compare two requests"


def test_failed_200s_are_not_green(server: LiveServer, user: Watched) -> None:
    with pytest.raises(httpx.HTTPError):
        send(server, "GET", "/v1/fault/truncated?length=100&sent=10")
    send(server, "GET", "/v1/whoami")
    settle(server)
    page = user.page
    page.goto(server.url + "/portal/audit")
    truncated = page.locator("#events tbody tr", has_text="/v1/fault/truncated").locator(".badge")
    assert "bad" in (truncated.get_attribute("class") or "") and "s2" not in (truncated.get_attribute("class") or "")
    assert "failed" in (truncated.get_attribute("title") or "")
    ok = page.locator("#events tbody tr", has_text="/v1/whoami").locator(".badge")
    assert "s2" in (ok.get_attribute("class") or "")


def test_rejected_requests_say_none_rejected(server: LiveServer, user: Watched) -> None:
    assert httpx.get(server.url + "/v1/whoami").status_code == 401
    send(server, "GET", "/v1/whoami")
    settle(server)
    page = user.page
    page.goto(server.url + "/portal/audit")
    callers = page.locator("#events tbody tr td:nth-child(6)").all_inner_texts()
    assert sorted(callers) == ["none (rejected)", "tester"]


def test_live_tail_counts_and_caps_rows(server: LiveServer, user: Watched) -> None:
    send(server, "GET", "/v1/whoami")
    settle(server)
    page = user.page
    page.goto(server.url + "/portal/audit")
    assert page.inner_text(".pager .total-count") == "1"
    page.evaluate("document.getElementById('events').setAttribute('data-rows-max', '3')")
    page.click("#live-tail")
    page.wait_for_selector("#live-status.on")
    for n in range(4):
        send(server, "GET", f"/v1/status/{201 + n}")
    expect(page.locator(".pager .total-count").first).to_have_text("5")
    assert page.locator("#events tbody tr").count() == 3


def test_a_bad_window_is_reported(server: LiveServer, user: Watched) -> None:
    page = user.page
    page.goto(server.url + "/portal/?last=abc")
    assert "last='abc' is not a window" in page.inner_text("#window-error")


def test_zero_errors_are_not_red_and_the_axis_has_round_ticks(
    server: LiveServer, user: Watched, tmp_path: Path
) -> None:
    page = user.page
    page.goto(server.url + "/portal/")
    assert "err" not in (page.get_attribute("#errors", "class") or "").split()
    store_rows(tmp_path, synthetic(5300, at=datetime.now(UTC) - timedelta(minutes=3)))  # one bucket
    page.goto(server.url + "/portal/")
    labels = page.locator("#requests-chart > text[text-anchor=end]").all_text_contents()
    assert labels == ["0", "2,000", "4,000", "6,000"]


# Onboarding, time, drill-down --------------------------------------------------------------------------


def test_the_empty_dashboard_says_where_to_start(server: LiveServer, user: Watched) -> None:
    page = user.page
    page.goto(server.url + "/portal/")
    assert page.inner_text("#onboarding-base") == server.url
    assert page.inner_text("#onboarding-curl") == f"curl -i {server.url}/v1/whoami -H 'X-API-Key: <your key>'"
    assert page.inner_text("#onboarding-openapi") == server.url + "/openapi.json"
    assert page.inner_text("#onboarding-healthz") == server.url + "/healthz"
    assert "apikey" in page.inner_text("#onboarding-auth")
    user.shot("dashboard-empty")


def test_times_switch_to_local_and_stay(browser: Any, server: LiveServer) -> None:  # noqa: F811
    send(server, "GET", "/v1/whoami")
    settle(server)
    context = browser.new_context(timezone_id="Asia/Tokyo")
    try:
        page = context.new_page()
        Watched(page, server.url).sign_in()
        page.goto(server.url + "/portal/audit")
        cell = page.locator("#events tbody tr time").first
        utc_text = cell.inner_text()
        stamp = datetime.fromisoformat((cell.get_attribute("datetime") or "").replace("Z", "+00:00"))
        page.click("#tz-toggle")
        tokyo = (stamp + timedelta(hours=9)).strftime("%Y-%m-%d %H:%M:%S")
        assert cell.inner_text().startswith(tokyo) and cell.inner_text() != utc_text
        assert "UTC+09:00" in page.inner_text("#tz-note")
        page.reload()
        assert page.locator("#events tbody tr time").first.inner_text().startswith(tokyo)
    finally:
        context.close()


def test_chart_bars_and_top_lists_drill_into_the_audit_list(server: LiveServer, user: Watched) -> None:
    for path in ("/v1/whoami", "/v1/status/503"):
        send(server, "GET", path)
    settle(server)
    page = user.page
    page.goto(server.url + "/portal/")
    page.locator("#status-chart a").last.click()
    page.wait_for_url("**/portal/audit?**")
    assert dict(query_of(page.url))["status"] == "5xx"
    assert page.locator("#events tbody tr").count() == 1
    page.goto(server.url + "/portal/")
    bar = page.locator("#requests-chart a").first
    counted = int((bar.get_attribute("aria-label") or "").split("UTC: ")[1].split(" request")[0])
    bar.click()
    page.wait_for_url("**/portal/audit?**")
    assert {"from", "to"} <= dict(query_of(page.url)).keys()
    assert page.locator("#events tbody tr").count() == counted >= 1
    page.goto(server.url + "/portal/")
    page.locator("#top-callers a", has_text="tester").click()
    page.wait_for_url("**caller=tester**")


# Search, chips, saved views ----------------------------------------------------------------------------


def test_search_syntax_becomes_chips_that_can_be_removed(server: LiveServer, user: Watched) -> None:
    send(server, "POST", "/v1/echo", json={"a": 1}, headers={"X-Foo": "bar"})
    send(server, "GET", "/v1/status/503")
    settle(server)
    page = user.page
    page.goto(server.url + "/portal/audit")
    page.fill("#search", "method:POST header:x-foo=bar duration<60000")
    page.press("#search", "Enter")
    page.wait_for_url("**method=POST**")
    assert dict(query_of(page.url)) == {"method": "POST", "header": "x-foo=bar", "duration_max": "60000"}
    assert page.locator("#events tbody tr").count() == 1
    assert page.input_value("#search") == "method:POST duration<=60000 header:x-foo=bar"
    page.locator("#chips li[data-param=header] a").click()
    page.wait_for_url(lambda url: "header=" not in url)
    assert dict(query_of(page.url)) == {"method": "POST", "duration_max": "60000"}
    page.fill("#search", "colour:red")
    page.press("#search", "Enter")
    page.wait_for_load_state()
    assert "unknown key colour:" in page.inner_text("#filter-errors")


def test_saved_views_per_identity(server: LiveServer, user: Watched) -> None:
    page = user.page
    page.goto(server.url + "/portal/audit?status=5xx&group=identity")
    page.fill("#view-name", "server errors")
    page.click("text=Save view")
    page.wait_for_url("**/portal/audit/views")
    page.click("text=server errors")
    page.wait_for_url("**/portal/audit?**")
    assert dict(query_of(page.url)) == {"group": "identity", "status": "5xx"}
    # Another identity (a bearer token) sees none of them.
    other = httpx.get(
        server.url + "/api/v1/portal/audit/views", headers={"Authorization": "Bearer " + _bearer()}, timeout=10
    )
    assert other.status_code == 200 and other.json() == {"views": []}
    mine = httpx.get(server.url + "/api/v1/portal/audit/views", headers={"X-API-Key": KEY}, timeout=10)
    assert [v["name"] for v in mine.json()["views"]] == ["server errors"]
    page.goto(server.url + "/portal/audit/views")
    page.click("text=Delete")
    page.wait_for_selector("#no-views")


def _bearer() -> str:
    from tests.portal.conftest import BEARER

    return BEARER


# Exports -----------------------------------------------------------------------------------------------


def test_a_thousand_row_har_loads_in_chromium(server: LiveServer, user: Watched, tmp_path: Path) -> None:
    store_rows(tmp_path, synthetic(1000, at=datetime.now(UTC) - timedelta(minutes=5), payload=True, spread_s=60))
    page = user.page
    page.goto(server.url + "/portal/audit?route=echo_post")
    href = page.get_attribute("#export-har", "href") or ""
    assert "route_name=echo_post" in href
    result = page.evaluate(
        """async (href) => {
            const response = await fetch(href);
            const text = await response.text();
            const har = JSON.parse(text);
            return {status: response.status, version: har.log.version, entries: har.log.entries.length,
                    bytes: text.length, body: har.log.entries[0].request.postData.text,
                    note: har.log._apitest_export || null};
        }""",
        href,
    )
    assert result["status"] == 200 and result["version"] == "1.2" and result["entries"] == 1000
    assert result["body"].startswith('{"row": ') and result["note"] is None
    assert result["bytes"] < 5_000_000


def test_export_links_carry_the_filters(server: LiveServer, user: Watched) -> None:
    page = user.page
    page.goto(server.url + "/portal/audit?status=5xx")
    for link in ("#export-har", "#export-ndjson-payloads", "#export-ndjson"):
        assert "status=5xx" in (page.get_attribute(link, "href") or "")
    assert "payloads=1" in (page.get_attribute("#export-ndjson-payloads", "href") or "")
