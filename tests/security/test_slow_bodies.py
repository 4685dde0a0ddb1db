"""Slow request bodies cannot hold connections: a real server with small body deadlines, clients trickling
bytes over loopback. Before ``server.read_body_timeout`` / ``server.min_body_rate``, 200 connections sending
one byte every 5 s stayed open indefinitely."""

from __future__ import annotations

import re
import socket
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.security.conftest import ServerFactory, audit_rows

pytestmark = pytest.mark.security
CONNECTIONS = 20
LIMITS = {"server": {"read_body_timeout": "2s", "min_body_rate": 50, "min_body_rate_grace": "2s"}}


def head(length: int) -> bytes:
    return (
        b"POST /v1/echo HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/plain\r\n"
        b"Content-Length: " + str(length).encode() + b"\r\n\r\n"
    )


def trickle(port: int, interval: float, results: list[bytes], limit: float = 30.0) -> None:
    """Send a head, then one body byte every ``interval`` s until the server answers or closes."""
    reply = b""
    with socket.create_connection(("127.0.0.1", port), timeout=limit) as sock:
        sock.sendall(head(10_000))
        sock.settimeout(interval)
        started = time.monotonic()
        while time.monotonic() - started < limit:
            try:
                sock.sendall(b"x")
            except OSError:
                break
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                break
            if not chunk:
                break
            reply += chunk
    results.append(reply)


def counter(metrics: str, reason: str) -> float:
    found = re.search(rf'^apitest_http_slow_body_timeouts_total\{{reason="{reason}"\}} (\S+)$', metrics, re.M)
    return float(found.group(1)) if found else 0.0


def test_trickling_and_stalled_bodies_are_answered_408_and_counted(
    apitest_server: ServerFactory, tmp_path: Path
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/audit.db"
    server = apitest_server("slow", anonymous=True, database_url=url, extra=LIMITS)
    results: list[bytes] = []
    threads = [
        threading.Thread(target=trickle, args=(server.port, 1.0, results), daemon=True) for _ in range(CONNECTIONS)
    ]
    for thread in threads:
        thread.start()
    stalled = socket.create_connection(("127.0.0.1", server.port), timeout=30)
    stalled.sendall(head(100) + b"partial")
    stalled_reply = b""
    while chunk := stalled.recv(65536):
        stalled_reply += chunk
    stalled.close()
    for thread in threads:
        thread.join(40)
        assert not thread.is_alive(), "a trickling connection was still open"
    assert stalled_reply.startswith(b"HTTP/1.1 408 ")
    assert len(results) == CONNECTIONS
    assert all(reply.startswith(b"HTTP/1.1 408 ") for reply in results), results
    with httpx.Client(base_url=server.url, timeout=10) as client:
        assert client.post("/v1/echo", content=b"y" * 100_000).status_code == 200  # a normal body still works
        metrics = client.get("/metrics").text
    assert counter(metrics, "rate") == CONNECTIONS
    assert counter(metrics, "idle") == 1
    assert server.stop() == 0
    rows = [r for r in audit_rows(url) if r.path == "/v1/echo" and r.status != 200]
    assert len(rows) == CONNECTIONS + 1
    for row in rows:
        assert (row.status, row.error_category) == (499, "client_disconnected")
        assert row.error_message is not None and row.error_message.startswith("request body timeout: ")
