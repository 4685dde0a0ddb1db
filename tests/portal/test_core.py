"""Boot checks of the portal component."""

from __future__ import annotations

import logging

import pytest

from apitest.config import ConfigError
from apitest.portal.core import boot_warnings
from tests.support import make_app, make_settings

SECRET = "a-cookie-secret-of-32-bytes-long"


def test_empty_cookie_secret_refuses_to_start() -> None:
    with pytest.raises(ConfigError) as info:
        make_settings({"portal": {"enabled": True, "cookie_secret": ""}})
    assert "session store: portal.cookie_secret is empty" in str(info.value)


def test_short_cookie_secret_refuses_to_start() -> None:
    with pytest.raises(ConfigError, match="cookie_secret is too short"):
        make_settings({"portal": {"enabled": True, "cookie_secret": "short"}})


@pytest.mark.parametrize(
    ("portal", "base_url", "expected"),
    [
        ({"cookie_secure": True}, "http://localhost:8080", ["browsers will not send the session cookie back"]),
        ({"cookie_secure": True}, "https://fixture.example", []),
        ({"allow_anonymous": True}, "http://localhost:8080", ["portal.allow_anonymous is on"]),
        ({}, "http://localhost:8080", []),
    ],
)
def test_boot_warnings(portal: dict[str, object], base_url: str, expected: list[str]) -> None:
    settings = make_settings(
        {"portal": {"enabled": True, "cookie_secret": SECRET, **portal}, "server": {"base_url": base_url}}
    )
    warnings = boot_warnings(settings)
    assert len(warnings) == len(expected)
    for warning, fragment in zip(warnings, expected, strict=True):
        assert fragment in warning


def test_warnings_are_logged_when_the_app_is_built(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="apitest.portal"):
        make_app({"portal": {"enabled": True, "cookie_secret": SECRET, "allow_anonymous": True, "cookie_secure": True}})
    messages = [r.getMessage() for r in caplog.records if r.name == "apitest.portal"]
    assert len(messages) == 2


def test_portal_routes_exist_only_when_enabled() -> None:
    off = make_app()
    assert not [r for r in off.routes if getattr(r, "path", "").startswith(("/portal", "/api/v1/portal"))]
    on = make_app({"portal": {"enabled": True, "cookie_secret": SECRET}})
    assert any(getattr(r, "path", "") == "/api/v1/portal/audit/events" for r in on.routes)
