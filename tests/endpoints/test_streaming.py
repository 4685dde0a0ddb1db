from __future__ import annotations

import asyncio
import contextlib
import json
import re
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette

from apitest.db.engine import upgrade
from apitest.endpoints.seeded import stream_word
from tests.endpoints.conftest import Live, asgi_messages, bodies, recorded_live_server
from tests.support import make_app

FIXED_WORDS = ["uniform", "whiskey", "kilo", "victor", "india"]
KINDS = {
    "chunked": ("text/plain; charset=utf-8", b"\n"),
    "sse": ("text/event-stream", b"\n\n"),
    "ndjson": ("application/x-ndjson", b"\n"),
}


# Every item carries the server's send time; tests compare bodies with it replaced by this (same length).
AT = "2000-01-01T00:00:00.000000Z"
_SENT_AT = re.compile(rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z")


def timeless(body: bytes) -> bytes:
    return _SENT_AT.sub(AT.encode(), body)


def expected_body(kind: str, words: list[str]) -> bytes:
    """The original's seeded items, followed by the added ``seq`` and ``sent_at`` (as :data:`AT`)."""
    if kind == "chunked":
        return b"".join(f"chunk {i}: {w} seq={i} sent_at={AT}\n".encode() for i, w in enumerate(words))
    if kind == "sse":
        return b"".join(
            f'id: {i}\ndata: {{"id":{i},"word":"{w}","seq":{i},"sent_at":"{AT}"}}\n\n'.encode()
            for i, w in enumerate(words)
        )
    return b"".join(f'{{"index":{i},"word":"{w}","seq":{i},"sent_at":"{AT}"}}\n'.encode() for i, w in enumerate(words))


@pytest.mark.parametrize("kind", KINDS)
async def test_reference_vector_seed_fixed(client: httpx.AsyncClient, kind: str) -> None:
    r = await client.get(f"/v1/streaming/{kind}?seed=fixed")  # count defaults to 5
    assert r.status_code == 200
    assert r.headers["content-type"] == KINDS[kind][0]
    assert "content-length" not in r.headers
    assert timeless(r.content) == expected_body(kind, FIXED_WORDS)


async def test_spec_sse_example(client: httpx.AsyncClient) -> None:
    r = await client.get("/v1/streaming/sse?count=2&seed=fixed")
    assert (
        timeless(r.content)
        == (
            f'id: 0\ndata: {{"id":0,"word":"uniform","seq":0,"sent_at":"{AT}"}}\n\n'
            f'id: 1\ndata: {{"id":1,"word":"whiskey","seq":1,"sent_at":"{AT}"}}\n\n'
        ).encode()
    )
    assert r.headers["cache-control"] == "no-store"


@pytest.mark.parametrize("kind", ["chunked", "ndjson"])
async def test_only_sse_sets_cache_control(client: httpx.AsyncClient, kind: str) -> None:
    assert "cache-control" not in (await client.get(f"/v1/streaming/{kind}")).headers


@pytest.mark.parametrize("kind", KINDS)
async def test_count_zero_is_an_empty_200(client: httpx.AsyncClient, kind: str) -> None:
    r = await client.get(f"/v1/streaming/{kind}?count=0")
    assert (r.status_code, r.content, r.headers["content-type"]) == (200, b"", KINDS[kind][0])


async def test_word_depends_on_seed_and_index_only(client: httpx.AsyncClient) -> None:
    long = timeless((await client.get("/v1/streaming/ndjson?count=50&seed=q")).content).decode().splitlines()
    short = timeless((await client.get("/v1/streaming/ndjson?count=3&seed=q")).content).decode().splitlines()
    assert long[:3] == short
    assert [json.loads(line)["word"] for line in long] == [stream_word("q", i) for i in range(50)]
    empty_seed = (await client.get("/v1/streaming/ndjson?count=2")).text.splitlines()
    assert [json.loads(line)["word"] for line in empty_seed] == [stream_word("", 0), stream_word("", 1)]


async def test_count_max(client: httpx.AsyncClient) -> None:
    r = await client.get("/v1/streaming/chunked?count=1000&seed=m")
    lines = r.text.splitlines()
    assert len(lines) == 1000
    assert timeless(lines[-1].encode()).decode() == f"chunk 999: {stream_word('m', 999)} seq=999 sent_at={AT}"


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("count=abc", "count must be a non-negative integer"),
        ("count=-1", "count must be a non-negative integer"),
        ("count=1.5", "count must be a non-negative integer"),
        ("count=99999999999999999999", "count must be a non-negative integer"),
        ("count=1001", "count 1001 exceeds max 1000"),
        ("delay_ms=x", "delay_ms must be a non-negative integer"),
        ("delay_ms=-1", "delay_ms must be a non-negative integer"),
        ("delay_ms=5001", "delay_ms 5001 exceeds max 5000"),
        ("count=1001&delay_ms=-1", "count 1001 exceeds max 1000"),  # count is validated first
        ("delay_ms=-1&count=-1", "count must be a non-negative integer"),
    ],
)
async def test_validation(client: httpx.AsyncClient, kind: str, query: str, message: str) -> None:
    r = await client.get(f"/v1/streaming/{kind}?{query}")
    assert r.status_code == 400
    assert r.headers["content-type"] == "application/json"
    assert r.content == f'{{"error":"{message}"}}\n'.encode()


@pytest.mark.parametrize("query", ["count=", "count=&delay_ms=", "delay_ms=0"])
async def test_empty_values_take_the_defaults(client: httpx.AsyncClient, query: str) -> None:
    r = await client.get(f"/v1/streaming/ndjson?{query}&seed=fixed")
    assert timeless(r.content) == expected_body("ndjson", FIXED_WORDS)


@pytest.mark.parametrize("kind", KINDS)
async def test_one_body_message_per_item(app: Starlette, kind: str) -> None:
    messages = await asgi_messages(app, f"/v1/streaming/{kind}", query="count=3&seed=fixed")
    chunks = bodies(messages)
    assert [timeless(m["body"]) for m in chunks[:3]] == _split(kind, 3)
    assert all(m["more_body"] for m in chunks[:3])
    assert chunks[3] == {"type": "http.response.body", "body": b"", "more_body": False}


def _split(kind: str, n: int) -> list[bytes]:
    sep = KINDS[kind][1]
    return [part + sep for part in expected_body(kind, FIXED_WORDS[:n]).split(sep)[:n]]


@pytest.mark.parametrize("kind", KINDS)
async def test_head_answers_at_once_without_items(client: httpx.AsyncClient, kind: str) -> None:
    started = time.monotonic()
    r = await client.head(f"/v1/streaming/{kind}?count=1000&delay_ms=5000")
    assert time.monotonic() - started < 1
    assert (r.status_code, r.content, r.headers["content-type"]) == (200, b"", KINDS[kind][0])


async def test_head_still_validates(client: httpx.AsyncClient) -> None:
    assert (await client.head("/v1/streaming/sse?count=1001")).status_code == 400


# --- over a real server, audit on: per-item flush and disconnect ------------------------------


@pytest.fixture(scope="module")
def audit_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("audit") / "apitest.db"
    upgrade(f"sqlite+aiosqlite:///{path}")
    return path


@pytest.fixture(scope="module")
def live(audit_db: Path) -> Iterator[Live]:
    """The full middleware stack with the audit log on (SQLite), as DECISIONS asks of the flush test."""
    app = make_app({"audit": {"enabled": True}, "database": {"url": f"sqlite+aiosqlite:///{audit_db}"}})
    with recorded_live_server(app) as running:
        yield running


def audited(db: Path, route: str) -> list[tuple[int, int]]:
    with contextlib.closing(sqlite3.connect(db)) as conn:
        rows = conn.execute("SELECT status, bytes_out FROM audit_events WHERE route_name = ?", (route,))
        return [tuple(row) for row in rows]


async def wait_for_rows(db: Path, route: str, n: int) -> list[tuple[int, int]]:
    """Poll the database (written by the audit writer in the server's thread) for up to 5 s."""
    for _ in range(100):
        rows = audited(db, route)
        if len(rows) >= n:
            break
        await asyncio.sleep(0.05)
    return rows


async def _arrivals(url: str, separator: bytes) -> tuple[float, list[float], list[bytes]]:
    """Read a stream incrementally; return the request start and the arrival time of each item."""
    arrivals: list[float] = []
    items: list[bytes] = []
    buffer = b""
    async with httpx.AsyncClient(timeout=10) as client:
        started = time.monotonic()
        async with client.stream("GET", url) as r:
            assert r.status_code == 200
            async for chunk in r.aiter_raw():
                buffer += chunk
                while separator in buffer:
                    item, buffer = buffer.split(separator, 1)
                    arrivals.append(time.monotonic())
                    items.append(item + separator)
    return started, arrivals, items


async def test_items_arrive_spaced_by_delay_ms(live: Live, audit_db: Path) -> None:
    count, delay = 4, 0.3
    async with httpx.AsyncClient() as warm:  # the server's first request pays for lazy imports
        assert (await warm.get(f"{live.url}/v1/whoami")).status_code == 200
    runs = await asyncio.gather(
        *(
            _arrivals(f"{live.url}/v1/streaming/{kind}?count={count}&delay_ms=300&seed=fixed", sep)
            for kind, (_, sep) in KINDS.items()
        )
    )
    for kind, (started, arrivals, items) in zip(KINDS, runs, strict=True):
        assert timeless(b"".join(items)) == expected_body(kind, FIXED_WORDS[:count])
        assert len(arrivals) == count
        # The server sleeps delay_ms after each item, so item k cannot arrive before k * delay ...
        assert all(t - started >= k * delay - 0.01 for k, t in enumerate(arrivals)), (kind, arrivals)
        # ... and with per-item flushing each arrives about delay_ms after the previous one (a buffered
        # stream would deliver them together, at the end); the margin absorbs scheduling jitter.
        gaps = [b - a for a, b in zip(arrivals, arrivals[1:], strict=False)]
        assert all(gap >= delay - 0.1 for gap in gaps), (kind, gaps)
        # The first item arrives well before the stream ends, and before a buffered stream could even be
        # complete ((count - 1) * delay after the request); a busy server may be slow to start, hence no
        # tighter bound from the start.
        assert arrivals[-1] - arrivals[0] >= (count - 1) * delay - 0.1, (kind, arrivals)
        assert arrivals[0] - started < (count - 1) * delay, f"{kind}: the first item waited for the stream"
    for kind in KINDS:
        rows = await wait_for_rows(audit_db, f"streaming_{kind}", 1)
        assert rows == [(200, len(expected_body(kind, FIXED_WORDS[:count])))], "the audit saw the whole stream"


async def test_stream_stops_when_the_client_disconnects(live: Live) -> None:
    async with httpx.AsyncClient(timeout=10) as client:
        async with client.stream("GET", f"{live.url}/v1/streaming/ndjson?count=1000&delay_ms=100") as r:
            received = b""
            async for chunk in r.aiter_raw():
                received += chunk
                if received.count(b"\n") >= 2:
                    break
        closed_at = time.monotonic()
    call = live.recorder.last("/v1/streaming/ndjson")
    assert await asyncio.to_thread(call.done.wait, 2), "the stream kept running after the client left"
    assert call.ended_at is not None and call.ended_at - closed_at < 1.0
    assert call.body_messages < 20  # of 1000 items
