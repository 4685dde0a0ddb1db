"""The event page in a real browser: hostile and large captured data, the body inspector, code snippets run
against a live server, edit and resend, compare links and previous/next (issue #16)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.portal.browser_support import Watched, browser, portal_server, send, settle, watch  # noqa: F401
from tests.portal.conftest import KEY
from tests.support import LiveServer

pytestmark = pytest.mark.browser

RLO = "\u202e"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with portal_server(tmp_path_factory.mktemp("event")) as running:
        yield running


@pytest.fixture
def user(browser: Any, server: LiveServer) -> Iterator[Watched]:  # noqa: F811
    for watched in watch(browser, server):
        watched.sign_in()
        yield watched


def newest(server: LiveServer, **filters: str) -> dict[str, Any]:
    settle(server)
    query = {"limit": "1", **filters}
    events = send(server, "GET", "/api/v1/portal/audit/events", params=query).json()["events"]
    assert events, filters
    detail: dict[str, Any] = send(server, "GET", f"/api/v1/portal/audit/events/{events[0]['id']}").json()
    return detail


def open_tab(page: Any, name: str) -> None:
    page.click(f"nav.tabs a[href='#{name}']")


def page_width(page: Any) -> int:
    return int(page.evaluate("document.documentElement.scrollWidth"))


def test_hostile_paths_and_headers_render_within_the_viewport(server: LiveServer, user: Watched) -> None:
    page = user.page
    long_path = "/v1/nope/" + "a" * 5000
    send(server, "GET", long_path)
    event = newest(server, q="/v1/nope/aaaa")
    page.goto(f"{server.url}/portal/audit/{event['id']}")
    for tab in ("overview", "wire", "request", "response", "curl-tab"):
        open_tab(page, tab)
        assert page_width(page) <= 1280, tab
    assert f"show all {len(event['path']):,} characters" in page.inner_text("h1")  # as long as the audit kept it
    page.click("h1 details.long summary")  # the expander opens and the full path still wraps
    assert page_width(page) <= 1280

    send(server, "GET", "/v1/whoami", headers={"X-Long": "b" * 6000})
    event = newest(server, route_name="whoami")
    page.goto(f"{server.url}/portal/audit/{event['id']}#request")
    assert page.locator("#request-headers").is_visible()
    for tab in ("overview", "wire", "request", "response", "curl-tab"):
        open_tab(page, tab)
        assert page_width(page) <= 1280, tab


def test_a_right_to_left_override_cannot_spoof_the_path(server: LiveServer, user: Watched) -> None:
    page = user.page
    send(server, "GET", "/v1/fixed/%E2%80%AEgnp.exe", headers={"X-Note": f"a{RLO}b\u200bc".encode()})
    event = newest(server, q="gnp.exe")
    assert event["path"] == f"/v1/fixed/{RLO}gnp.exe"
    page.goto(f"{server.url}/portal/audit/{event['id']}")
    title = page.inner_text("h1")
    assert RLO not in title and "\\u202e" in title and "gnp.exe" in title
    assert page.locator("#event-path bdi .ctl").first.get_attribute("title") == "U+202E RIGHT-TO-LEFT OVERRIDE"
    # The isolated value cannot reorder what follows it: the status badge stays at the end of the heading.
    assert page.evaluate("getComputedStyle(document.querySelector('#event-path bdi')).unicodeBidi") == "isolate"
    open_tab(page, "request")
    note = page.locator("#request-headers tr", has_text="X-Note").inner_text()
    assert "\\u202e" in note and "\\u200b" in note and RLO not in note


def test_a_one_mebibyte_body_loads_on_demand(server: LiveServer, user: Watched) -> None:
    body = ('{"k":"' + "x" * (1024 * 1024 - 8) + '"}').encode()
    send(server, "POST", "/v1/echo", content=body, headers={"Content-Type": "application/json"})
    event = newest(server, route_name="echo_post")
    html = httpx.get(f"{server.url}/portal/audit/{event['id']}", headers={"X-API-Key": KEY}, timeout=10).text
    assert len(html.encode()) < 300 * 1024, len(html.encode())
    page = user.page
    page.goto(f"{server.url}/portal/audit/{event['id']}#request")
    assert "too big to put in the page" in page.inner_text("#request-body-deferred")
    page.click("#request-body-load")
    page.wait_for_selector("#request-body-loaded:not([hidden])")
    assert page.evaluate("document.querySelector('#request-body-loaded').textContent.length") == len(body)
    assert page_width(page) <= 1280
    with page.expect_download() as download:
        page.click("#request-body-download")
    assert Path(download.value.path()).read_bytes() == body


def test_the_truncation_notice_states_the_sizes(browser: Any, tmp_path: Path) -> None:  # noqa: F811
    with portal_server(tmp_path, {"audit": {"max_payload_bytes": 1000}}) as small:
        send(small, "POST", "/v1/echo", content=b"z" * 5000, headers={"Content-Type": "text/plain"})
        event = newest(small, route_name="echo_post")
        for watched in watch(browser, small):
            watched.sign_in()
            watched.page.goto(f"{small.url}/portal/audit/{event['id']}#request")
            notice = watched.page.inner_text("#request-body-truncated")
            assert "the body was 5,000 bytes" in notice
            assert "kept the first 1,000 bytes" in notice and "4,000 bytes were not stored" in notice


def test_copy_as_curl_sends_the_exact_binary_body(server: LiveServer, user: Watched) -> None:
    original = bytes(range(256)) * 3 + b"\x00@end\r\n"
    send(server, "POST", "/v1/echo?kind=bin", content=original, headers={"Content-Type": "application/octet-stream"})
    event = newest(server, q="kind=bin")
    page = user.page
    page.goto(f"{server.url}/portal/audit/{event['id']}#curl-tab")
    command = page.inner_text("#curl")
    assert "base64 -d" in command and "--data-binary @-" in command
    # The credential was redacted, so the command has none: add ours, as the page tells people to.
    command = command.replace("curl -sS -i", f"curl -sS -i -H 'X-API-Key: {KEY}' -H 'X-Run: curl'", 1)
    run = subprocess.run(["bash", "-c", command], capture_output=True, timeout=30, check=False)
    assert run.returncode == 0, run.stderr
    repeated = newest(server, q="X-Run")
    audited = httpx.get(
        f"{server.url}/portal/audit/{repeated['id']}/body/request", headers={"X-API-Key": KEY}, timeout=10
    ).content
    assert audited == original
    assert {"httpie", "python", "fetch"} <= {s["id"] for s in repeated["snippets"]}
    for snippet in ("#snippet-httpie", "#snippet-python", "#snippet-fetch"):
        assert page.locator(snippet).inner_text()


def test_the_body_inspector(server: LiveServer, user: Watched) -> None:
    page = user.page
    send(server, "POST", "/v1/echo?kind=json", json={"order": {"id": 7, "items": ["apple", "pear"], "note": None}})
    event = newest(server, q="kind=json")
    page.goto(f"{server.url}/portal/audit/{event['id']}#request")
    assert page.locator("#request-body-tree details").count() >= 2
    assert page.locator("#request-body-tree .j-key", has_text='"items"').count() == 1
    page.fill("#request-body-search", "pear")
    page.wait_for_selector("#request-body-shown mark.hit")
    assert page.inner_text("#request-body-search-count") == "2 matches"  # in the tree and in the pretty JSON
    page.locator("#request-body-tree").scroll_into_view_if_needed()
    user.shot("event-body")
    page.click("#request-body-tree summary >> nth=0")  # collapsible
    open_tab(page, "response")
    assert page.locator("#response-body-pretty .hl-nt").count() >= 1 or page.locator("#response-body-tree").count()

    send(
        server,
        "POST",
        "/v1/echo?kind=form",
        content=b"a=1&b=x+y&c=%E2%82%AC",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    event = newest(server, q="kind=form")
    page.goto(f"{server.url}/portal/audit/{event['id']}#request")
    assert page.locator("#request-body-form tbody tr").all_inner_texts() == ["a\t1", "b\tx y", "c\t€"]

    files = {"file": ("pic.png", b"\x89PNG\r\n\x1a\n\x00\x01", "image/png")}
    send(server, "POST", "/v1/echo?kind=multipart", data={"field": "value"}, files=files)
    event = newest(server, q="kind=multipart")
    page.goto(f"{server.url}/portal/audit/{event['id']}#request")
    parts = page.locator("#request-body-parts tbody tr").all_inner_texts()
    assert any("field" in p and "value" in p for p in parts) and any("pic.png" in p and "binary" in p for p in parts)
    assert "89 50 4e 47" in page.inner_text("#request-body-hex")
    with page.expect_download() as download:
        page.click("#request-body-download")
    assert Path(download.value.path()).read_bytes().count(b"\x89PNG") == 1


def test_edit_and_resend_compare_and_neighbours(server: LiveServer, user: Watched) -> None:
    page = user.page
    send(server, "POST", "/v1/echo?kind=edit", json={"n": 1}, headers={"X-Step": "one"})
    first = newest(server, q="kind=edit")
    page.goto(f"{server.url}/portal/audit/{first['id']}")
    page.click("#edit-resend")
    page.wait_for_url("**/portal/resend?from=*")
    assert page.input_value("#resend-method") == "POST" and page.input_value("#resend-path") == "/v1/echo"
    assert "X-Step: one" in page.input_value("#resend-headers")
    assert "X-Api-Key" not in page.input_value("#resend-headers")  # the redacted credential stays out
    page.fill("#resend-path", "/v1/echo")
    page.fill("#resend-headers", page.input_value("#resend-headers").replace("one", "two"))
    page.fill("#resend-body", '{"n": 2}')
    page.click("#resend-send")
    page.wait_for_url("**/portal/resend?result=*")
    assert '"n": 2' in page.inner_text("#resend-result")
    page.reload()  # POST-redirect-GET: a reload shows the result again and sends nothing
    assert page.url.count("result=") == 1

    page.click("#resend-event")
    assert page.locator("#compare-previous").count() == 1
    assert page.locator("#request-headers tr.diff-changed", has_text="X-Step").count() == 1
    page.click("#compare-previous")
    assert page.locator("#request-headers-diff tr.diff-changed", has_text="X-Step").count() == 1
    page.go_back()
    page.click("#older-event")
    assert page.locator("#newer-event").count() == 1

    page.goto(f"{server.url}/portal/audit/{first['id']}")
    page.click("#replay")
    page.wait_for_url("**replayed_from=*")
    page.click("#compare-original")
    assert "Compare two requests" in page.inner_text("h1")


def test_rejected_and_anonymous_callers_are_labelled_as_in_the_list(browser: Any, tmp_path: Path) -> None:  # noqa: F811
    with portal_server(tmp_path, {"auth": {"allow_anonymous": True}}) as anon:
        httpx.get(anon.url + "/v1/whoami", timeout=10)  # allowed: anonymous
        httpx.get(anon.url + "/v1/whoami", headers={"X-API-Key": "wrong"}, timeout=10)  # rejected
        settle(anon)
        rows = send(anon, "GET", "/api/v1/portal/audit/events", params={"route_name": "whoami"}).json()["events"]
        by_status = {e["status"]: e["id"] for e in rows}
        for watched in watch(browser, anon):
            watched.sign_in()
            watched.page.goto(f"{anon.url}/portal/audit/{by_status[401]}")
            assert watched.page.inner_text("#caller") == "none (rejected)"
            watched.page.goto(f"{anon.url}/portal/audit/{by_status[200]}")
            assert watched.page.inner_text("#caller") == "anonymous"


def test_durations_show_microseconds(server: LiveServer, user: Watched) -> None:
    send(server, "GET", "/v1/whoami?kind=timing")
    event = newest(server, q="timing")
    user.page.goto(f"{server.url}/portal/audit/{event['id']}")
    assert user.page.inner_text("#lead-duration") == f"{event['duration_ms']:,.3f} ms"


def test_try_it_query_line_example_body_pretty_result_and_reload(server: LiveServer, user: Watched) -> None:
    page = user.page
    page.goto(server.url + "/portal/endpoints/streaming_ndjson")
    page.fill("#try-query", "count=3&delay_ms=100")
    page.click("#try-send")
    page.wait_for_url("**/portal/endpoints/streaming_ndjson?result=*")
    event = newest(server, source="tryit")
    assert event["payload"]["request_query"] == {"count": ["3"], "delay_ms": ["100"]}

    page.goto(server.url + "/portal/endpoints/validate")
    example = page.input_value("#try-body")
    assert '"customer_email": "ada@example.com"' in example and '"sku": "ABC-1234"' in example
    page.click("#try-send")
    page.wait_for_url("**/portal/endpoints/validate?result=*")
    assert page.inner_text("#try-result h2").endswith("200")
    assert page.locator("#try-body-out-tree details").count() >= 1  # a JSON answer is a tree
    pretty = page.evaluate("document.querySelector('#try-body-out-pretty').textContent")
    assert '\n  "customer_email": "ada@example.com",\n' in pretty  # and pretty-printed, one field a line
    count = len(send(server, "GET", "/api/v1/portal/audit/events", params={"source": "tryit"}).json()["events"])
    page.reload()
    assert page.locator("#try-result").is_visible()
    settle(server)
    again = len(send(server, "GET", "/api/v1/portal/audit/events", params={"source": "tryit"}).json()["events"])
    assert again == count  # the reload was a GET: nothing was sent again


def test_the_event_page_is_keyboard_reachable(server: LiveServer, user: Watched) -> None:
    send(server, "POST", "/v1/echo?kind=keys", json={"deep": {"er": [1, 2]}})
    event = newest(server, q="kind=keys")
    page = user.page
    page.goto(f"{server.url}/portal/audit/{event['id']}")

    def tab_to(predicate: str, limit: int = 60) -> None:
        for _ in range(limit):
            page.keyboard.press("Tab")
            if page.evaluate(predicate):
                return
        pytest.fail(f"not reachable with Tab: {predicate}")

    tab_to("document.activeElement.id === 'edit-resend'")
    tab_to("document.activeElement.getAttribute('href') === '#overview'")
    for _ in range(2):
        page.keyboard.press("ArrowRight")
    page.keyboard.press("Enter")
    assert page.locator("#request").is_visible()
    tab_to("document.activeElement.id === 'request-body-search'")
    page.keyboard.type("er")
    page.wait_for_selector("#request-body-shown mark.hit")
    tab_to("document.activeElement.tagName === 'SUMMARY'")
    page.keyboard.press("Enter")  # a tree node folds with the keyboard
