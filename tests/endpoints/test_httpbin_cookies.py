from __future__ import annotations

import httpx
import pytest

from tests.conftest import ClientFactory


def set_cookie_lines(r: httpx.Response) -> list[str]:
    return r.headers.get_list("set-cookie")


async def test_cookies_lists_what_the_request_carries(client: httpx.AsyncClient) -> None:
    r = await client.get("/v1/cookies", headers={"Cookie": "a=1; b=two"})
    assert r.json() == {"a": "1", "b": "two"}
    assert (await client.get("/v1/cookies")).json() == {}


async def test_cookies_never_shows_the_portal_session_or_secret_looking_cookies(client: httpx.AsyncClient) -> None:
    r = await client.get("/v1/cookies", headers={"Cookie": "api_test_session=abc.def; my_token=t; a=1"})
    assert r.json() == {"api_test_session": "[redacted]", "my_token": "[redacted]", "a": "1"}


@pytest.mark.parametrize(
    ("query", "lines"),
    [
        ("a=1", ["a=1; Path=/v1; HttpOnly"]),
        ("a=1&b=2", ["a=1; Path=/v1; HttpOnly", "b=2; Path=/v1; HttpOnly"]),
        ("a=1&a=2", ["a=1; Path=/v1; HttpOnly"]),  # the first value, as go-httpbin
        ("a=&path=/v1/cookies", ["a=; Path=/v1/cookies; HttpOnly"]),
        ("a=%22q%22", ['a="q"; Path=/v1; HttpOnly']),
        ("a=1&domain=testserver", ["a=1; Path=/v1; Domain=testserver; HttpOnly"]),
        ("", []),
    ],
)
async def test_set_cookies(client: httpx.AsyncClient, query: str, lines: list[str]) -> None:
    r = await client.get(f"/v1/cookies/set?{query}")
    assert (r.status_code, r.headers["location"]) == (302, "/v1/cookies")
    assert set_cookie_lines(r) == lines


async def test_delete_cookies_expires_them_on_the_same_path(client: httpx.AsyncClient) -> None:
    r = await client.get("/v1/cookies/delete?a&b=ignored&path=/v1/x")
    assert r.status_code == 302
    assert set_cookie_lines(r) == [
        "a=; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Path=/v1/x; HttpOnly",
        "b=; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Path=/v1/x; HttpOnly",
    ]


async def test_a_set_cookie_round_trips_only_under_v1(client: httpx.AsyncClient) -> None:
    r = await client.get("/v1/cookies/set?flavour=mint", follow_redirects=True)
    assert r.json() == {"flavour": "mint"}
    cookie = next(iter(client.cookies.jar))
    assert (cookie.path, cookie.name) == ("/v1", "flavour")


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("api_test_session=x", "portal session cookie"),
        ("API_TEST_SESSION=x", "portal session cookie"),
        ("__Host-a=x", "__Host-"),
        ("__secure-a=x", "__Host-"),
        ("a%3Bb=x", "invalid cookie name"),
        ("a%20b=x", "invalid cookie name"),
        ("a=1&path=/", "invalid path"),
        ("a=1&path=/portal", "invalid path"),
        ("a=1&path=/v1evil", "invalid path"),
        ("a=1&path=/v1/x%3B%20Domain%3Devil", "invalid path"),
        ("a=1&domain=evil.example", "invalid domain"),
        ("a=1&domain=testserver%3B%20Secure", "invalid domain"),
        ("&".join(f"c{i}=1" for i in range(21)), "too many cookies"),
    ],
)
@pytest.mark.parametrize("action", ["set", "delete"])
async def test_refused_cookies(client: httpx.AsyncClient, action: str, query: str, message: str) -> None:
    r = await client.get(f"/v1/cookies/{action}?{query}")
    assert r.status_code == 400
    assert message in r.json()["error"]
    assert set_cookie_lines(r) == []


async def test_a_renamed_portal_cookie_is_the_refused_one(client_factory: ClientFactory) -> None:
    client = await client_factory({"portal": {"cookie_name": "sess"}}, groups=["httpbin"])
    assert (await client.get("/v1/cookies/set?sess=1")).status_code == 400
    assert (await client.get("/v1/cookies/set?api_test_session=1")).status_code == 302


@pytest.mark.parametrize("value", ["x%3BPath%3D%2F", "x%20y", "%E2%98%83", "x%2Cy", "x%5Cy", "x" * 4097])
async def test_values_must_be_cookie_octets(client: httpx.AsyncClient, value: str) -> None:
    r = await client.get(f"/v1/cookies/set?a={value}")
    assert r.status_code == 400
    assert "invalid value" in r.json()["error"]
    assert set_cookie_lines(r) == []
