"""Rejected traffic costs little: 300 unauthenticated requests with 800 KB of headers each, against a real server.

Before the caps, every rejected request stored all of its headers: 300 such requests added 371 MB to the
database and 300 MB of resident memory that stayed. Now a rejected request keeps its row with at most
``audit.rejected_payload_bytes`` of each payload part, and the buffer is bounded in bytes.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import httpx
import pytest

from tests.security.conftest import ServerFactory, audit_rows, log_records

pytestmark = pytest.mark.security
KEY = "sec-cost-key-0123456789"
REQUESTS = 300
HEADER = "h" * 800_000  # under the server's 1 MiB head cap (apitest/http_guard.py), so each is answered 401


def test_three_hundred_huge_rejected_requests_leave_memory_and_database_small(
    apitest_server: ServerFactory, tmp_path: Path
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/audit.db"
    server = apitest_server("cost", database_url=url, key=KEY, extra={"audit": {"flush_interval_ms": 50}})
    with httpx.Client(base_url=server.url, timeout=30) as client:
        for _ in range(20):  # warm up: imports, caches and pools of an ordinary request path
            assert client.get("/v1/whoami", headers={"X-API-Key": KEY}).status_code == 200
        time.sleep(0.5)
        before = server.rss_mib()
        for i in range(REQUESTS):
            r = client.get("/v1/whoami", headers={"X-Junk": HEADER, "X-Request-Id": f"junk-{i}"})
            assert r.status_code == 401
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
    database = Path(f"{tmp_path}/audit.db")
    size = sum(p.stat().st_size for p in tmp_path.glob("audit.db*"))
    assert database.exists() and size < 20 * 1024 * 1024, f"the audit database is {size / 1e6:.1f} MB"
    stopped = [r for r in log_records(server) if r.get("msg") == "audit writer stopped"][-1]
    assert stopped["dropped_total"] == 0
    assert os.path.getsize(server.log_path) < 5 * 1024 * 1024  # nothing logged the headers either
