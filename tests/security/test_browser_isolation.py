"""In Chromium: a signed-in portal user who opens attacker HTML served by the fixture
(``/v1/respond?content_type=text/html&body=<script>…``) runs no script, and the document has an opaque origin,
so it cannot read a CSRF token from a portal page or call the portal and admin APIs with the session.

The attack script is checked to work where it is not sandboxed (run in a portal page), so the sandboxed run
failing means the sandbox stopped it. It uses synchronous XMLHttpRequest so that, had it run, it would have
finished before the page's load event: nothing here waits for something not to happen.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from tests.portal.browser_support import browser  # noqa: F401
from tests.portal.conftest import KEY
from tests.security.conftest import running
from tests.support import LiveServer

pytestmark = pytest.mark.security

ADMIN = {"X-API-Key": KEY}


def attack(name: str) -> str:
    """Read a CSRF token from the keys page, mint an admin key with the session, read /me; leave a marker."""
    return f"""
(() => {{
  const get = (path) => {{ const x = new XMLHttpRequest(); x.open('GET', path, false); x.send(); return x; }};
  const page = get('/portal/keys').responseText;
  const m = page.match(/name="csrf_token" value="([^"]+)"/);
  const x = new XMLHttpRequest();
  x.open('POST', '/api/v1/admin/keys', false);
  x.setRequestHeader('Content-Type', 'application/json');
  x.setRequestHeader('X-CSRF-Token', m ? m[1] : '');
  x.send(JSON.stringify({{name: '{name}', scopes: ['admin']}}));
  const me = get('/api/v1/portal/me').responseText;
  get('/v1/echo?marker={name}');
  document.title = 'pwned ' + x.status + ' ' + me.length;
  return x.status;
}})()
""".strip()


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    extra = {"auth": {"allow_anonymous": True}}  # the marker request needs no credential
    with running(tmp_path_factory.mktemp("browser"), extra) as server:
        yield server


def key_names(server: LiveServer) -> set[str]:
    return {k["name"] for k in httpx.get(server.url + "/api/v1/admin/keys", headers=ADMIN).json()["keys"]}


def signed_in_page(browser: Any, server: LiveServer) -> Any:  # noqa: F811
    context = browser.new_context()
    page = context.new_page()
    page.goto(server.url + "/portal/login")
    page.fill("#api_key", KEY)
    page.click("text=Sign in with API key")
    page.wait_for_url(server.url + "/portal/")
    return page


def test_the_attack_works_where_it_is_not_sandboxed(browser: Any, live: LiveServer) -> None:  # noqa: F811
    page = signed_in_page(browser, live)
    try:
        assert page.evaluate(attack("control-key")) == 201
        assert page.title().startswith("pwned 201")
    finally:
        page.context.close()
    assert "control-key" in key_names(live)


def test_attacker_html_from_the_fixture_cannot_act_on_the_portal(browser: Any, live: LiveServer) -> None:  # noqa: F811
    page = signed_in_page(browser, live)
    blocked: list[str] = []
    page.on("console", lambda message: blocked.append(message.text))
    html = f"<title>attack</title><p id=loaded>loaded</p><script>{attack('sandboxed-key')}</script>"
    try:
        response = page.goto(f"{live.url}/v1/respond?content_type=text/html&body={quote(html)}")
        assert response is not None and response.status == 200
        assert page.text_content("#loaded") == "loaded"  # the HTML was rendered ...
        assert page.title() == "attack"  # ... and its script did not run
        assert page.evaluate("window.origin") == "null"  # an opaque origin: nothing of the portal's is its own
        assert any("sandboxed" in text and "allow-scripts" in text for text in blocked), blocked
        # The session still works in the portal itself: the attack failed, not the sign-in.
        page.goto(live.url + "/portal/keys")
        assert page.locator("#create-key").count() == 1
    finally:
        page.context.close()
    assert "sandboxed-key" not in key_names(live)
