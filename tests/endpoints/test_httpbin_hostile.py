"""Hostile input on every httpbin route: odd path segments, query values and headers answer 4xx, never 500."""

from __future__ import annotations

import re

import httpx
import pytest

from apitest.endpoints.httpbin import ROUTES
from apitest.registry import RouteSpec

SEGMENTS = ["%FF", "%00", "x%22y", "-1", "99999999999999999999999", "%E2%98%83", "a%0Ab", "%2F", "%ED%A0%80"]
QUERIES = ["seed=%FF", "chunk_size=%FF", "path=%FF", "domain=%FF", "url=%FF", "status_code=%FF", "absolute=%FF"]
QUERIES += ["stale_after=1e3", "%FF=%FF", "code=%FF", "weak=%FF", "numbytes=%00", "duration=1e999", "delay=-0s"]
HEADERS: list[dict[str, bytes]] = [
    {"Range": b"bytes=\x7f"},
    {"Range": b"bytes=0-1,,,-,5-"},
    {"Range": b"bytes=99999999999999999999-"},
    {"Authorization": b'Digest \xff="\\'},
    {"Authorization": b"Basic \xff\xfe"},
    {"If-None-Match": b"W/"},
    {"If-Match": b'"\xff"'},
    {"If-Modified-Since": b"\x01"},
    {"If-Unmodified-Since": b"Mon, 99 Foo 99999 99:99:99 GMT"},
    {"If-Range": b'W/"x'},
    {"Accept": b"\xff"},
    {"Accept-Encoding": b"\xff;q=1, gzip;q=0.\xff"},
    {"Cookie": b"a=\xff; ;;=;"},
]


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: r.name)
async def test_no_500(client: httpx.AsyncClient, route: RouteSpec) -> None:
    method, template = route.method, route.path
    cases = [(re.sub(r"{[^}]+}", s, template), "", {}) for s in SEGMENTS]
    sample = re.sub(r"{[^}]+}", "abc", template)
    cases += [(sample, q, {}) for q in QUERIES]
    cases += [(sample, "", h) for h in HEADERS]
    for path, q, headers in cases:
        query = "duration=0&delay=0" + ("&" + q if q else "")
        r = await client.request(method, f"{path}?{query}", headers=headers)
        assert r.status_code < 500, (method, path, q, headers, r.text[:200])
