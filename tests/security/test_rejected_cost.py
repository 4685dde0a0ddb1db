"""Rejected traffic costs little: 300 unauthenticated requests with 800 KB of headers each, against a real server.

Before the caps, every rejected request stored all of its headers: 300 such requests added 371 MB to the
database and 300 MB of resident memory that stayed (measured again here on PostgreSQL, ten clients at once:
+221 MB). Now a rejected request keeps its row with at most ``audit.rejected_payload_bytes`` of each payload
part, and the buffer is bounded in bytes.
"""

from __future__ import annotations

import asyncio
import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from tests.security.conftest import ServerFactory, audit_rows, log_records

pytestmark = pytest.mark.security
KEY = "sec-cost-key-0123456789"
REQUESTS = 300
HEADER = "h" * 800_000  # under the server's 1 MiB head cap (apitest/http_guard.py), so each is answered 401


def junk_requests(url: str, concurrency: int = 10) -> list[int]:
    """The 300 requests, from ``concurrency`` clients at once (as a scanner sends them)."""

    def one_client(offset: int) -> list[int]:
        with httpx.Client(base_url=url, timeout=60) as client:
            return [
                client.get("/v1/whoami", headers={"X-Junk": HEADER, "X-Request-Id": f"junk-{i}"}).status_code
                for i in range(offset, REQUESTS, concurrency)
            ]

    with ThreadPoolExecutor(concurrency) as pool:
        return [status for statuses in pool.map(one_client, range(concurrency)) for status in statuses]


async def postgres_audit_bytes(url: str) -> int:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            query = "SELECT pg_total_relation_size('audit_events') + pg_total_relation_size('audit_payloads')"
            return int((await conn.execute(text(query))).scalar_one())
    finally:
        await engine.dispose()


def audit_bytes(url: str, tmp_path: Path) -> int:
    if url.startswith("sqlite"):
        return sum(p.stat().st_size for p in tmp_path.glob("audit.db*"))
    return asyncio.run(postgres_audit_bytes(url))


def test_three_hundred_huge_rejected_requests_leave_memory_and_database_small(
    apitest_server: ServerFactory, backend_url: str, tmp_path: Path
) -> None:
    url = backend_url
    server = apitest_server("cost", database_url=url, key=KEY, extra={"audit": {"flush_interval_ms": 50}})
    with httpx.Client(base_url=server.url, timeout=30) as client:
        for _ in range(20):  # warm up: imports, caches and pools of an ordinary request path
            assert client.get("/v1/whoami", headers={"X-API-Key": KEY}).status_code == 200
        time.sleep(0.5)
        before = server.rss_mib()
        assert junk_requests(server.url) == [401] * REQUESTS
        time.sleep(1.0)  # the writer flushes every 50 ms
        after = server.rss_mib()
    assert after - before < 50, f"RSS grew from {before:.0f} MiB to {after:.0f} MiB"
    assert server.stop() == 0
    rows = audit_rows(url, with_payloads=True)
    rejected = [r for r in rows if r.status == 401]
    assert len(rejected) == REQUESTS  # every rejected request keeps its row
    for row in rejected:
        assert row.error_category == "missing_credential"
        assert row.details is not None and row.details["request_headers_truncated"] is True
        assert row.payload is not None and row.payload.request_headers is not None
        assert sum(len(v) for values in row.payload.request_headers.values() for v in values) <= 4096
    size = audit_bytes(url, tmp_path)
    assert 0 < size < 20 * 1024 * 1024, f"the audit tables take {size / 1e6:.1f} MB"
    stopped = [r for r in log_records(server) if r.get("msg") == "audit writer stopped"][-1]
    assert stopped["dropped_total"] == 0
    assert os.path.getsize(server.log_path) < 5 * 1024 * 1024  # nothing logged the headers either
