from __future__ import annotations

import pytest

from apitest.webhooks.targets import TargetRefused, check_resolved, check_url


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("https://hooks.example.com/x", ["hooks.example.com"]),
        ("https://a.example.com/x", ["*.example.com"]),
        ("http://127.0.0.1:9000/hook", ["127.0.0.1"]),
        ("http://[::1]:9000/hook", ["[::1]"]),
        ("http://LOCALHOST:1/hook", ["localhost"]),
    ],
)
def test_listed_hosts_pass(url: str, allowed: list[str]) -> None:
    check_url(url, allowed)


@pytest.mark.parametrize(
    ("url", "allowed", "message"),
    [
        ("https://evil.test/x", ["hooks.example.com"], "not in webhooks.allowed_hosts"),
        ("https://example.com/x", ["*.example.com"], "not in webhooks.allowed_hosts"),
        ("https://hooks.example.com/x", [], "not in webhooks.allowed_hosts"),
        ("ftp://hooks.example.com/x", ["hooks.example.com"], "http:// or https://"),
        ("https://user:pw@hooks.example.com/x", ["hooks.example.com"], "user name or password"),
        ("https:///x", ["hooks.example.com"], "no host"),
        ("http://hooks.example.com:99999/x", ["hooks.example.com"], "url:"),
    ],
)
def test_refused(url: str, allowed: list[str], message: str) -> None:
    with pytest.raises(TargetRefused, match=message):
        check_url(url, allowed)


async def test_loopback_only_when_listed_exactly() -> None:
    await check_resolved("http://127.0.0.1:1/x", ["127.0.0.1"])
    await check_resolved("http://localhost:1/x", ["localhost"])
    with pytest.raises(TargetRefused, match="not in webhooks.allowed_hosts"):
        await check_resolved("http://127.0.0.1:1/x", ["localhost.example"])


@pytest.mark.parametrize("address", ["127.0.0.1", "169.254.169.254", "::1", "0.0.0.0"])
async def test_a_listed_name_resolving_to_a_special_address_is_refused(
    address: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import asyncio
    import socket

    async def fake(host: str, port: object, **kwargs: object) -> list[tuple[object, ...]]:
        assert host == "hooks.example.com"
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, 0))]

    monkeypatch.setattr(asyncio.get_running_loop(), "getaddrinfo", fake)
    with pytest.raises(TargetRefused, match=f"resolves to {address}"):
        await check_resolved("https://hooks.example.com/x", ["hooks.example.com"])


async def test_a_listed_public_name_passes(monkeypatch: pytest.MonkeyPatch) -> None:
    import asyncio
    import socket

    async def fake(host: str, port: object, **kwargs: object) -> list[tuple[object, ...]]:
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.34", 0))]

    monkeypatch.setattr(asyncio.get_running_loop(), "getaddrinfo", fake)
    await check_resolved("https://hooks.example.com/x", ["hooks.example.com"])
