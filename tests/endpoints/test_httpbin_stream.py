from __future__ import annotations

import time

import httpx
import pytest
from starlette.applications import Starlette

from apitest.endpoints.httpbin_stream import drip_writes
from apitest.endpoints.seeded import pcg_bytes, seeded_pcg
from tests.endpoints.conftest import Live, asgi_messages, bodies


@pytest.mark.parametrize(
    ("numbytes", "duration", "writes"),
    [(10, 2.0, [1] * 10), (10, 0.0, [10]), (5, 0.002, [3, 2]), (1, 1.0, [1]), (2000, 1.0, [2] * 1000)],
)
def test_drip_writes_at_most_one_per_millisecond(numbytes: int, duration: float, writes: list[int]) -> None:
    assert drip_writes(numbytes, duration) == writes
    assert sum(writes) == numbytes


async def test_drip_body_headers_and_status(client: httpx.AsyncClient) -> None:
    r = await client.get("/v1/drip?duration=0&delay=0&numbytes=7&code=418")
    assert (r.status_code, r.content) == (418, b"*******")
    assert r.headers["content-length"] == "7"
    assert r.headers["content-type"] == "text/plain; charset=utf-8"
    assert "total_duration;dur=0" in r.headers["server-timing"]


async def test_drip_sends_one_message_per_byte(app: Starlette) -> None:
    messages = await asgi_messages(app, "/v1/drip", query="duration=20ms&delay=0&numbytes=4")
    assert [m["body"] for m in bodies(messages)] == [b"*", b"*", b"*", b"*", b""]


@pytest.mark.parametrize("code", [204, 304])
async def test_drip_with_a_status_that_has_no_body(client: httpx.AsyncClient, code: int) -> None:
    r = await client.get(f"/v1/drip?duration=0&delay=0&numbytes=7&code={code}")
    assert (r.status_code, r.content) == (code, b"")
    assert "content-length" not in r.headers


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("duration=11s", "invalid duration"),
        ("duration=x", "invalid duration"),
        ("delay=-1", "invalid delay"),
        ("numbytes=0", "numbytes"),
        ("numbytes=1048577", "numbytes"),
        ("code=99", "invalid code"),
        ("code=600", "invalid code"),
        ("duration=6s&delay=5s", "too much time"),
    ],
)
async def test_drip_bad_parameters(client: httpx.AsyncClient, query: str, message: str) -> None:
    r = await client.get(f"/v1/drip?{query}")
    assert r.status_code == 400
    assert message in r.json()["error"]


async def test_drip_trickles_bytes_through_a_real_server(live: Live) -> None:
    arrivals: list[float] = []
    async with httpx.AsyncClient(timeout=10) as client:
        assert (await client.get(f"{live.url}/v1/whoami")).status_code == 200  # warm up lazy imports
        started = time.monotonic()
        async with client.stream("GET", f"{live.url}/v1/drip?numbytes=4&duration=0.9&delay=0") as r:
            assert r.headers["content-length"] == "4"
            async for chunk in r.aiter_raw():
                arrivals += [time.monotonic()] * len(chunk)
    assert len(arrivals) == 4
    # 3 pauses of 0.3 s: a buffered body would arrive at once at the end; the margin absorbs jitter.
    gaps = [b - a for a, b in zip(arrivals, arrivals[1:], strict=False)]
    assert all(gap >= 0.2 for gap in gaps), gaps
    assert arrivals[0] - started < 0.6


@pytest.mark.parametrize("n", [0, 1, 7, 8, 9, 1000])
async def test_bytes_are_seeded(client: httpx.AsyncClient, n: int) -> None:
    r = await client.get(f"/v1/bytes/{n}?seed=s")
    assert r.content == pcg_bytes(seeded_pcg("s"), n)
    assert (r.headers["content-type"], r.headers["content-length"]) == ("application/octet-stream", str(n))
    assert (await client.get(f"/v1/bytes/{n}?seed=s")).content == r.content


async def test_bytes_without_seed_differ(client: httpx.AsyncClient) -> None:
    first, second = (await client.get("/v1/bytes/32")).content, (await client.get("/v1/bytes/32")).content
    assert len(first) == len(second) == 32
    assert first != second


async def test_stream_bytes_equal_bytes_and_flush_per_chunk(client: httpx.AsyncClient, app: Starlette) -> None:
    whole = (await client.get("/v1/bytes/25?seed=q")).content
    messages = await asgi_messages(app, "/v1/stream-bytes/25", query="seed=q&chunk_size=10")
    assert [len(m["body"]) for m in bodies(messages)] == [10, 10, 5, 0]
    assert b"".join(m["body"] for m in bodies(messages)) == whole
    start = next(m for m in messages if m["type"] == "http.response.start")
    assert b"content-length" not in dict(start["headers"])


@pytest.mark.parametrize(
    "path", ["/v1/bytes/-1", "/v1/bytes/x", "/v1/bytes/1048577", "/v1/stream-bytes/10?chunk_size=0"]
)
async def test_bytes_bad_parameters(client: httpx.AsyncClient, path: str) -> None:
    r = await client.get(path)
    assert r.status_code == 400
    assert "error" in r.json()
