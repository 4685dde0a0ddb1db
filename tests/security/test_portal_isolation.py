"""A cross-site page and a DNS rebinding page cannot reach the portal, its JSON API or the admin API: no CORS
there, and any Host outside portal.allowed_hosts is a 421. /v1 keeps CORS and any Host."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.portal.conftest import KEY
from tests.security.conftest import running
from tests.support import LiveServer

pytestmark = pytest.mark.security

EVIL = "https://evil.example"
SAME_ORIGIN_PATHS = [
    "/portal/",
    "/portal/login",
    "/portal/audit",
    "/portal/static/portal.css",
    "/api/v1/portal/me",
    "/api/v1/portal/config",
    "/api/v1/portal/audit/events",
    "/api/v1/admin/keys",
    "/api/v1/admin/webhooks",  # not served (yet): the prefix is protected, not a list of routes
]


def raw(port: int, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """One request on a fresh connection, answered with Connection: close (so the Host header is exact)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(request)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(lines[0].split(" ")[1]), headers, body


def get(port: int, path: str, host: str, extra: str = "") -> tuple[int, dict[str, str], bytes]:
    request = f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n{extra}\r\n"
    return raw(port, request.encode())


@pytest.fixture(scope="module")
def dev_like(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """The dev profile's openness: anonymous /v1 and an anonymous portal, CORS for any origin (one server for
    the module: these tests only read)."""
    extra = {"auth": {"allow_anonymous": True}, "portal": {"allow_anonymous": True}}
    with running(tmp_path_factory.mktemp("isolation"), extra) as live:
        yield live


@pytest.mark.parametrize("path", SAME_ORIGIN_PATHS)
def test_no_cors_on_the_portal_and_admin_paths(dev_like: LiveServer, path: str) -> None:
    with httpx.Client(base_url=dev_like.url, timeout=10) as client:
        read = client.get(path, headers={"Origin": EVIL})
        preflight = client.options(
            path,
            headers={
                "Origin": EVIL,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "x-csrf-token",
            },
        )
    for response in (read, preflight):
        assert not [h for h in response.headers if h.lower().startswith("access-control-")], (path, response.headers)
    assert preflight.status_code != 204


def test_the_fixture_keeps_cors(dev_like: LiveServer) -> None:
    with httpx.Client(base_url=dev_like.url, timeout=10) as client:
        read = client.get("/v1/whoami", headers={"Origin": EVIL})
        preflight = client.options("/v1/echo", headers={"Origin": EVIL, "Access-Control-Request-Method": "PUT"})
    assert read.headers["access-control-allow-origin"] == "*"
    assert (preflight.status_code, preflight.headers["access-control-allow-origin"]) == (204, "*")


def test_a_cross_site_page_cannot_read_the_audit_log_or_config(dev_like: LiveServer) -> None:
    """What a browser would allow: a response without Access-Control-Allow-Origin is opaque to the page."""
    with httpx.Client(base_url=dev_like.url, timeout=10) as client:
        for path in ("/api/v1/portal/audit/events", "/api/v1/portal/config", "/api/v1/portal/me"):
            response = client.get(path, headers={"Origin": EVIL, "Sec-Fetch-Site": "cross-site"})
            assert "access-control-allow-origin" not in response.headers


@pytest.mark.parametrize("path", SAME_ORIGIN_PATHS)
@pytest.mark.parametrize("host", ["evil.example", "evil.example:80", "127.0.0.1.nip.io", "localhost.evil.example", ""])
def test_a_foreign_host_is_misdirected(dev_like: LiveServer, path: str, host: str) -> None:
    status, headers, body = get(dev_like.port, path, host, f"X-API-Key: {KEY}\r\n")
    assert status == 421, (path, host, body)
    if path.startswith("/portal"):
        assert headers["content-type"].startswith("text/html") and b"portal.allowed_hosts" in body
        assert b"<script" not in body.lower()
    else:
        assert headers["content-type"] == "application/json"
        assert b"portal.allowed_hosts" in body
    assert "set-cookie" not in headers


def test_dns_rebinding_reads_nothing(dev_like: LiveServer) -> None:
    """A page on rebind.evil.example whose name now resolves to 127.0.0.1: same origin for the browser, so the
    fetch carries Host: rebind.evil.example:<port>; the portal refuses it, even with the anonymous portal on."""
    host = f"rebind.evil.example:{dev_like.port}"
    for path in ("/api/v1/portal/audit/events", "/api/v1/portal/config", "/portal/keys", "/api/v1/admin/keys"):
        status, _, body = get(dev_like.port, path, host)
        assert status == 421, body
        assert b'"events"' not in body and b'"keys"' not in body and b"cookie_secret" not in body


@pytest.mark.parametrize(
    "host", ["127.0.0.1", "localhost", "[::1]", "LOCALHOST", "127.0.0.1:{port}", "localhost:{port}"]
)
def test_the_allowed_hosts_are_answered(dev_like: LiveServer, host: str) -> None:
    status, _, _ = get(dev_like.port, "/api/v1/portal/me", host.format(port=dev_like.port))
    assert status == 200


def test_the_fixture_answers_any_host(dev_like: LiveServer) -> None:
    for host in ("gateway.internal", "evil.example", "api.example:8443"):
        status, headers, _ = get(dev_like.port, "/v1/whoami", host)
        assert status == 200 and headers["content-security-policy"].startswith("sandbox")


def test_the_base_url_host_and_configured_hosts(tmp_path: Path) -> None:
    with running(tmp_path, {"server": {"base_url": "https://fixture.example"}}) as live:
        assert get(live.port, "/portal/login", "fixture.example")[0] == 200
        assert get(live.port, "/portal/login", "127.0.0.1")[0] == 200
        assert get(live.port, "/portal/login", "other.example")[0] == 421
    with running(tmp_path, {"portal": {"allowed_hosts": ["portal.example"]}}) as live:
        assert get(live.port, "/portal/login", "portal.example:443")[0] == 200
        assert get(live.port, "/portal/login", "127.0.0.1")[0] == 421  # a list replaces the defaults
