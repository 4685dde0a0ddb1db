from __future__ import annotations

import socket
import time
from typing import Any

import httpx
import pytest
from starlette.types import Message, Receive, Scope, Send

from apitest.middleware.body_limit import PayloadTooLarge
from apitest.middleware.edge import Edge
from apitest.outcome import outcome_of
from tests.support import live_server, make_app
from tests.wire import StateRecorder, read_until_closed, recorded_client, request_bytes

ORDER = b'{"customer_email":"a@b.io","customer_name":"A","sku":"ABC-1234","quantity":1,"unit_price":1,"currency":"EUR"}'


def feeder(chunks: list[bytes]) -> tuple[Receive, list[int]]:
    """A receive channel handing out ``chunks`` one message at a time; counts the calls."""
    calls = [0]

    async def receive() -> Message:
        calls[0] += 1
        index = calls[0] - 1
        if index < len(chunks):
            return {"type": "http.request", "body": chunks[index], "more_body": index < len(chunks) - 1}
        return {"type": "http.disconnect"}

    return receive, calls


def scope_with(headers: list[tuple[bytes, bytes]]) -> dict[str, Any]:
    return {"type": "http", "method": "POST", "path": "/x", "headers": headers, "query_string": b""}


async def reader(scope: Scope, receive: Receive, send: Send) -> None:
    """A handler reading its whole body, then answering 200 with its length."""
    size, more = 0, True
    while more:
        message = await receive()
        size += len(message.get("body", b""))
        more = message.get("more_body", False)
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": str(size).encode()})


async def run(app: Any, scope: dict[str, Any], receive: Receive) -> list[Message]:
    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return sent


@pytest.mark.parametrize(
    ("limit", "chunks", "status", "receives"),
    [
        (2500, [b"x" * 1000] * 2, 200, 2),  # under the limit: read whole
        (2000, [b"x" * 1000] * 2, 200, 2),  # exactly the limit is allowed
        (2500, [b"x" * 1000] * 10, 413, 3),  # refused on the receive that passes the limit, 7 chunks unread
        (1, [b"xy"], 413, 1),
    ],
)
async def test_chunked_body_counted_per_receive(limit: int, chunks: list[bytes], status: int, receives: int) -> None:
    receive, calls = feeder(chunks)
    scope = scope_with([(b"transfer-encoding", b"chunked")])
    sent = await run(Edge(reader, max_body_bytes=limit), scope, receive)
    assert sent[0]["status"] == status
    assert calls[0] == receives
    if status == 413:
        assert sent[1]["body"] == f'{{"error":"request body exceeds {limit} bytes"}}\n'.encode()
        assert (b"connection", b"close") in sent[0]["headers"]
        assert outcome_of(scope).error_category == "payload_too_large"


async def test_declared_length_over_limit_reads_nothing() -> None:
    receive, calls = feeder([b"x" * 10])
    scope = scope_with([(b"content-length", b"5000000")])
    sent = await run(Edge(reader, max_body_bytes=1000), scope, receive)
    assert sent[0]["status"] == 413
    assert calls[0] == 0
    assert outcome_of(scope).error_message == "request body exceeds 1000 bytes (received 0, declared 5000000)"


async def test_handler_that_ignores_its_body_is_not_refused() -> None:
    async def ignorer(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    receive, calls = feeder([b"x" * 10])
    sent = await run(Edge(ignorer, max_body_bytes=5), scope_with([(b"content-length", b"10")]), receive)
    assert sent[0]["status"] == 204
    assert calls[0] == 0


async def test_refusal_after_the_response_started_propagates() -> None:
    async def streamer(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await receive()

    receive, _ = feeder([b"x" * 10])
    with pytest.raises(PayloadTooLarge):
        await run(Edge(streamer, max_body_bytes=5), scope_with([]), receive)


async def test_v1_route_answers_413_inside_the_pipeline() -> None:
    async with recorded_client({"server": {"max_body_bytes": 64}}) as (client, recorder):
        await check_413(client, recorder)


async def check_413(client: httpx.AsyncClient, recorder: StateRecorder) -> None:
    r = await client.post("/v1/validate", content=ORDER, headers={"content-type": "application/json"})
    assert r.status_code == 413
    assert r.json() == {"error": "request body exceeds 64 bytes"}
    assert r.headers["connection"] == "close"
    assert recorder.states[-1]["error_category"] == "payload_too_large"
    assert recorder.states[-1]["error_message"] == "request body exceeds 64 bytes"
    r = await client.post("/v1/validate", content=ORDER[:60] + b"}", headers={"content-type": "application/json"})
    assert r.status_code == 400  # under the limit: read and validated


@pytest.fixture(scope="module")
def small_limit_server() -> Any:
    with live_server(make_app({"server": {"max_body_bytes": 1000}}, groups=["lab"])) as server:
        yield server


def test_content_length_refused_before_the_body_is_sent(small_limit_server: Any) -> None:
    """413 arrives while the client has sent only headers; with Expect: 100-continue no 100 is sent."""
    headers = {"Content-Type": "application/json", "Content-Length": "20000000", "Expect": "100-continue"}
    with socket.create_connection(("127.0.0.1", small_limit_server.port), timeout=5) as sock:
        started = time.monotonic()
        sock.sendall(request_bytes("POST", "/v1/validate", headers))
        wire = read_until_closed(sock, started, 5)
    assert wire.status == 413
    assert not wire.data.startswith(b"HTTP/1.1 100")
    assert wire.body == b'{"error":"request body exceeds 1000 bytes"}\n'
    assert wire.header("connection") == "close"
    assert wire.end == "eof"
    assert wire.elapsed < 2


def test_chunked_body_refused_as_soon_as_it_passes_the_limit(small_limit_server: Any) -> None:
    """Chunks of 400 bytes: the 413 comes after the third, while the client still holds 47 more."""
    headers = {"Content-Type": "application/json", "Transfer-Encoding": "chunked"}
    chunk = b"190\r\n" + b"x" * 400 + b"\r\n"
    with socket.create_connection(("127.0.0.1", small_limit_server.port), timeout=5) as sock:
        started = time.monotonic()
        sock.sendall(request_bytes("POST", "/v1/validate", headers))
        sent = 0
        for _ in range(50):
            try:
                sock.sendall(chunk)
            except (BrokenPipeError, ConnectionResetError):
                break
            sent += 1
            sock.settimeout(0.2)
            try:
                first = sock.recv(65536)
            except TimeoutError:
                continue
            wire = read_until_closed(sock, started, 5)
            wire.data = first + wire.data
            break
        else:
            pytest.fail("no answer after 50 chunks")
    assert wire.status == 413
    assert 3 <= sent < 50
