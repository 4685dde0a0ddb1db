"""A 413 for a body the server refused to read reaches a client that is still sending that body: the server
shuts its side and drains for a moment instead of closing with unread input (which resets the connection and
can destroy the 413). Raw sockets against the production protocol."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator

import pytest
import uvicorn

from apitest.app import create_app
from apitest.server import uvicorn_config
from tests.support import free_port, make_settings

LIMIT = 1024
BODY = 8 * 1024 * 1024  # declared: far more than socket buffers hold


@pytest.fixture(scope="module")
def port() -> Iterator[int]:
    port = free_port()
    settings = make_settings(
        {"server": {"address": f"127.0.0.1:{port}", "max_body_bytes": LIMIT}}, groups=["echo", "lab"]
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


def exchange(port: int, path: str, headers: str) -> tuple[bytes, BaseException | None]:
    """Send the whole body from one thread, as a gateway streaming it upstream does, while another reads the
    answer: the answer, and the error the sender got (None when it could send everything)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(f"POST {path} HTTP/1.1\r\nHost: t\r\n{headers}Content-Length: {BODY}\r\n\r\n".encode())
        failure: list[BaseException] = []

        def send_body() -> None:
            chunk = b"x" * 65536
            try:
                for _ in range(BODY // len(chunk)):
                    sock.sendall(chunk)
            except OSError as exc:
                failure.append(exc)

        sender = threading.Thread(target=send_body)
        sender.start()
        data = b""
        with contextlib.suppress(ConnectionResetError):
            while part := sock.recv(65536):
                data += part
        sender.join(10)
        return data, (failure[0] if failure else None)


@pytest.mark.parametrize(
    ("path", "headers"),
    [("/v1/echo", "Content-Type: application/json\r\n"), ("/v1/validate", "Content-Type: application/json\r\n")],
)
def test_the_413_reaches_a_client_still_sending_its_body(port: int, path: str, headers: str) -> None:
    data, send_error = exchange(port, path, headers)
    assert data.startswith(b"HTTP/1.1 413 "), data[:200]
    assert b"request body exceeds 1024 bytes" in data
    assert send_error is None  # no reset while the body was still going out: a gateway would have answered 502
