"""The Discovery page's TLS lab table: the listeners from apitest/tls/lab.py, with their URLs and errors."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from markupsafe import escape

from apitest.tls.lab import LISTENERS, SHA1_UNAVAILABLE
from tests.conftest import ClientFactory
from tests.portal.conftest import portal_overrides, sign_in
from tests.portal.test_api import H


@pytest.fixture
async def lab_portal(client_factory: ClientFactory, tmp_path: Path) -> httpx.AsyncClient:
    extra = {"tls_lab": {"enabled": True, "dir": str(tmp_path / "tls"), "ports": {"valid": 18443, "expired": 18449}}}
    return await client_factory(portal_overrides(tmp_path, extra))


async def test_discovery_json_lists_the_lab(lab_portal: httpx.AsyncClient) -> None:
    body = (await lab_portal.get("/api/v1/portal/discovery", headers=H)).json()["tls_lab"]
    assert body["enabled"] is True and body["hosts"] == ["localhost"]
    rows = {row["name"]: row for row in body["listeners"]}
    assert list(rows) == [listener.name for listener in LISTENERS]
    assert rows["valid"]["url"] == "https://localhost:18443/v1/"
    assert rows["expired"]["url"] == "https://localhost:18449/v1/"
    assert rows["self-signed"]["url"] == ""
    for listener in LISTENERS:
        row = rows[listener.name]
        assert (row["curl"], row["openssl"], row["python"]) == (listener.curl, listener.openssl, listener.python)
    assert body["sha1"] == SHA1_UNAVAILABLE


async def test_discovery_page_shows_the_errors(lab_portal: httpx.AsyncClient) -> None:
    assert (await sign_in(lab_portal)).status_code == 303
    page = (await lab_portal.get("/portal/discovery")).text
    assert 'id="tls-listeners"' in page
    for listener in LISTENERS:
        for text in (listener.curl, listener.openssl, listener.python, listener.nginx, listener.haproxy):
            assert str(escape(text)) in page, text
    assert "https://localhost:18443/v1/" in page
    assert str(escape(SHA1_UNAVAILABLE)) in page
