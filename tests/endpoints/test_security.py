from __future__ import annotations

import httpx
import pytest

from apitest.endpoints.security import ADMIN_MESSAGE
from tests.endpoints.conftest import Live


async def test_admin_secret(client: httpx.AsyncClient) -> None:
    r = await client.get("/v1/security/admin/secret")
    assert r.status_code == 200
    assert r.json() == {"message": ADMIN_MESSAGE}
    assert ADMIN_MESSAGE == (  # the original's sentence, word for word
        "This endpoint exists to be a probe target. A correctly-configured gateway should have refused to "
        "forward this request before it reached api-test."
    )


async def test_fetch_never_fetches(client: httpx.AsyncClient) -> None:
    r = await client.get("/v1/security/fetch?url=http://169.254.169.254/latest/meta-data/")
    assert r.content == b'{"asked_for":"http://169.254.169.254/latest/meta-data/","would_have_fetched":false}\n'


@pytest.mark.parametrize("query", ["", "?url=", "?other=1"])
async def test_fetch_needs_url(client: httpx.AsyncClient, query: str) -> None:
    r = await client.get(f"/v1/security/fetch{query}")
    assert (r.status_code, r.json()) == (
        400,
        {"error": "url must be provided (this endpoint is a probe; it does not actually fetch)"},
    )


async def test_big_headers(client: httpx.AsyncClient) -> None:
    r = await client.get("/v1/security/big-headers")
    assert r.content == b'{"header_count":64,"header_bytes":33910}\n'
    probes = {k: v for k, v in r.headers.items() if k.startswith("x-big-probe-")}
    assert sorted(probes) == sorted(f"x-big-probe-{i}" for i in range(64))
    assert all(v == "A" * 512 for v in probes.values())
    assert sum(len(f"X-Big-Probe-{i}") + 512 + 4 for i in range(64)) == 33910


def test_big_headers_over_a_real_server(live: Live) -> None:
    r = httpx.get(f"{live.url}/v1/security/big-headers")
    assert r.status_code == 200
    assert len([k for k in r.headers if k.startswith("x-big-probe-")]) == 64


async def test_redirect_to_never_redirects(client: httpx.AsyncClient) -> None:
    r = await client.post("/v1/security/redirect-to?url=https://evil.example/")
    assert r.status_code == 200
    assert r.headers["x-would-redirect-to"] == "https://evil.example/"
    assert "location" not in r.headers
    assert r.content == b'{"would_redirect_to":"https://evil.example/"}\n'


@pytest.mark.parametrize("query", ["", "?url="])
async def test_redirect_to_needs_url(client: httpx.AsyncClient, query: str) -> None:
    r = await client.post(f"/v1/security/redirect-to{query}")
    assert (r.status_code, r.json()) == (400, {"error": "url must be provided"})


async def test_redirect_to_takes_the_url_from_the_query_not_the_body(client: httpx.AsyncClient) -> None:
    r = await client.post("/v1/security/redirect-to", data={"url": "http://x"})
    assert r.status_code == 400


async def test_redirect_to_is_post_only(client: httpx.AsyncClient) -> None:
    r = await client.get("/v1/security/redirect-to?url=http://x")
    assert (r.status_code, r.headers["allow"]) == (405, "POST")


@pytest.mark.parametrize(
    ("encoded", "header", "body"),
    [
        ("http://a%0D%0ASet-Cookie:%20x=1", "http://a  Set-Cookie: x=1", "http://a\r\nSet-Cookie: x=1"),
        ("%0D%0Ahttp://a%0A", "http://a", "\r\nhttp://a\n"),
        ("http://a/%00%7F%09b", "http://a/  \tb", "http://a/\x00\x7f\tb"),
    ],
)
def test_redirect_to_header_injection_over_a_real_server(live: Live, encoded: str, header: str, body: str) -> None:
    r = httpx.post(f"{live.url}/v1/security/redirect-to?url={encoded}")
    assert r.status_code == 200
    assert r.headers.get_list("x-would-redirect-to") == [header]
    assert "set-cookie" not in r.headers
    assert r.json() == {"would_redirect_to": body}


def test_redirect_to_non_ascii_url_over_a_real_server(live: Live) -> None:
    r = httpx.post(f"{live.url}/v1/security/redirect-to?url=http://%C3%A9.example/%E2%82%AC")
    assert r.status_code == 200
    assert r.headers.raw[[k.lower() for k, _ in r.headers.raw].index(b"x-would-redirect-to")][1] == (
        "http://é.example/€".encode()
    )


@pytest.mark.parametrize(
    ("query", "q", "byte_count", "has_control"),
    [
        ("", "", 0, False),
        ("?q=", "", 0, False),
        ("?q=hello", "hello", 5, False),
        ("?q=a+b", "a b", 3, False),
        ("?q=%00", "\x00", 1, True),
        ("?q=a%0Ab", "a\nb", 3, True),
        ("?q=%09", "\t", 1, True),
        ("?q=%7F", "\x7f", 1, True),
        ("?q=%C3%A9", "é", 2, False),
        ("?q=%E2%80%A8", "\u2028", 3, False),
        ("?q=%FF", "\ufffd", 1, False),
        ("?q=%C2%85", "\x85", 2, False),  # C1 controls are not counted, as in the original
        ("?q=first&q=second", "first", 5, False),
    ],
)
async def test_control_chars(client: httpx.AsyncClient, query: str, q: str, byte_count: int, has_control: bool) -> None:
    r = await client.get(f"/v1/security/control-chars{query}")
    assert r.status_code == 200
    assert r.json() == {"q": q, "byte_count": byte_count, "has_control": has_control}
    assert list(r.json()) == ["q", "byte_count", "has_control"]
