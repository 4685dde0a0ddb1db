from __future__ import annotations

import httpx
import pytest

from tests.conftest import ClientFactory


@pytest.mark.parametrize(
    ("path", "location"),
    [
        ("/v1/redirect/3", "/v1/relative-redirect/2"),
        ("/v1/redirect/1", "/v1/get"),
        ("/v1/redirect/2?absolute=true", "http://testserver/v1/absolute-redirect/1"),
        ("/v1/redirect/2?absolute=TRUE", "http://testserver/v1/absolute-redirect/1"),
        ("/v1/relative-redirect/2", "/v1/relative-redirect/1"),
        ("/v1/absolute-redirect/2", "http://testserver/v1/absolute-redirect/1"),
        ("/v1/absolute-redirect/1", "http://testserver/v1/get"),
    ],
)
async def test_redirect_chains(client: httpx.AsyncClient, path: str, location: str) -> None:
    r = await client.get(path)
    assert (r.status_code, r.headers["location"], r.content) == (302, location, b"")


async def test_absolute_redirects_use_the_request_host_and_scheme(client: httpx.AsyncClient) -> None:
    r = await client.get("https://gw.example:8443/v1/absolute-redirect/2")
    assert r.headers["location"] == "https://gw.example:8443/v1/absolute-redirect/1"


async def test_absolute_redirects_ignore_base_url_unlike_pagination_links(client_factory: ClientFactory) -> None:
    """Redirects and /v1/get's url show the request as it arrived (go-httpbin), not the public origin that
    apitest.forwarded.public_origin builds for pagination links from server.base_url."""
    client = await client_factory({"server": {"base_url": "http://gw:9000/api"}})
    r = await client.get("/v1/absolute-redirect/2")
    assert r.headers["location"] == "http://testserver/v1/absolute-redirect/1"
    assert (await client.get("/v1/get")).json()["url"] == "http://testserver/v1/get"
    link = (await client.get("/v1/pagination/link")).headers["link"]
    assert link.startswith("<http://gw:9000/api/v1/pagination/link?")


async def test_a_chain_followed_to_the_end_lands_on_get(client: httpx.AsyncClient) -> None:
    r = await client.get("/v1/redirect/4?absolute=true", follow_redirects=True)
    assert r.status_code == 200
    assert len(r.history) == 4
    assert r.json()["url"] == "http://testserver/v1/get"


@pytest.mark.parametrize("n", ["0", "-1", "x", "1.5", "99999999999999999999"])
@pytest.mark.parametrize("kind", ["redirect", "relative-redirect", "absolute-redirect"])
async def test_bad_redirect_count(client: httpx.AsyncClient, kind: str, n: str) -> None:
    r = await client.get(f"/v1/{kind}/{n}")
    assert r.status_code == 400
    assert "invalid redirect count" in r.json()["error"]


@pytest.mark.parametrize(
    ("query", "status", "location"),
    [
        ({"url": "/v1/get"}, 302, "/v1/get"),
        ({"url": "elsewhere?x=1"}, 302, "elsewhere?x=1"),
        ({"url": "/v1/get", "status_code": "307"}, 307, "/v1/get"),
        ({"url": "https://allowed.example/x"}, 302, "https://allowed.example/x"),
        ({"url": "http://ALLOWED.example:81/"}, 302, "http://ALLOWED.example:81/"),
    ],
)
async def test_redirect_to_allowed_targets(
    client_factory: ClientFactory, query: dict[str, str], status: int, location: str
) -> None:
    client = await client_factory({"lab": {"redirect_hosts": ["allowed.example"]}}, groups=["httpbin"])
    for method in ("GET", "POST", "PUT", "PATCH", "DELETE"):
        r = await client.request(method, "/v1/redirect-to", params=query)
        assert (r.status_code, r.headers["location"]) == (status, location), method


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("", "missing required query parameter: url"),
        ("https://evil.example/", "lab.redirect_hosts"),
        ("//evil.example/", "lab.redirect_hosts"),
        ("///evil.example/", "lab.redirect_hosts"),
        ("https://allowed.example@evil.example/", "lab.redirect_hosts"),
        ("javascript:alert(1)", "lab.redirect_hosts"),
        ("ftp://allowed.example/", "lab.redirect_hosts"),
        ("/\\evil.example", "backslashes"),
        ("/a b", "printable ASCII"),
        ("/a\r\nSet-Cookie: x=1", "printable ASCII"),
        ("/caf\u00e9", "printable ASCII"),
    ],
)
async def test_redirect_to_refuses_off_site_and_malformed_targets(
    client_factory: ClientFactory, url: str, message: str
) -> None:
    client = await client_factory({"lab": {"redirect_hosts": ["allowed.example"]}}, groups=["httpbin"])
    r = await client.get("/v1/redirect-to", params={"url": url})
    assert r.status_code == 400
    assert "location" not in r.headers
    assert message in r.json()["error"]


async def test_redirect_to_with_no_allowed_hosts_refuses_every_absolute_url(client: httpx.AsyncClient) -> None:
    r = await client.get("/v1/redirect-to", params={"url": "http://testserver/v1/get"})
    assert r.status_code == 400


@pytest.mark.parametrize("code", ["299", "400", "x", "3o2"])
async def test_redirect_to_status_code_range(client: httpx.AsyncClient, code: str) -> None:
    r = await client.get("/v1/redirect-to", params={"url": "/v1/get", "status_code": code})
    assert r.status_code == 400
    assert "invalid status code" in r.json()["error"]
