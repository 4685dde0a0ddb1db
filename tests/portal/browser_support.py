"""Real-browser fixtures: the system Chromium through Playwright, a live portal on 127.0.0.1, and a page that
records console errors, uncaught exceptions and dialogs (any of them fails the test).

Screenshots for the docs: set ``APITEST_SCREENSHOTS=docs/images`` (``make screenshots``).
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.portal.conftest import KEY, portal_overrides
from tests.support import LiveServer, deep_merge, free_port, make_app

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
VIEWPORT = {"width": 1280, "height": 800}
SCREENSHOTS = os.environ.get("APITEST_SCREENSHOTS", "")


def wait_for_chromium(timeout: float = 600) -> str:
    """The system Chromium, waiting for a running apt install to finish; fails the test when absent."""
    deadline = time.monotonic() + timeout
    while not os.access(CHROMIUM, os.X_OK):
        if time.monotonic() > deadline:
            pytest.fail(f"{CHROMIUM} not found: install it (apt-get install -y chromium); .ci/run does")
        time.sleep(2)
    return CHROMIUM


@contextlib.contextmanager
def portal_server(
    tmp_path: Path, extra: dict[str, Any] | None = None, base_host: str = "127.0.0.1"
) -> Iterator[LiveServer]:
    """The portal app on 127.0.0.1 with an SQLite audit log; its base URL is its real address (or the same
    port on ``base_host``, e.g. ``localhost``)."""
    port = free_port()
    overrides = portal_overrides(
        tmp_path, deep_merge({"server": {"base_url": f"http://{base_host}:{port}"}}, extra or {})
    )
    server = LiveServer(make_app(overrides))
    server.port = server.config.port = port
    server.start()
    try:
        yield server
    finally:
        server.stop()


def send(server: LiveServer, method: str, path: str, **kwargs: Any) -> httpx.Response:
    headers = {"X-API-Key": KEY, **kwargs.pop("headers", {})}
    return httpx.request(method, server.url + path, headers=headers, timeout=10, **kwargs)


def settle(server: LiveServer) -> None:
    """Wait until the audit writer has stored everything accepted so far: the events API's ``flush=1`` writes
    what the writer holds, including a batch it is writing (which no longer counts as queued)."""
    response = send(server, "GET", "/api/v1/portal/audit/events", params={"limit": "1", "flush": "1"})
    assert response.status_code == 200, response.text


@dataclass
class Watched:
    page: Any
    origin: str
    problems: list[str] = field(default_factory=list)

    def sign_in(self, key: str = KEY) -> None:
        self.page.goto(self.origin + "/portal/login")
        self.page.fill("#api_key", key)
        self.page.click("text=Sign in with API key")
        self.page.wait_for_url(self.origin + "/portal/")

    def shot(self, name: str) -> None:
        if SCREENSHOTS:
            Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
            self.page.screenshot(path=str(Path(SCREENSHOTS) / f"portal-{name}.png"))


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    executable = wait_for_chromium()
    with sync_playwright() as pw:
        instance = pw.chromium.launch(executable_path=executable, args=ARGS)
        try:
            yield instance
        finally:
            instance.close()


def watch(browser: Any, server: LiveServer, color_scheme: str = "light") -> Iterator[Watched]:
    context = browser.new_context(viewport=VIEWPORT, color_scheme=color_scheme)
    page = context.new_page()
    watched = Watched(page, server.url)

    def on_console(message: Any) -> None:
        if message.type == "error" and message.location.get("url", "").startswith(server.url):
            watched.problems.append(f"console error on {page.url}: {message.text}")

    def on_dialog(dialog: Any) -> None:
        watched.problems.append(f"dialog ({dialog.type}) on {page.url}: {dialog.message}")
        dialog.dismiss()

    page.on("console", on_console)
    page.on("pageerror", lambda exc: watched.problems.append(f"uncaught exception on {page.url}: {exc}"))
    page.on("dialog", on_dialog)
    try:
        yield watched
    finally:
        context.close()
    if watched.problems:
        pytest.fail("the browser reported problems:\n" + "\n".join(watched.problems))
