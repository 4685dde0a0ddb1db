"""Host names as the portal's Host allow-list compares them, and its default."""

from __future__ import annotations

import pytest

from apitest.config import ConfigError
from apitest.config.hosts import default_allowed_hosts, host_name, is_loopback
from tests.support import make_settings


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Example.COM", "example.com"),
        ("example.com:8080", "example.com"),
        ("127.0.0.1:1", "127.0.0.1"),
        ("[::1]:8080", "[::1]"),
        ("[::1]", "[::1]"),
        (" localhost ", "localhost"),
        ("", ""),
    ],
)
def test_host_name(value: str, expected: str) -> None:
    assert host_name(value) == expected


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.1.2.3", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("", False),
        ("10.0.0.1", False),
        ("example.com", False),
    ],
)
def test_is_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_default_allowed_hosts() -> None:
    assert default_allowed_hosts("http://user@localhost:8080") == ["localhost", "127.0.0.1", "[::1]"]
    assert default_allowed_hosts("") == ["localhost", "127.0.0.1", "[::1]"]


@pytest.mark.parametrize("host", ["portal.example", "10.0.0.5", "[::1]", "localhost:8443", "[fe80::1]:80"])
def test_allowed_hosts_take_names_and_addresses(host: str) -> None:
    assert make_settings({"portal": {"allowed_hosts": [host]}}).portal.allowed_hosts == [host]


@pytest.mark.parametrize("host", ["*", "https://portal.example", "portal.example/x", "a b"])
def test_allowed_hosts_refuse_other_values(host: str) -> None:
    with pytest.raises(ConfigError, match="portal.allowed_hosts"):
        make_settings({"portal": {"allowed_hosts": [host]}})


def test_allowed_hosts_default_to_the_base_url_host_and_loopback() -> None:
    settings = make_settings(
        {"server": {"base_url": "https://Fixture.Example:8443/x"}, "portal": {"allowed_hosts": []}}
    )
    assert settings.portal.allowed_hosts == ["fixture.example", "localhost", "127.0.0.1", "[::1]"]
