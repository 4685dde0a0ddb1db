"""``/docs`` in a real browser: Swagger UI renders under the page's CSP with no request leaving the
machine, and "Try it out" reaches the fixture."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

from tests.support import LiveServer, free_port, make_app

pytestmark = pytest.mark.browser

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture
def server() -> Iterator[LiveServer]:
    """A live server whose base URL (the document's ``servers[0]``, Try-It's target) is its own address."""
    port = free_port()
    running = LiveServer(make_app({"server": {"base_url": f"http://127.0.0.1:{port}"}}))
    running.port = running.config.port = port
    running.start()
    try:
        yield running
    finally:
        running.stop()


@pytest.mark.skipif(CHROMIUM is None, reason="no system Chromium")
def test_docs_renders_offline_under_its_csp_and_try_it_works(server: LiveServer) -> None:
    from playwright.sync_api import Route, sync_playwright

    remote: list[str] = []
    problems: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = browser.new_page()

            def only_local(route: Route) -> None:
                if urlsplit(route.request.url).hostname != "127.0.0.1":
                    remote.append(route.request.url)
                    route.abort()
                else:
                    route.continue_()

            page.route("**/*", only_local)
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: problems.append(str(e)))
            page.goto(server.url + "/docs")
            operation = page.locator("#operations-identity-whoami")
            operation.wait_for(timeout=15000)
            assert page.locator(".opblock").count() == len(server.config.app.state.services.routes)
            operation.locator(".opblock-summary").click()
            page.get_by_role("button", name="Try it out").click()
            page.get_by_role("button", name="Execute").click()
            status = page.locator(".live-responses-table tr.response .response-col_status").first
            status.wait_for(timeout=10000)
            assert status.inner_text().strip() == "200"
            assert '"auth_type": "anonymous"' in page.locator(".live-responses-table .microlight").first.inner_text()
        finally:
            browser.close()
    assert remote == []
    assert problems == []
