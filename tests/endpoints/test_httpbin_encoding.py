from __future__ import annotations

import gzip
import json
import zlib

import brotli
import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from apitest.endpoints.httpbin_encoding import negotiate

DECODERS = {"gzip": gzip.decompress, "deflate": zlib.decompress, "br": brotli.decompress}


@pytest.mark.parametrize(
    ("path", "coding", "flag"),
    [("/v1/gzip", "gzip", "gzipped"), ("/v1/deflate", "deflate", "deflated"), ("/v1/brotli", "br", "brotli")],
)
async def test_always_encoded_bodies(client: httpx.AsyncClient, path: str, coding: str, flag: str) -> None:
    async with client.stream("GET", path + "?x=1", headers={"Accept-Encoding": "identity"}) as r:
        raw = b"".join([chunk async for chunk in r.aiter_raw()])
    assert r.headers["content-encoding"] == coding  # whatever the client accepts, as go-httpbin
    assert r.headers["content-type"] == "application/json"
    assert int(r.headers["content-length"]) == len(raw)
    body = json.loads(DECODERS[coding](raw))
    assert body[flag] is True
    assert (body["args"], body["method"]) == ({"x": ["1"]}, "GET")


@pytest.mark.parametrize(
    ("header", "chosen"),
    [
        (None, "identity"),
        ("", "identity"),
        ("identity", "identity"),
        ("gzip", "gzip"),
        ("deflate", "deflate"),
        ("br", "br"),
        ("gzip, deflate, br", "br"),  # equal q: br, then gzip, then deflate
        ("deflate, gzip", "gzip"),
        ("gzip;q=0.5, deflate;q=0.8", "deflate"),
        ("GZIP;Q=1", "gzip"),
        ("*", "br"),
        ("br;q=0, *;q=0.3", "gzip"),
        ("gzip;q=0", "identity"),
        ("compress, zstd", "identity"),
        ("gzip;q=2, deflate", "deflate"),  # q above 1 is malformed: that member is skipped
        ("gzip;q=abc, br", "br"),
    ],
)
def test_negotiate(header: str | None, chosen: str) -> None:
    assert negotiate(header) == chosen


@given(st.text(max_size=300))
def test_negotiate_never_raises(header: str) -> None:
    assert negotiate(header) in ("identity", "gzip", "deflate", "br")


@pytest.mark.parametrize("coding", ["gzip", "deflate", "br"])
@pytest.mark.parametrize("n", [0, 5, 100_000])
async def test_sized_is_compressed_on_request_with_the_same_content(
    client: httpx.AsyncClient, coding: str, n: int
) -> None:
    plain = await client.get(f"/v1/sized?bytes={n}", headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers
    async with client.stream("GET", f"/v1/sized?bytes={n}", headers={"Accept-Encoding": coding}) as r:
        raw = b"".join([chunk async for chunk in r.aiter_raw()])
    assert r.headers["content-encoding"] == coding
    assert r.headers["vary"] == "Accept-Encoding"
    assert "content-length" not in r.headers
    assert DECODERS[coding](raw) == plain.content


async def test_sized_without_accept_encoding_keeps_its_length_and_says_vary(client: httpx.AsyncClient) -> None:
    r = await client.get("/v1/sized?bytes=3", headers={"Accept-Encoding": ""})
    assert (r.content, r.headers["content-length"], r.headers["vary"]) == (
        b'{"bytes":3,"body":"abc"}',
        "24",
        "Accept-Encoding",
    )
    assert "content-encoding" not in r.headers
