"""The request-head guards of the production HTTP protocol (apitest/http_guard.py), over real sockets."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn
from uvicorn.protocols.http.flow_control import FlowControl
from uvicorn.protocols.http.httptools_impl import RequestResponseCycle

from apitest.app import create_app
from apitest.http_guard import (
    GUARD_STATS,
    MAX_HEADER_BYTES,
    VALIDATED_TAIL,
    GuardedCycle,
    GuardedHttpToolsProtocol,
    LingeringTransport,
    configure_body_guard,
    valid_header,
)
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
    assert isinstance(config.http, type) and issubclass(config.http, GuardedHttpToolsProtocol)  # TLSAwareProtocol
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


# Request-body deadlines ------------------------------------------------------------------------------------


@pytest.fixture
def slow_body_limits(port: int) -> Iterator[int]:
    """The served app with small body deadlines: 1 s between bytes, 200 B/s after 1 s."""
    configure_body_guard(1.0, 200, 1.0)
    try:
        yield port
    finally:
        configure_body_guard(30.0, 512, 10.0)


def body_head(length: int) -> bytes:
    return (
        b"POST /v1/echo HTTP/1.1\r\nHost: t\r\nContent-Type: text/plain\r\n"
        b"Content-Length: " + str(length).encode() + b"\r\n\r\n"
    )


def test_a_body_that_stops_arriving_is_answered_408_and_closed(slow_body_limits: int) -> None:
    before = GUARD_STATS.slow_bodies["idle"]
    with connect(slow_body_limits, timeout=10) as sock:
        sock.sendall(body_head(100) + b"x")
        reply = read_all(sock)
    assert reply.startswith(b"HTTP/1.1 408 ")
    assert reply.endswith(b'{"error":"request body timeout"}\n')
    assert GUARD_STATS.slow_bodies["idle"] == before + 1


def test_a_body_trickling_under_the_floor_rate_is_answered_408(slow_body_limits: int) -> None:
    before = GUARD_STATS.slow_bodies["rate"]
    with connect(slow_body_limits, timeout=10) as sock:
        sock.sendall(body_head(1000))
        reply = b""
        for _ in range(40):  # a byte every 0.2 s: never 1 s apart, but 5 B/s
            try:
                sock.sendall(b"x")
            except OSError:
                break
            time.sleep(0.2)
            sock.setblocking(False)
            try:
                reply += sock.recv(65536)
            except BlockingIOError:
                pass
            finally:
                sock.setblocking(True)
            if reply:
                break
        sock.settimeout(5)
        reply += read_all(sock)
    assert reply.startswith(b"HTTP/1.1 408 ")
    assert GUARD_STATS.slow_bodies["rate"] == before + 1


def test_a_body_sent_in_pieces_within_the_limits_is_served(slow_body_limits: int) -> None:
    with connect(slow_body_limits, timeout=10) as sock:
        sock.sendall(body_head(6000))
        for _ in range(3):
            sock.sendall(b"y" * 2000)
            time.sleep(0.3)
        sock.sendall(b"GET /v1/whoami HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        reply = read_all(sock)
    assert reply.startswith(b"HTTP/1.1 200 ")
    assert reply.count(b"HTTP/1.1 200 ") == 2


def test_requests_without_a_body_never_arm_the_body_deadline(slow_body_limits: int) -> None:
    configure_body_guard(0.2, 0, 0.0)
    with connect(slow_body_limits, timeout=10) as sock:
        sock.sendall(b"GET /v1/whoami HTTP/1.1\r\nHost: t\r\n\r\n")
        time.sleep(0.6)  # past the body deadline, within the keep-alive one: idle, not in a body
        sock.sendall(b"GET /v1/whoami HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        reply = read_all(sock)
    assert reply.count(b"HTTP/1.1 200 ") == 2


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


# The head of a response whose last headers the edge checked already (GuardedCycle) ------------------------


class RecordingTransport:
    def __init__(self) -> None:
        self.written = b""
        self.writes = 0
        self.closed = False

    def write(self, data: bytes) -> None:
        self.written += data
        self.writes += 1

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def abort(self) -> None:
        self.closed = True


class ConnectionStub:
    """What :class:`LingeringTransport` uses of the protocol: its transport, loop and lingering close."""

    def __init__(self) -> None:
        self.transport = RecordingTransport()
        self.loop = asyncio.get_running_loop()

    def close_lingering(self) -> None:
        self.transport.close()


def lingering() -> Any:
    return LingeringTransport(ConnectionStub())  # type: ignore[arg-type]


def cycle(
    kind: type[RequestResponseCycle], method: str = "GET", keep_alive: bool = True, on_response: Any = None
) -> RequestResponseCycle:
    """uvicorn's cycle over a recording transport; the guarded one over the production protocol's
    :class:`LingeringTransport` (``cycle.transport``), whose recording transport is ``wire(cycle)``."""
    flow = FlowControl(RecordingTransport())  # type: ignore[arg-type]
    return kind(
        scope={"type": "http", "method": method, "http_version": "1.1", "path": "/"},  # type: ignore[typeddict-item]
        transport=lingering() if kind is GuardedCycle else RecordingTransport(),  # type: ignore[arg-type]
        flow=flow,
        logger=logging.getLogger("test"),
        access_logger=logging.getLogger("test.access"),
        access_log=False,
        default_headers=[(b"date", b"Thu, 03 Dec 2026 18:00:00 GMT")],
        message_event=asyncio.Event(),
        expect_100_continue=False,
        keep_alive=keep_alive,
        on_response=on_response or (lambda: None),
    )


def wire(cycle: RequestResponseCycle) -> Any:
    """The recording transport under a cycle's transport."""
    transport: Any = cycle.transport
    return transport._transport if isinstance(transport, LingeringTransport) else transport


TAIL = [(b"x-content-type-options", b"nosniff"), (b"x-request-id", b"req-1")]


@pytest.mark.parametrize(
    ("method", "status", "headers", "keep_alive"),
    [
        ("GET", 200, [(b"content-length", b"2"), (b"Content-Type", b"text/plain")], True),
        ("GET", 200, [(b"content-type", b"text/plain")], True),  # no length: chunked
        ("HEAD", 200, [(b"content-type", b"text/plain")], True),
        ("GET", 204, [], True),
        ("GET", 304, [], True),
        ("GET", 200, [(b"content-length", b"2"), (b"Connection", b"keep-alive, Close")], True),
        ("GET", 200, [(b"content-length", b"2")], False),  # an HTTP/1.0 client: connection: close added
        ("GET", 200, [(b"transfer-encoding", b"chunked")], True),
    ],
)
async def test_a_head_with_a_checked_tail_is_written_as_uvicorn_writes_it(
    method: str, status: int, headers: list[tuple[bytes, bytes]], keep_alive: bool
) -> None:
    plain, guarded = cycle(RequestResponseCycle, method, keep_alive), cycle(GuardedCycle, method, keep_alive)
    await plain.send({"type": "http.response.start", "status": status, "headers": [*headers, *TAIL]})
    marked: Any = {"type": "http.response.start", "status": status, "headers": [*headers, *TAIL]}
    marked[VALIDATED_TAIL] = len(TAIL)
    await guarded.send(marked)
    await asyncio.sleep(0)  # no body message in this turn: the held head is written at its end
    written = wire(guarded).written
    assert written == plain.transport.written  # type: ignore[attr-defined]
    assert b"\r\nx-request-id: req-1\r\n" in written
    for name in ("response_started", "keep_alive", "chunked_encoding", "expected_content_length"):
        assert getattr(guarded, name) == getattr(plain, name), name


@pytest.mark.parametrize("bad", [(b"x-bad", b"a\r\nset-cookie: forged=1"), (b"bad name", b"v"), (b"x-nul", b"a\x00b")])
async def test_headers_before_the_checked_tail_are_still_refused_when_invalid(bad: tuple[bytes, bytes]) -> None:
    guarded = cycle(GuardedCycle)
    with pytest.raises(RuntimeError, match="Invalid HTTP header"):
        message: Any = {"type": "http.response.start", "status": 200, "headers": [bad, *TAIL], VALIDATED_TAIL: 2}
        await guarded.send(message)
    await asyncio.sleep(0)
    assert wire(guarded).written == b""


def marked_start(status: int, headers: list[tuple[bytes, bytes]]) -> Any:
    return {"type": "http.response.start", "status": status, "headers": [*headers, *TAIL], VALIDATED_TAIL: len(TAIL)}


WHOLE = [(b"content-length", b"5"), (b"content-type", b"text/plain")]


@pytest.mark.parametrize(
    ("method", "headers", "bodies"),
    [
        ("GET", WHOLE, [b"hello"]),  # the common case: head and body in one write
        ("GET", [(b"content-length", b"0")], [b""]),
        ("GET", WHOLE, [b"hel", b"lo"]),  # streamed with a length
        ("GET", [(b"content-type", b"text/plain")], [b"a", b"b", b""]),  # chunked
        ("GET", [(b"content-type", b"text/plain")], [b"whole"]),  # chunked, one message
        ("HEAD", WHOLE, [b""]),
        ("GET", [*WHOLE, (b"connection", b"close")], [b"hello"]),
    ],
)
async def test_a_response_is_written_byte_for_byte_as_uvicorn_writes_it(
    method: str, headers: list[tuple[bytes, bytes]], bodies: list[bytes]
) -> None:
    done: list[str] = []
    plain = cycle(RequestResponseCycle, method, on_response=lambda: done.append("plain"))
    guarded = cycle(GuardedCycle, method, on_response=lambda: done.append("guarded"))
    await plain.send({"type": "http.response.start", "status": 200, "headers": [*headers, *TAIL]})
    await guarded.send(marked_start(200, headers))
    for index, body in enumerate(bodies):
        message: Any = {"type": "http.response.body", "body": body, "more_body": index < len(bodies) - 1}
        await plain.send(message)
        await guarded.send(message)
    await asyncio.sleep(0)
    sent, expected = wire(guarded), plain.transport
    assert sent.written == expected.written  # type: ignore[attr-defined]
    assert sent.closed == expected.closed  # type: ignore[attr-defined]
    assert sent.writes <= expected.writes  # type: ignore[attr-defined]  # the head rides with the first body write
    assert done == ["plain", "guarded"]
    for name in ("response_complete", "keep_alive", "expected_content_length"):
        assert getattr(guarded, name) == getattr(plain, name), name


async def test_a_whole_response_is_one_write() -> None:
    guarded = cycle(GuardedCycle)
    await guarded.send(marked_start(200, WHOLE))
    assert wire(guarded).writes == 0  # held for the body of this turn
    await guarded.send({"type": "http.response.body", "body": b"hello"})
    assert wire(guarded).writes == 1
    assert wire(guarded).written.endswith(b"\r\n\r\nhello")
    await asyncio.sleep(0)  # the end-of-turn release finds nothing held
    assert wire(guarded).writes == 1
    assert guarded.response_complete


async def test_a_held_head_is_written_at_the_end_of_the_turn_when_the_body_comes_later() -> None:
    guarded = cycle(GuardedCycle)
    await guarded.send(marked_start(200, WHOLE))
    await asyncio.sleep(0)
    assert wire(guarded).written.endswith(b"\r\n\r\n")  # the client has the head
    await asyncio.sleep(0.01)
    await guarded.send({"type": "http.response.body", "body": b"hello"})
    assert wire(guarded).writes == 2
    assert guarded.response_complete


@pytest.mark.parametrize("end", ["close", "abort"])
async def test_a_held_head_goes_out_before_the_connection_ends_in_the_same_turn(end: str) -> None:
    # An application that fails after its start message: uvicorn closes the connection at once.
    guarded = cycle(GuardedCycle)
    await guarded.send(marked_start(200, WHOLE))
    getattr(guarded.transport, end)()
    assert wire(guarded).closed
    assert wire(guarded).written.startswith(b"HTTP/1.1 200 OK\r\n")
    assert wire(guarded).written.endswith(b"\r\n\r\n")
    await asyncio.sleep(0)
    assert wire(guarded).writes == 1


async def test_a_held_head_is_dropped_once_the_connection_is_closing() -> None:
    guarded = cycle(GuardedCycle)
    await guarded.send(marked_start(200, WHOLE))
    wire(guarded).closed = True  # the client left: the protocol closed the transport
    await asyncio.sleep(0)
    assert wire(guarded).written == b""


async def test_a_body_shorter_than_its_length_is_refused_as_uvicorn_refuses_it() -> None:
    guarded = cycle(GuardedCycle)
    await guarded.send(marked_start(200, WHOLE))
    with pytest.raises(RuntimeError, match="shorter than Content-Length"):
        await guarded.send({"type": "http.response.body", "body": b"hell"})
    assert not guarded.response_complete


def test_valid_header_is_uvicorns_rule_for_a_header_the_server_writes_unchecked() -> None:
    assert valid_header(b"x-request-id", b"0b2d-printable ASCII")
    assert not valid_header(b"X-Request-Id", b"v")  # written as given: must be lowercase already
    assert not valid_header(b"x-a", b"v\r\nx-b: w")
    assert not valid_header(b"x a", b"v")


def test_responses_through_the_server_are_written_by_the_guarded_cycle(
    port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    heads: list[int] = []
    send = GuardedCycle.send

    async def counting(self: GuardedCycle, message: Any) -> None:
        if message["type"] == "http.response.start":
            heads.append(message.get(VALIDATED_TAIL, 0))
        await send(self, message)

    monkeypatch.setattr(GuardedCycle, "send", counting)
    response = request(port, b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
    head = response.split(b"\r\n\r\n", 1)[0].split(b"\r\n")
    assert head[0] == b"HTTP/1.1 200 OK"
    assert heads and heads[0] >= 2  # the edge marked its sandbox headers and request id as checked
    assert head[-2].startswith(b"x-request-id: ") and head[-1] == b"connection: close"
    assert b"x-content-type-options: nosniff" in head
