"""The request-head guards of the production HTTP protocol (apitest/http_guard.py), over real sockets."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator

import pytest
import uvicorn

from apitest.app import create_app
from apitest.http_guard import MAX_HEADER_BYTES, GuardedHttpToolsProtocol
from apitest.server import uvicorn_config
from tests.support import free_port, make_settings

HEAD_TIMEOUT = 1.0


@pytest.fixture(scope="module")
def port() -> Iterator[int]:
    """apitest under the production uvicorn settings (uvloop + the guarded protocol) on loopback."""
    port = free_port()
    settings = make_settings(
        {"server": {"address": f"127.0.0.1:{port}", "read_header_timeout": f"{HEAD_TIMEOUT}s"}},
        groups=["identity", "echo"],
    )
    config = uvicorn_config(settings, create_app(settings))
    assert config.http is GuardedHttpToolsProtocol
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "server did not start"
        time.sleep(0.01)
    yield port
    server.should_exit = True
    thread.join(10)


def connect(port: int, timeout: float = 5.0) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    sock.settimeout(timeout)
    return sock


def read_all(sock: socket.socket) -> bytes:
    """Everything until the server closes the connection (raises on timeout)."""
    out = b""
    while chunk := sock.recv(65536):
        out += chunk
    return out


def request(port: int, raw: bytes) -> bytes:
    with connect(port) as sock:
        sock.sendall(raw)
        return read_all(sock)


def test_normal_requests_are_served(port: int) -> None:
    reply = request(port, b"GET /v1/whoami HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert reply.startswith(b"HTTP/1.1 200 ")


def test_a_head_sent_in_small_pieces_within_the_deadline_is_served(port: int) -> None:
    with connect(port) as sock:
        for piece in (b"GET /v1/who", b"ami HTTP/1.1\r\n", b"Host: x\r\n", b"Connection: close\r\n", b"\r\n"):
            sock.sendall(piece)
            time.sleep(HEAD_TIMEOUT / 10)
        assert read_all(sock).startswith(b"HTTP/1.1 200 ")


@pytest.mark.parametrize(
    "partial",
    [b"", b"GET /v1/whoami HTTP/1.1\r\nHost: x\r\n", b"GET /v1/who"],
    ids=["nothing", "headers-without-end", "request-line-cut"],
)
def test_an_incomplete_head_is_closed_after_the_deadline(port: int, partial: bytes) -> None:
    with connect(port) as sock:
        started = time.monotonic()
        sock.sendall(partial)
        assert read_all(sock) == b""
        waited = time.monotonic() - started
    assert HEAD_TIMEOUT * 0.8 <= waited < HEAD_TIMEOUT + 3


def test_trickling_bytes_does_not_extend_the_deadline(port: int) -> None:
    with connect(port) as sock:
        sock.sendall(b"GET /v1/whoami HTTP/1.1\r\n")
        started = time.monotonic()
        closed = False
        for i in range(int(HEAD_TIMEOUT * 10) + 30):
            try:
                sock.sendall(b"X-Slow-%d: y\r\n" % i)
            except OSError:
                closed = True
                break
            sock.settimeout(0.1)
            try:
                if sock.recv(1) == b"":
                    closed = True
                    break
            except TimeoutError:
                pass
        assert closed
        assert time.monotonic() - started < HEAD_TIMEOUT + 3


def test_the_deadline_applies_again_to_the_next_request_on_a_kept_alive_connection(port: int) -> None:
    with connect(port) as sock:
        sock.sendall(b"GET /v1/whoami HTTP/1.1\r\nHost: x\r\n\r\n")
        first = sock.recv(65536)
        assert first.startswith(b"HTTP/1.1 200 ")
        sock.sendall(b"GET /v1/whoami HTTP/1.1\r\nHost: x\r\n")
        started = time.monotonic()
        assert read_all(sock) == b""
        assert time.monotonic() - started < HEAD_TIMEOUT + 3


@pytest.mark.parametrize(
    "head",
    [
        b"GET /v1/whoami HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (MAX_HEADER_BYTES + 10),
        b"GET /v1/whoami HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-H%06d: v\r\n" % i for i in range(80_000)),
    ],
    ids=["one-endless-header", "many-headers"],
)
def test_a_head_over_the_cap_is_answered_431_and_closed(port: int, head: bytes) -> None:
    with connect(port) as sock:
        try:
            sock.sendall(head + b"\r\n\r\n")
        except OSError:
            pass  # the server may close while we are still sending; the reply is already buffered
        reply = read_all(sock)
    assert reply.startswith(b"HTTP/1.1 431 ")
    assert reply.endswith(b'{"error":"request header fields too large"}\n')


def test_a_large_head_under_the_cap_is_served(port: int) -> None:
    head = b"GET /v1/whoami HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Big: " + b"a" * (MAX_HEADER_BYTES // 2)
    assert request(port, head + b"\r\n\r\n").startswith(b"HTTP/1.1 200 ")


def test_bodies_are_not_counted_against_the_head_cap(port: int) -> None:
    body = b"x" * MAX_HEADER_BYTES  # with the head, more than the cap; echo reads exactly this much
    head = b"POST /v1/echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: %d\r\n\r\n" % len(body)
    assert request(port, head + body).startswith(b"HTTP/1.1 200 ")


def test_the_request_head_reaches_the_app_as_sent(port: int) -> None:
    """The protocol keeps the raw request-target and the header names' spelling (uvicorn lowercases them)."""
    raw = request(
        port,
        b"GET /v1/headers?x=%2F&y=%2e%2e&password=k HTTP/1.0\r\nHost: Gw.Example:81\r\nX-MiXed: 1\r\n"
        b"x-mixed: 2\r\nX-Client-Secret: secret-value\r\n\r\n",
    )
    head, _, body = raw.partition(b"\r\n\r\n")
    assert b"\r\napitest-event-id:" not in head.lower()  # audit is off here: no row, no id
    answer = json.loads(body)
    assert answer["raw_target"] == "/v1/headers?x=%2F&y=%2e%2e&password=[redacted]"
    assert (answer["http_version"], answer["host"]) == ("1.0", "Gw.Example:81")
    assert answer["header_list"] == [
        ["Host", "Gw.Example:81"],
        ["X-MiXed", "1"],
        ["x-mixed", "2"],
        ["X-Client-Secret", "[redacted]"],
    ]
    dump = request(port, b"GET /v1/dump?a=%2Fb HTTP/1.1\r\nHOST: h\r\nConnection: close\r\nX-Trace: t\r\n\r\n")
    text = dump.partition(b"\r\n\r\n")[2]
    assert text == b"GET /v1/dump?a=%2Fb HTTP/1.1\r\nHOST: h\r\nConnection: close\r\nX-Trace: t\r\n\r\n"
