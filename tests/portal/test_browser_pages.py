"""Every portal page in a real browser, light and dark, without console errors; API keys created and revoked.

With ``APITEST_SCREENSHOTS=docs/images`` (``make screenshots``) it also saves the screenshots used in
``docs/portal.md``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.portal.browser_support import Watched, browser, portal_server, send, settle, watch  # noqa: F401
from tests.support import LiveServer

pytestmark = pytest.mark.browser

PAGES = [
    ("dashboard", "/portal/"),
    ("audit", "/portal/audit"),
    ("endpoints", "/portal/endpoints"),
    ("endpoint", "/portal/endpoints/echo_post"),
    ("keys", "/portal/keys"),
    ("config", "/portal/config"),
    ("discovery", "/portal/discovery"),
    ("about", "/portal/about"),
]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with portal_server(tmp_path_factory.mktemp("pages")) as running:
        for i in range(30):
            send(running, "GET", "/v1/whoami")
            send(running, "GET", f"/v1/status/{(200, 201, 404, 500, 503)[i % 5]}")
        send(running, "POST", "/v1/echo?page=1", json={"order": {"id": 7, "items": ["a", "b"]}})
        send(running, "GET", "/v1/whoami", headers={"X-API-Key": "wrong"})
        settle(running)
        yield running


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_every_page_in_light_and_dark(browser: Any, server: LiveServer, scheme: str) -> None:  # noqa: F811
    for watched in watch(browser, server, color_scheme=scheme):
        watched.sign_in()
        page = watched.page
        backgrounds = set()
        for name, path in PAGES:
            response = page.goto(server.url + path)
            assert response is not None and response.status == 200, (path, response and response.status)
            assert page.locator("h1").count() == 1
            backgrounds.add(page.evaluate("getComputedStyle(document.body).backgroundColor"))
            if scheme == "light" and name not in ("audit", "keys"):  # other tests take these, with data
                watched.shot(name)
            elif name == "dashboard":
                watched.shot("dashboard-dark")  # one dark example for the docs keeps the images few
        assert backgrounds == {"rgb(246, 247, 249)"} if scheme == "light" else {"rgb(18, 21, 27)"}
        event = page.request.get(server.url + "/api/v1/portal/audit/events?method=POST").json()["events"][0]
        page.goto(f"{server.url}/portal/audit/{event['id']}")
        events = page.request.get(server.url + "/api/v1/portal/audit/events?route_name=status&limit=2").json()
        a, b = (e["id"] for e in events["events"])
        page.goto(f"{server.url}/portal/audit/compare?a={a}&b={b}")
        assert page.locator("#overview-diff tr.diff-changed").count() >= 1
        if scheme == "light":
            watched.shot("compare")


def test_theme_toggle_overrides_the_system_setting(browser: Any, server: LiveServer) -> None:  # noqa: F811
    for watched in watch(browser, server, color_scheme="light"):
        watched.sign_in()
        page = watched.page
        page.click("#theme-toggle")
        assert page.get_attribute("html", "data-theme") == "dark"
        page.reload()
        assert page.evaluate("getComputedStyle(document.body).backgroundColor") == "rgb(18, 21, 27)"
        page.click("#theme-toggle")
        page.click("#theme-toggle")
        assert page.get_attribute("html", "data-theme") is None


def test_keyboard_reaches_the_navigation(browser: Any, server: LiveServer) -> None:  # noqa: F811
    for watched in watch(browser, server):
        watched.sign_in()
        page = watched.page
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.className") == "skip"
        for _ in range(10):
            page.keyboard.press("Tab")
            if page.evaluate("document.activeElement.textContent.trim()") == "Audit":
                break
        else:
            pytest.fail("the Audit link cannot be reached with Tab")
        page.keyboard.press("Enter")
        page.wait_for_url("**/portal/audit")


def test_create_and_revoke_a_key(browser: Any, server: LiveServer) -> None:  # noqa: F811
    for watched in watch(browser, server):
        watched.sign_in()
        page = watched.page
        page.goto(server.url + "/portal/keys")
        page.fill("#key-name", "browser-made")
        page.fill("#key-scopes", "read")
        page.click("#create")
        plaintext = page.input_value("#plaintext")
        assert plaintext.startswith("at_") and len(plaintext) == 46
        assert page.is_visible("button[data-copy='#plaintext']")
        watched.shot("keys-created")
        assert send(server, "GET", "/v1/whoami", headers={"X-API-Key": plaintext}).json()["subject"] == "browser-made"
        row = page.locator("tr[data-key='browser-made']")
        row.locator("summary").click()
        row.locator("button.danger").click()
        page.wait_for_url("**/portal/keys?revoked=browser-made")
        assert "revoked" in page.locator("tr[data-key='browser-made']").inner_text()
        assert plaintext not in page.content()
        assert send(server, "GET", "/v1/whoami", headers={"X-API-Key": plaintext}).status_code == 401
