"""HTTP/1.0 clients get close-delimited bodies, never chunked framing (apitest/http10.py), on the wire under the
production uvicorn settings with the audit on."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn

from apitest.app import create_app
from apitest.server import uvicorn_config
from tests.support import free_port, make_settings


@pytest.fixture(scope="module")
def port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    port = free_port()
    db = tmp_path_factory.mktemp("http10") / "audit.db"
    settings = make_settings(
        {
            "server": {"address": f"127.0.0.1:{port}"},
            "database": {"url": f"sqlite+aiosqlite:///{db}"},
            "audit": {"enabled": True},
        },
        groups=["identity", "streaming", "failure"],
    )
    server = uvicorn.Server(uvicorn_config(settings, create_app(settings)))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "server did not start"
        time.sleep(0.01)
    yield port
    server.should_exit = True
    thread.join(10)


def exchange(port: int, method: str, target: str, version: str, extra: str = "") -> tuple[bytes, dict[str, str], bytes]:
    """Send one request and read until the server closes; the head as (status line, headers) and the body."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(f"{method} {target} {version}\r\nHost: fixture\r\n{extra}\r\n".encode())
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status, *lines = head.split(b"\r\n")
    headers: dict[str, Any] = {}
    for line in lines:
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    return status, headers, body


def test_a_stream_to_an_http10_client_is_close_delimited(port: int) -> None:
    status, headers, body = exchange(port, "GET", "/v1/streaming/chunked?count=3&delay_ms=20&seed=s", "HTTP/1.0")
    assert status == b"HTTP/1.1 200 OK"
    assert "transfer-encoding" not in headers and "content-length" not in headers
    assert headers["connection"] == "close"
    assert body.count(b"\n") == 3 and b"\r\n0\r\n" not in body  # the items themselves, no chunk framing


def test_the_same_stream_is_chunked_for_http11(port: int) -> None:
    status, headers, body = exchange(
        port, "GET", "/v1/streaming/chunked?count=3&delay_ms=20&seed=s", "HTTP/1.1", "Connection: close\r\n"
    )
    assert headers["transfer-encoding"] == "chunked"
    assert body.endswith(b"0\r\n\r\n")


@pytest.mark.parametrize(
    ("method", "target", "length"),
    [("GET", "/v1/whoami", True), ("HEAD", "/v1/streaming/chunked?count=2", False), ("GET", "/v1/status/204", False)],
)
def test_http10_framing_of_sized_and_bodiless_responses(port: int, method: str, target: str, length: bool) -> None:
    _, headers, body = exchange(port, method, target, "HTTP/1.0")
    assert "transfer-encoding" not in headers
    assert ("content-length" in headers) is length
    if method == "HEAD" or target.endswith("204"):
        assert body == b""
    else:
        assert len(body) == int(headers["content-length"])


def test_http10_keep_alive_still_gets_one_close_delimited_response(port: int) -> None:
    _, headers, body = exchange(
        port, "GET", "/v1/streaming/ndjson?count=2&seed=s", "HTTP/1.0", "Connection: keep-alive\r\n"
    )
    assert "transfer-encoding" not in headers and len(body.splitlines()) == 2
