from __future__ import annotations

import httpx
import pytest

ALLOW = "GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS"


@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"])
async def test_every_method_is_echoed(client: httpx.AsyncClient, method: str) -> None:
    r = await client.request(method, "/v1/method/echo", content=b"ignored body")
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json"
    assert r.content == f'{{"method":"{method}","path":"/v1/method/echo"}}\n'.encode()


async def test_query_is_echoed_sorted(client: httpx.AsyncClient) -> None:
    r = await client.post("/v1/method/echo?b=2&a=1&b=3")
    assert r.json() == {"method": "POST", "path": "/v1/method/echo", "query": {"a": ["1"], "b": ["2", "3"]}}


async def test_head_has_no_body(client: httpx.AsyncClient) -> None:
    r = await client.head("/v1/method/echo")
    assert (r.status_code, r.content, r.headers["content-type"]) == (200, b"", "application/json")
    assert "allow" not in r.headers


async def test_plain_options_reaches_the_handler_with_allow(client: httpx.AsyncClient) -> None:
    r = await client.options("/v1/method/echo?x=1")
    assert r.status_code == 200
    assert r.headers["allow"] == ALLOW
    assert r.json() == {"method": "OPTIONS", "path": "/v1/method/echo", "query": {"x": ["1"]}}


async def test_only_options_sets_allow(client: httpx.AsyncClient) -> None:
    assert "allow" not in (await client.get("/v1/method/echo")).headers


async def test_real_preflight_is_answered_by_cors(client: httpx.AsyncClient) -> None:
    r = await client.options(
        "/v1/method/echo", headers={"Origin": "http://app.example", "Access-Control-Request-Method": "PUT"}
    )
    assert (r.status_code, r.content) == (204, b"")
    assert "allow" not in r.headers


@pytest.mark.parametrize("method", ["TRACE", "PROPFIND", "CONNECT"])
async def test_other_verbs_are_405(client: httpx.AsyncClient, method: str) -> None:
    r = await client.request(method, "/v1/method/echo")
    assert (r.status_code, r.json()) == (405, {"error": "method not allowed"})
    assert r.headers["allow"] == "DELETE, GET, HEAD, OPTIONS, PATCH, POST, PUT"
