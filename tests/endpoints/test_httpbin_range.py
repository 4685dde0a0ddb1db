from __future__ import annotations

import string

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from apitest.endpoints.httpbin_range import BOUNDARY, Unsatisfiable, letters, parse_range

BODY = (string.ascii_lowercase * 4)[:100].encode()  # /v1/range/100
NO_GZIP = {"Accept-Encoding": "identity"}


def test_letters_is_the_alphabet_from_any_offset() -> None:
    assert letters(0, 30) == b"abcdefghijklmnopqrstuvwxyzabcd"
    assert letters(25, 3) == b"zab"
    assert letters(52, 0) == b""


async def test_whole_body_advertises_ranges(client: httpx.AsyncClient) -> None:
    r = await client.get("/v1/range/100", headers=NO_GZIP)
    assert (r.status_code, r.content) == (200, BODY)
    assert r.headers["accept-ranges"] == "bytes"
    assert r.headers["etag"] == '"range100"'
    assert r.headers["content-type"] == "text/plain; charset=utf-8"
    assert r.headers["content-length"] == "100"


@pytest.mark.parametrize(
    ("header", "content_range", "body"),
    [
        ("bytes=0-9", "bytes 0-9/100", BODY[0:10]),
        ("bytes=90-", "bytes 90-99/100", BODY[90:]),
        ("bytes=-5", "bytes 95-99/100", BODY[95:]),
        ("bytes=-500", "bytes 0-99/100", BODY),
        ("bytes=98-1000", "bytes 98-99/100", BODY[98:]),
        ("bytes = 3 - 4", "bytes 3-4/100", BODY[3:5]),
        ("bytes=200-, 5-6", "bytes 5-6/100", BODY[5:7]),  # an unsatisfiable member among others is dropped
    ],
)
async def test_single_range(client: httpx.AsyncClient, header: str, content_range: str, body: bytes) -> None:
    r = await client.get("/v1/range/100", headers={"Range": header})
    assert (r.status_code, r.headers["content-range"], r.content) == (206, content_range, body)
    assert r.headers["content-length"] == str(len(body))


async def test_several_ranges_are_multipart_byteranges(client: httpx.AsyncClient) -> None:
    r = await client.get("/v1/range/100", headers={"Range": "bytes=0-1,-2"})
    assert r.status_code == 206
    assert r.headers["content-type"] == f"multipart/byteranges; boundary={BOUNDARY}"
    part = "--{b}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Range: bytes {r}/100\r\n\r\n{d}\r\n"
    expected = (
        part.format(b=BOUNDARY, r="0-1", d="ab") + part.format(b=BOUNDARY, r="98-99", d="uv") + f"--{BOUNDARY}--\r\n"
    )
    assert r.text == expected
    assert int(r.headers["content-length"]) == len(r.content)


@pytest.mark.parametrize(
    "header", ["bytes=100-", "bytes=500-600", "bytes=-0", "bytes=abc", "bytes=5-2", "items=0-1", "bytes=", "0-1"]
)
async def test_unsatisfiable_or_malformed_is_416(client: httpx.AsyncClient, header: str) -> None:
    r = await client.get("/v1/range/100", headers={"Range": header})
    assert r.status_code == 416
    assert r.headers["content-range"] == "bytes */100"
    assert "error" in r.json()


@pytest.mark.parametrize(
    "header",
    ["bytes=" + ",".join(["0-0"] * 65), "bytes=0-99,0-99"],  # too many ranges; more bytes than the body
)
async def test_ranges_that_are_ignored_give_the_whole_body(client: httpx.AsyncClient, header: str) -> None:
    r = await client.get("/v1/range/100", headers={"Range": header, **NO_GZIP})
    assert (r.status_code, r.content) == (200, BODY)


@pytest.mark.parametrize(
    ("if_range", "status"),
    [
        ('"range100"', 206),
        ('"range99"', 200),
        ('W/"range100"', 200),  # If-Range needs a strong match
        ("Sat, 01 Jan 2000 00:00:00 GMT", 206),  # Last-Modified exactly
        ("Sun, 02 Jan 2000 00:00:00 GMT", 200),
        ("not a date", 200),
    ],
)
async def test_if_range(client: httpx.AsyncClient, if_range: str, status: int) -> None:
    r = await client.get("/v1/range/100", headers={"Range": "bytes=0-0", "If-Range": if_range, **NO_GZIP})
    assert r.status_code == status
    assert r.content == (b"a" if status == 206 else BODY)
    assert r.headers["last-modified"] == "Sat, 01 Jan 2000 00:00:00 GMT"


@pytest.mark.parametrize(("headers", "status"), [({"If-None-Match": '"range100"'}, 304), ({"If-Match": '"x"'}, 412)])
async def test_preconditions_come_before_the_range(
    client: httpx.AsyncClient, headers: dict[str, str], status: int
) -> None:
    r = await client.get("/v1/range/100", headers={"Range": "bytes=0-0", **headers})
    assert (r.status_code, r.content) == (status, b"")


@pytest.mark.parametrize(
    "query",
    ["/0", "/-1", "/x", "/1048577", "/10?duration=11s", "/10?duration=abc", "/10?chunk_size=0", "/10?chunk_size=x"],
)
async def test_bad_parameters_are_400(client: httpx.AsyncClient, query: str) -> None:
    r = await client.get("/v1/range" + query)
    assert r.status_code == 400
    assert "error" in r.json()


async def test_chunk_size_and_duration_keep_the_content(client: httpx.AsyncClient) -> None:
    r = await client.get("/v1/range/100?chunk_size=7&duration=10ms", headers={"Range": "bytes=10-59"})
    assert (r.status_code, r.content) == (206, BODY[10:60])


@given(st.text(max_size=200), st.integers(min_value=1, max_value=10_000))
def test_parse_range_never_raises_anything_but_unsatisfiable(header: str, size: int) -> None:
    try:
        ranges = parse_range(header, size)
    except Unsatisfiable:
        return
    assert ranges is None or all(0 <= a <= b < size for a, b in ranges)
