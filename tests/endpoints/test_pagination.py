from __future__ import annotations

import hashlib

import httpx
import pytest

from apitest.endpoints.pagination import decode_cursor, encode_cursor


def item(i: int) -> dict[str, object]:
    return {"id": i, "value": hashlib.sha256(str(i).encode()).hexdigest()[:16]}


def test_reference_values() -> None:
    assert item(0)["value"] == "5feceb66ffc86f38"
    assert item(7)["value"] == "7902699be42c8a8e"
    assert encode_cursor(10) == "MTA"


# --- link --------------------------------------------------------------------------------------


async def test_link_defaults(client: httpx.AsyncClient) -> None:
    r = await client.get("/v1/pagination/link")
    body = r.json()
    assert list(body) == ["items", "page", "per_page", "total"]
    assert (body["page"], body["per_page"], body["total"]) == (1, 10, 100)
    assert body["items"] == [item(i) for i in range(10)]
    base = "http://testserver/v1/pagination/link"
    assert r.headers["link"] == (
        f'<{base}?page=1&per_page=10&total=100>; rel="first", '
        f'<{base}?page=10&per_page=10&total=100>; rel="last", '
        f'<{base}?page=2&per_page=10&total=100>; rel="next"'
    )


async def test_link_middle_page_has_all_four_relations(client: httpx.AsyncClient) -> None:
    r = await client.get("/v1/pagination/link?page=2&per_page=3&total=7", headers={"Host": "gw.example:8443"})
    base = "http://gw.example:8443/v1/pagination/link"
    assert r.headers["link"] == (
        f'<{base}?page=1&per_page=3&total=7>; rel="first", '
        f'<{base}?page=3&per_page=3&total=7>; rel="last", '
        f'<{base}?page=1&per_page=3&total=7>; rel="prev", '
        f'<{base}?page=3&per_page=3&total=7>; rel="next"'
    )
    assert r.json()["items"] == [item(3), item(4), item(5)]


async def test_link_last_page_is_partial_and_has_no_next(client: httpx.AsyncClient) -> None:
    r = await client.get("/v1/pagination/link?page=3&per_page=3&total=7&extra=k")
    assert r.json()["items"] == [item(6)]
    assert 'rel="next"' not in r.headers["link"]
    assert 'rel="prev"' in r.headers["link"]
    assert "extra" not in r.headers["link"]


async def test_link_single_page(client: httpx.AsyncClient) -> None:
    r = await client.get("/v1/pagination/link?total=5")
    assert [part.split("; ")[1] for part in r.headers["link"].split(", ")] == ['rel="first"', 'rel="last"']
    assert len(r.json()["items"]) == 5


async def test_link_ignores_forwarded_headers(client: httpx.AsyncClient) -> None:
    r = await client.get(
        "/v1/pagination/link", headers={"X-Forwarded-Proto": "https", "X-Forwarded-Host": "other.example"}
    )
    assert r.headers["link"].startswith("<http://testserver/v1/pagination/link?")


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("page=0", "page must be a positive integer"),
        ("page=-1", "page must be a positive integer"),
        ("page=abc", "page must be a positive integer"),
        ("page=99999999999999999999", "page must be a positive integer"),
        ("per_page=0", "per_page must be a positive integer"),
        ("per_page=1001", "per_page 1001 exceeds max 1000"),
        ("total=0", "total must be a positive integer"),
        ("total=10001", "total 10001 exceeds max 10000"),
        ("page=11", "page 11 is past end of dataset (total=100, per_page=10, last_page=10)"),
        ("page=3&per_page=3&total=6", "page 3 is past end of dataset (total=6, per_page=3, last_page=2)"),
        (
            "page=9223372036854775807",
            "page 9223372036854775807 is past end of dataset (total=100, per_page=10, last_page=10)",
        ),
        ("page=0&per_page=0&total=0", "page must be a positive integer"),
        ("per_page=0&total=0", "per_page must be a positive integer"),
    ],
)
async def test_link_errors(client: httpx.AsyncClient, query: str, message: str) -> None:
    r = await client.get(f"/v1/pagination/link?{query}")
    assert (r.status_code, r.json()) == (400, {"error": message})
    assert "link" not in r.headers


async def test_link_bounds(client: httpx.AsyncClient) -> None:
    r = await client.get("/v1/pagination/link?per_page=1000&total=10000&page=10")
    assert len(r.json()["items"]) == 1000
    assert r.json()["items"][-1] == item(9999)


# --- odata -------------------------------------------------------------------------------------


async def test_odata_defaults(client: httpx.AsyncClient) -> None:
    body = (await client.get("/v1/pagination/odata")).json()
    assert list(body) == ["value", "@odata.count", "@odata.nextLink"]
    assert body["value"] == [item(i) for i in range(10)]
    assert body["@odata.count"] == 100
    assert body["@odata.nextLink"] == "http://testserver/v1/pagination/odata?$top=10&$skip=10&total=100"


async def test_odata_last_page_has_no_next_link(client: httpx.AsyncClient) -> None:
    body = (await client.get("/v1/pagination/odata?$top=4&$skip=8&total=10")).json()
    assert body == {"value": [item(8), item(9)], "@odata.count": 10}


async def test_odata_percent_encoded_names(client: httpx.AsyncClient) -> None:
    body = (await client.get("/v1/pagination/odata?%24top=2&%24skip=6&total=10")).json()
    assert body["value"] == [item(6), item(7)]
    assert body["@odata.nextLink"].endswith("?$top=2&$skip=8&total=10")


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("$top=0", "$top must be a positive integer"),
        ("$top=x", "$top must be a positive integer"),
        ("$top=1001", "$top 1001 exceeds max 1000"),
        ("$skip=-1", "$skip must be a non-negative integer"),
        ("$skip=x", "$skip must be a non-negative integer"),
        ("total=0", "total must be a positive integer"),
        ("total=10001", "total 10001 exceeds max 10000"),
        ("$skip=100", "$skip 100 is past end of dataset (total=100)"),
        ("$skip=5&total=5", "$skip 5 is past end of dataset (total=5)"),
        ("$top=0&$skip=-1", "$top must be a positive integer"),
    ],
)
async def test_odata_errors(client: httpx.AsyncClient, query: str, message: str) -> None:
    r = await client.get(f"/v1/pagination/odata?{query}")
    assert (r.status_code, r.json()) == (400, {"error": message})


# --- cursor ------------------------------------------------------------------------------------


async def test_cursor_walks_the_whole_data_set(client: httpx.AsyncClient) -> None:
    seen: list[dict[str, object]] = []
    cursor = ""
    pages = 0
    while True:
        body = (await client.get(f"/v1/pagination/cursor?limit=7&total=30&cursor={cursor}")).json()
        seen += body["items"]
        pages += 1
        if "next_cursor" not in body:
            break
        cursor = body["next_cursor"]
    assert seen == [item(i) for i in range(30)]
    assert pages == 5


async def test_cursor_defaults_and_field_order(client: httpx.AsyncClient) -> None:
    body = (await client.get("/v1/pagination/cursor")).json()
    assert list(body) == ["items", "next_cursor"]
    assert body["items"] == [item(i) for i in range(10)]
    assert body["next_cursor"] == "MTA"


async def test_cursor_mid_data_set(client: httpx.AsyncClient) -> None:
    body = (await client.get("/v1/pagination/cursor?cursor=MTA&limit=2&total=14")).json()
    assert body == {"items": [item(10), item(11)], "next_cursor": encode_cursor(12)}


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("limit=0", "limit must be a positive integer"),
        ("limit=1001", "limit 1001 exceeds max 1000"),
        ("total=10001", "total 10001 exceeds max 10000"),
        ("cursor=MTA=", "cursor is malformed"),
        ("cursor=MTA%3D", "cursor is malformed"),
        ("cursor=M+A", "cursor is malformed"),
        ("cursor=M/A", "cursor is malformed"),
        ("cursor=AAAA", "cursor is malformed"),
        ("cursor=A", "cursor is malformed"),
        ("cursor=LTE", "cursor is malformed"),  # "-1"
        ("cursor=YWJj", "cursor is malformed"),  # "abc"
        ("cursor=_w", "cursor is malformed"),  # a non-ASCII byte
        ("cursor=MTAw", "cursor offset 100 is past end of dataset (total=100)"),
        ("cursor=NQ&total=5", "cursor offset 5 is past end of dataset (total=5)"),
        ("cursor=AAAA&limit=0", "limit must be a positive integer"),
    ],
)
async def test_cursor_errors(client: httpx.AsyncClient, query: str, message: str) -> None:
    r = await client.get(f"/v1/pagination/cursor?{query}")
    assert (r.status_code, r.json()) == (400, {"error": message})


@pytest.mark.parametrize(("cursor", "offset"), [("MA", 0), ("MTA", 10), ("Kzc", 7), ("MDA3", 7), ("OTk5OQ", 9999)])
def test_decode_cursor(cursor: str, offset: int) -> None:
    assert decode_cursor(cursor) == offset
