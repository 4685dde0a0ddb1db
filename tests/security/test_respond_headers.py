"""Hostile /v1 traffic cannot act on the portal: every fixture response is sandboxed and nosniff, /v1/respond
refuses headers that act on the browser and off-site redirects, and sign-in's return stays in the portal."""

from __future__ import annotations

import socket
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from apitest.middleware.isolation import SANDBOX_CSP
from tests.portal.conftest import KEY
from tests.security.conftest import running, sign_in
from tests.support import LiveServer

pytestmark = pytest.mark.security

CSP = SANDBOX_CSP.decode()
ATTACK = "<script>fetch('/portal/keys').then(r => r.text()).then(t => document.title = t)</script>"


def assert_sandboxed(response: httpx.Response) -> None:
    assert response.headers.get_list("content-security-policy")[-1] == CSP, response.headers
    assert "sandbox" in CSP and "default-src 'none'" in CSP
    assert response.headers.get_list("x-content-type-options") == ["nosniff"]


@pytest.mark.parametrize(
    ("method", "target", "headers", "status"),
    [
        ("GET", f"/v1/respond?content_type=text/html&body={quote(ATTACK)}", {"X-API-Key": KEY}, 200),
        ("GET", "/v1/respond?status=503&header=X-Content-Type-Options:sniff-please", {"X-API-Key": KEY}, 503),
        ("GET", "/v1/whoami", {}, 401),
        ("GET", "/v1/whoami", {"X-API-Key": "wrong"}, 401),
        ("GET", "/v1/scoped/billing", {"X-API-Key": KEY}, 403),
        ("GET", "/v1/no-such-endpoint", {}, 404),
        ("DELETE", "/v1/whoami", {}, 405),
        ("GET", "/v1/crash", {"X-API-Key": KEY}, 500),
        ("GET", "/v1/streaming/chunked?count=3&delay_ms=0", {"X-API-Key": KEY}, 200),
        ("GET", "/v1/streaming/sse?count=2&delay_ms=0", {"X-API-Key": KEY}, 200),
        ("POST", "/v1/echo", {"X-API-Key": KEY, "Content-Type": "text/html"}, 200),
        ("OPTIONS", "/v1/echo", {"Origin": "https://elsewhere.example", "Access-Control-Request-Method": "POST"}, 204),
        ("GET", "/healthz", {}, 200),
        ("GET", "/openapi.json", {}, 200),
    ],
)
def test_every_fixture_response_is_sandboxed(
    server: LiveServer, method: str, target: str, headers: dict[str, str], status: int
) -> None:
    with httpx.Client(base_url=server.url, timeout=10) as client:
        response = client.request(method, target, headers=headers, content=b"<script>alert(1)</script>")
    assert response.status_code == status, response.text
    assert_sandboxed(response)


def test_a_body_over_the_limit_is_sandboxed_too(tmp_path: Path) -> None:
    with running(tmp_path, {"server": {"max_body_bytes": 16}}) as live, httpx.Client(base_url=live.url) as client:
        response = client.post("/v1/echo", headers={"X-API-Key": KEY}, content=b"x" * 1024)
    assert response.status_code == 413
    assert_sandboxed(response)


def test_a_caller_set_policy_cannot_loosen_ours(http: httpx.Client) -> None:
    http.headers["X-API-Key"] = KEY
    r = http.get("/v1/respond", params={"header": "Content-Security-Policy:script-src *", "body": "x"})
    assert r.headers.get_list("content-security-policy") == ["script-src *", CSP]  # policies only add up


@pytest.mark.parametrize(
    ("header", "named"),
    [
        ("Set-Cookie:api_test_session=forged; Path=/", "Set-Cookie"),
        ("Refresh:0; url=https://evil.example/", "Refresh"),
        ('Clear-Site-Data:"cookies"', "Clear-Site-Data"),
        ("Strict-Transport-Security:max-age=31536000", "Strict-Transport-Security"),
        ("Location:https://evil.example/phish", "Location"),
        ("Location://evil.example/phish", "Location"),
        ("Location:/\\evil.example", "Location"),
    ],
)
def test_respond_refuses_headers_that_act_on_the_browser(http: httpx.Client, header: str, named: str) -> None:
    http.headers["X-API-Key"] = KEY
    r = http.get("/v1/respond", params={"status": "302", "header": header})
    assert r.status_code == 400
    assert f'header "{named}"' in r.json()["error"]
    assert "set-cookie" not in r.headers and "location" not in r.headers


def test_an_allow_listed_redirect_host_passes(tmp_path: Path) -> None:
    lab = {"lab": {"redirect_hosts": ["gateway.example"]}}
    with running(tmp_path, lab) as live, httpx.Client(base_url=live.url, headers={"X-API-Key": KEY}) as client:
        r = client.get("/v1/respond", params={"status": "302", "header": "Location:https://gateway.example/next"})
        assert (r.status_code, r.headers["location"]) == (302, "https://gateway.example/next")
        assert client.get("/v1/respond", params={"header": "Location:https://evil.example/"}).status_code == 400


@pytest.mark.parametrize(
    "target",
    [
        "/v1/respond?status=302&header=Location:/x",
        "//evil.example/",
        "https://evil.example/",
        "/portal/%2e%2e/v1/respond?body=x",
        "/portal/..%2Fv1/respond",
        "/\\evil.example",
    ],
)
def test_sign_in_return_stays_in_the_portal(http: httpx.Client, target: str) -> None:
    response = sign_in(http, KEY, target)
    assert (response.status_code, response.headers["location"]) == (303, "/portal/")
    http.cookies.clear()
    bounce = http.get("/portal/login", params={"return": target})
    assert target not in bounce.text


def test_sign_in_return_to_a_portal_page_works(http: httpx.Client) -> None:
    response = sign_in(http, KEY, "/portal/audit?status=500")
    assert response.headers["location"] == "/portal/audit?status=500"


def test_a_raw_request_gets_the_headers_on_the_wire(server: LiveServer) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        target = b"/v1/respond?content_type=text/html&body=%3Cb%3Ex"
        sock.sendall(b"GET " + target + b" HTTP/1.1\r\nHost: gw.internal\r\nX-API-Key: " + KEY.encode() + b"\r\n\r\n")
        data = b""
        while b"\r\n\r\n" not in data:
            data += sock.recv(65536)
    head = data.split(b"\r\n\r\n", 1)[0].lower()
    assert b"content-security-policy: " + SANDBOX_CSP in head
    assert b"x-content-type-options: nosniff" in head
