from __future__ import annotations

import hashlib

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from apitest.endpoints.httpbin_caching import entity_tags, tag_matches


async def test_cache_without_validators_gives_last_modified_and_a_matching_etag(client: httpx.AsyncClient) -> None:
    r = await client.get("/v1/cache?a=1")
    assert r.status_code == 200
    last_modified = r.headers["last-modified"]
    assert last_modified.endswith(" GMT")
    assert r.headers["etag"] == '"' + hashlib.sha1(last_modified.encode()).hexdigest() + '"'
    body = r.json()
    assert (body["args"], body["method"], body["url"]) == ({"a": ["1"]}, "GET", "http://testserver/v1/cache?a=1")


@pytest.mark.parametrize("header", ["If-Modified-Since", "If-None-Match"])
async def test_cache_with_any_validator_is_304_without_a_body(client: httpx.AsyncClient, header: str) -> None:
    r = await client.get("/v1/cache", headers={header: "anything"})
    assert (r.status_code, r.content) == (304, b"")


@pytest.mark.parametrize(
    ("seconds", "status", "cache_control"),
    [
        ("0", 200, "public, max-age=0"),
        ("60", 200, "public, max-age=60"),
        ("-1", 400, None),
        ("x", 400, None),
        ("1.5", 400, None),
    ],
)
async def test_cache_control(client: httpx.AsyncClient, seconds: str, status: int, cache_control: str | None) -> None:
    r = await client.get(f"/v1/cache/{seconds}")
    assert r.status_code == status
    assert r.headers.get("cache-control") == cache_control


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({}, 200),
        ({"If-None-Match": '"abc"'}, 304),
        ({"If-None-Match": 'W/"abc"'}, 304),  # weak comparison
        ({"If-None-Match": '"x", "abc"'}, 304),
        ({"If-None-Match": "*"}, 304),
        ({"If-None-Match": '"x"'}, 200),
        ({"If-None-Match": "abc"}, 200),  # unquoted: not an entity tag
        ({"If-Match": '"abc"'}, 200),
        ({"If-Match": '"x", "abc"'}, 200),
        ({"If-Match": "*"}, 200),
        ({"If-Match": 'W/"abc"'}, 412),  # strong comparison: a weak tag never matches
        ({"If-Match": '"x"'}, 412),
        ({"If-Match": '"x"', "If-None-Match": '"abc"'}, 412),  # If-Match is evaluated first
    ],
)
async def test_etag_conditions(client: httpx.AsyncClient, headers: dict[str, str], status: int) -> None:
    r = await client.get("/v1/etag/abc", headers=headers)
    assert r.status_code == status
    assert r.headers["etag"] == '"abc"'
    if status == 304:
        assert r.content == b""
    if status == 200:
        assert r.json()["url"] == "http://testserver/v1/etag/abc"


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"If-None-Match": '"abc"'}, 304),
        ({"If-None-Match": 'W/"abc"'}, 304),
        ({"If-Match": '"abc"'}, 412),  # strong comparison never matches a weak ETag
        ({"If-Match": "*"}, 200),
        ({}, 200),
    ],
)
async def test_weak_etag(client: httpx.AsyncClient, headers: dict[str, str], status: int) -> None:
    r = await client.get("/v1/etag/abc?weak=true", headers=headers)
    assert (r.status_code, r.headers["etag"]) == (status, 'W/"abc"')


async def test_etag_refuses_a_value_an_entity_tag_cannot_hold(client: httpx.AsyncClient) -> None:
    r = await client.get("/v1/etag/a%22b")
    assert r.status_code == 400
    assert "invalid etag" in r.json()["error"]


@pytest.mark.parametrize(
    ("header", "tags"), [("*", []), ('"a", W/"b"', [(False, "a"), (True, "b")]), ('"a",,', [(False, "a")]), ("a", None)]
)
def test_entity_tags(header: str, tags: list[tuple[bool, str]] | None) -> None:
    assert entity_tags(header) == tags


@given(st.text(max_size=200))
def test_entity_tag_parsing_never_raises(header: str) -> None:
    assert tag_matches(header, "abc", strong=True) in (True, False)
