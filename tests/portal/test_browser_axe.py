"""axe-core over every portal page: no serious or critical accessibility violation.

axe-core comes from the ``axe-playwright-python`` package (it bundles ``axe.min.js``). The pages forbid
inline script by their Content-Security-Policy, so the checking context bypasses the CSP to inject it;
the portal's own script still runs as in any browser.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.portal.browser_support import ARGS, VIEWPORT, Watched, portal_server, send, settle, wait_for_chromium
from tests.support import LiveServer

pytestmark = pytest.mark.browser
EXTRA = {
    "endpoints": {"lab": {"enabled": True}},
    "webhooks": {"enabled": True, "allowed_hosts": ["127.0.0.1"], "poll_interval": "50ms", "max_attempts": 1},
}
BLOCKING = ("serious", "critical")


def axe_source() -> str:
    import axe_playwright_python

    return (Path(axe_playwright_python.__file__).parent / "axe.min.js").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with portal_server(tmp_path_factory.mktemp("axe"), EXTRA) as running:
        send(running, "POST", "/v1/echo?n=1", json={"hello": "world"}, headers={"X-Trace": "abc"})
        send(running, "GET", "/v1/status/503")
        settle(running)
        yield running


@pytest.fixture(scope="module")
def checker(server: LiveServer) -> Iterator[Watched]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=wait_for_chromium(), args=ARGS)
        try:
            context = browser.new_context(viewport=VIEWPORT, bypass_csp=True)
            watched = Watched(context.new_page(), server.url)
            yield watched
        finally:
            browser.close()


def violations(page: Any, source: str) -> list[str]:
    page.evaluate(source)
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}"
        for v in result["violations"]
        if v["impact"] in BLOCKING
    ]


def event_ids(server: LiveServer, page: Any) -> list[str]:
    page.goto(server.url + "/portal/audit")
    return [page.locator("#events tbody tr").nth(i).get_attribute("data-event-id") for i in range(2)]


def test_every_page_is_clean_under_axe(server: LiveServer, checker: Watched) -> None:
    source = axe_source()
    page = checker.page
    found: dict[str, list[str]] = {}
    page.goto(server.url + "/portal/login")
    found["/portal/login"] = violations(page, source)
    checker.sign_in()
    a, b = event_ids(server, page)
    pages = [
        "/portal/",
        "/portal/?last=abc",
        "/portal/audit",
        "/portal/audit?status=5xx&group=identity",
        "/portal/audit?compare=incomplete&a=" + a,
        f"/portal/audit/{a}",
        f"/portal/audit/compare?a={a}&b={b}",
        "/portal/audit/views",
        "/portal/endpoints",
        "/portal/endpoints/echo_post",
        "/portal/keys",
        "/portal/webhooks",
        "/portal/config",
        "/portal/discovery",
        "/portal/about",
        "/portal/no-such-page",
    ]
    for path in pages:
        page.goto(server.url + path)
        assert path == "/portal/no-such-page" or not page.title().startswith("Not found"), path
        found[path] = violations(page, source)
    problems = {path: v for path, v in found.items() if v}
    assert not problems, "\n".join(f"{path}: {v}" for path, v in problems.items())
