from __future__ import annotations

import csv
import io
import json
import time

import httpx
import pytest
from starlette.applications import Starlette

from apitest.endpoints.seeded import export_value
from tests.endpoints.conftest import Live, asgi_messages, bodies


def big_body_length(size_kb: int) -> tuple[int, int]:
    """(rows, bytes) by the original's rule, from row lengths alone."""
    target = size_kb * 1024
    written, rows = 1, 0
    while written < target and rows < target // 40 + 64:
        written += len(f'{{"index":{rows},"value":""}}') + 16 + (1 if rows else 0)
        rows += 1
    return rows, written + 1


def test_big_body_length_rule_by_hand() -> None:
    # 1 KiB: '[' + row 0 (38) + rows 1-9 (39 each) + rows 10-25 (40 each) = 1030 ≥ 1024, then ']'
    assert big_body_length(1) == (26, 1031)


@pytest.mark.parametrize("size_kb", [1, 2, 3, 64, 100])
async def test_big_body_exact_length(client: httpx.AsyncClient, size_kb: int) -> None:
    r = await client.get(f"/v1/export/big-body?size_kb={size_kb}&seed=s")
    rows, length = big_body_length(size_kb)
    assert len(r.content) == length
    parsed = json.loads(r.content)
    assert parsed == [{"index": i, "value": export_value("s", i)} for i in range(rows)]
    assert r.content.endswith(b"}]")  # compact, no trailing newline
    assert r.headers["content-type"] == "application/json"


async def test_big_body_default_is_64_kib(client: httpx.AsyncClient) -> None:
    r = await client.get("/v1/export/big-body")
    assert len(r.content) == big_body_length(64)[1]
    assert json.loads(r.content)[0] == {"index": 0, "value": export_value("", 0)}


def test_big_body_max_over_a_real_server(live: Live) -> None:
    r = httpx.get(f"{live.url}/v1/export/big-body?size_kb=10240", timeout=30)
    assert r.status_code == 200
    assert "content-length" not in r.headers
    assert len(r.content) == big_body_length(10240)[1]


async def test_big_body_flushes_every_64_rows(app: Starlette) -> None:
    messages = bodies(await asgi_messages(app, "/v1/export/big-body", query="size_kb=10"))
    rows = big_body_length(10)[0]
    data = [m["body"] for m in messages if m["body"]]
    assert len(data) == -(-rows // 64)
    assert data[0].count(b'{"index"') == 64


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("size_kb=0", "size_kb must be a positive integer"),
        ("size_kb=-1", "size_kb must be a positive integer"),
        ("size_kb=1.5", "size_kb must be a positive integer"),
        ("size_kb=10241", "size_kb 10241 exceeds max 10240"),
    ],
)
async def test_big_body_errors(client: httpx.AsyncClient, query: str, message: str) -> None:
    r = await client.get(f"/v1/export/big-body?{query}")
    assert (r.status_code, r.json()) == (400, {"error": message})


async def test_csv(client: httpx.AsyncClient) -> None:
    r = await client.get("/v1/export/csv?rows=3&seed=k")
    assert r.headers["content-type"] == "text/csv; charset=utf-8"
    assert r.text == "index,value\n" + "".join(f"{i},{export_value('k', i)}\n" for i in range(3))


async def test_csv_default_rows_and_empty_seed(client: httpx.AsyncClient) -> None:
    r = await client.get("/v1/export/csv")
    rows = list(csv.reader(io.StringIO(r.text)))
    assert rows[0] == ["index", "value"]
    assert len(rows) == 1001
    assert rows[-1] == ["999", export_value("", 999)]
    assert "\r" not in r.text


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("rows=0", "rows must be a positive integer"),
        ("rows=abc", "rows must be a positive integer"),
        ("rows=250001", "rows 250001 exceeds max 250000"),
    ],
)
async def test_csv_errors(client: httpx.AsyncClient, query: str, message: str) -> None:
    r = await client.get(f"/v1/export/csv?{query}")
    assert (r.status_code, r.json()) == (400, {"error": message})


@pytest.mark.parametrize("path", ["/v1/export/csv?rows=250000", "/v1/export/big-body?size_kb=10240"])
async def test_head_on_exports_sends_no_rows(client: httpx.AsyncClient, path: str) -> None:
    started = time.monotonic()
    r = await client.head(path)
    assert (r.status_code, r.content) == (200, b"")
    assert time.monotonic() - started < 0.5


async def test_long_running(client: httpx.AsyncClient) -> None:
    started = time.monotonic()
    r = await client.get("/v1/export/long-running?duration_ms=50")
    assert time.monotonic() - started >= 0.05
    assert r.content == b'{"slept_ms":50}\n'


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("duration_ms=0", "duration_ms must be a positive integer"),
        ("duration_ms=-5", "duration_ms must be a positive integer"),
        ("duration_ms=x", "duration_ms must be a positive integer"),
        ("duration_ms=60001", "duration_ms 60001 exceeds max 60000"),
    ],
)
async def test_long_running_errors(client: httpx.AsyncClient, query: str, message: str) -> None:
    r = await client.get(f"/v1/export/long-running?{query}")
    assert (r.status_code, r.json()) == (400, {"error": message})


def test_long_running_stops_when_the_client_leaves(live: Live) -> None:
    started = time.monotonic()
    with pytest.raises(httpx.ReadTimeout):
        httpx.get(f"{live.url}/v1/export/long-running?duration_ms=5000", timeout=0.3)
    call = live.recorder.last("/v1/export/long-running")
    assert call.done.wait(2)
    assert call.ended_at is not None and call.ended_at - started < 1.5
    assert call.status == 499
