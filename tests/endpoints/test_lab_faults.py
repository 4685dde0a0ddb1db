"""``/v1/fault/{kind}``: parameter limits in process, and what arrives on the wire from a real uvicorn
(both the h11/asyncio stack of the test servers and the httptools/uvloop stack of ``apitest serve``)."""

from __future__ import annotations

import logging
import socket
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest

from apitest.endpoints.lab_faults import MALFORMED, truncated_body
from tests.conftest import ClientFactory
from tests.support import make_app
from tests.wire import Served, StateRecorder, captured_logs, exchange, read_until_closed, request_bytes, serve


@pytest.fixture
async def lab(client_factory: ClientFactory) -> httpx.AsyncClient:
    return await client_factory(groups=["lab"])


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("/bogus", "kind must be one of truncated, abort, reset, empty, malformed"),
        ("/truncated?delay_ms=-1", "delay_ms must be a non-negative integer"),
        ("/truncated?delay_ms=1.5", "delay_ms must be a non-negative integer"),
        ("/empty?delay_ms=60001", "delay_ms 60001 exceeds max 60000"),
        ("/truncated?length=0", "length must be a positive integer"),
        ("/truncated?length=1048577", "length 1048577 exceeds max 1048576"),
        ("/truncated?sent=-1", "sent must be a non-negative integer"),
        ("/truncated?sent=1024", "sent 1024 must be less than length 1024"),
        ("/truncated?length=10&sent=10", "sent 10 must be less than length 10"),
        ("/abort?chunks=-1", "chunks must be a non-negative integer"),
        ("/abort?chunks=1001", "chunks 1001 exceeds max 1000"),
        ("/abort?interval_ms=10001", "interval_ms 10001 exceeds max 10000"),
        ("/abort?interval_ms=x", "interval_ms must be a non-negative integer"),
    ],
)
async def test_parameter_limits(lab: httpx.AsyncClient, query: str, message: str) -> None:
    r = await lab.get("/v1/fault" + query)
    assert (r.status_code, r.json()) == (400, {"error": message})


@pytest.mark.parametrize("kind", ["reset", "empty", "malformed"])
async def test_kinds_needing_the_connection_answer_501_without_one(lab: httpx.AsyncClient, kind: str) -> None:
    """The in-process transport has no socket: say so instead of faking the fault."""
    r = await lab.get(f"/v1/fault/{kind}")
    assert r.status_code == 501
    assert r.json() == {"error": f"fault {kind} needs the client connection, which this server does not expose"}


STACKS = [("h11", "asyncio"), ("httptools", "uvloop")]


@pytest.fixture(scope="module", params=STACKS, ids=["h11-asyncio", "httptools-uvloop"])
def stack(request: pytest.FixtureRequest) -> Iterator[tuple[Served, StateRecorder]]:
    recorder = StateRecorder(make_app(groups=["lab"]))
    http, loop = request.param
    with serve(recorder, http=http, loop=loop) as served:
        yield served, recorder


def get(served: Served, target: str, request_id: str = "") -> bytes:
    return request_bytes("GET", target, {"X-Request-Id": request_id} if request_id else None)


def test_truncated_promises_more_than_it_sends(stack: tuple[Served, StateRecorder]) -> None:
    served, recorder = stack
    rid = uuid.uuid4().hex
    wire = exchange(served.port, get(served, "/v1/fault/truncated", rid))
    assert wire.status == 200
    assert wire.header("content-length") == "1024"
    assert wire.header("content-type") == "text/plain; charset=utf-8"
    assert wire.body == truncated_body(1024)[:512]
    assert wire.end == "eof"
    assert recorder.state_of(rid)["error_category"] == "fault_injected"
    assert recorder.state_of(rid)["error_message"] == "truncated: sent 512 of 1024 promised body bytes, then closed"


@pytest.mark.parametrize(("length", "sent"), [(100, 0), (10, 9), (5000, 4000)])
def test_truncated_sizes(stack: tuple[Served, StateRecorder], length: int, sent: int) -> None:
    served, _ = stack
    wire = exchange(served.port, get(served, f"/v1/fault/truncated?length={length}&sent={sent}"))
    assert wire.header("content-length") == str(length)
    assert wire.body == truncated_body(length)[:sent]
    assert wire.end == "eof"


def test_abort_stops_a_chunked_body_without_its_last_chunk(stack: tuple[Served, StateRecorder]) -> None:
    served, recorder = stack
    rid = uuid.uuid4().hex
    wire = exchange(served.port, get(served, "/v1/fault/abort", rid))
    assert wire.status == 200
    assert wire.header("transfer-encoding") == "chunked"
    assert wire.header("content-length") is None
    assert wire.body == b"8\r\nchunk 0\n\r\n8\r\nchunk 1\n\r\n8\r\nchunk 2\n\r\n"  # no 0\r\n\r\n terminator
    assert wire.end == "eof"
    assert recorder.state_of(rid)["error_message"] == "abort: sent 3 chunks, then closed without the final chunk"


def test_abort_spaces_its_chunks(stack: tuple[Served, StateRecorder]) -> None:
    served, _ = stack
    wire = exchange(served.port, get(served, "/v1/fault/abort?chunks=3&interval_ms=150"))
    chunk_times = [t for t, data in wire.arrivals if b"chunk " in data]
    assert len(chunk_times) == 3
    assert chunk_times[2] - chunk_times[0] >= 0.28
    assert wire.end == "eof"


def test_abort_with_no_chunks_sends_only_the_head(stack: tuple[Served, StateRecorder]) -> None:
    served, _ = stack
    wire = exchange(served.port, get(served, "/v1/fault/abort?chunks=0"))
    assert wire.status == 200
    assert wire.body == b""
    assert wire.end == "eof"


@pytest.mark.parametrize(
    ("kind", "data", "end", "message"),
    [
        ("reset", b"", "reset", "reset: connection reset (TCP RST) before any response bytes"),
        ("empty", b"", "eof", "empty: connection closed before any response bytes"),
        ("malformed", MALFORMED, "eof", "malformed: sent bytes that are not an HTTP response, then closed"),
    ],
)
def test_connection_level_faults(
    stack: tuple[Served, StateRecorder], kind: str, data: bytes, end: str, message: str
) -> None:
    served, recorder = stack
    rid = uuid.uuid4().hex
    wire = exchange(served.port, get(served, f"/v1/fault/{kind}", rid))
    assert (wire.data, wire.end) == (data, end)
    assert wire.elapsed < 2
    assert recorder.state_of(rid)["error_category"] == "fault_injected"
    assert recorder.state_of(rid)["error_message"] == message


@pytest.mark.parametrize("kind", ["reset", "empty", "truncated"])
def test_delay_comes_before_the_fault(stack: tuple[Served, StateRecorder], kind: str) -> None:
    served, _ = stack
    wire = exchange(served.port, get(served, f"/v1/fault/{kind}?delay_ms=300"))
    assert wire.end in ("eof", "reset")
    first = wire.arrivals[0][0] if wire.arrivals else wire.elapsed
    assert first >= 0.29


def test_faults_leave_the_server_healthy_and_quiet(stack: tuple[Served, StateRecorder]) -> None:
    """No 'ASGI callable returned without ...' errors, no 500 fallback, and the next request is served."""
    served, _ = stack
    with captured_logs("uvicorn", "uvicorn.error", "apitest", level=logging.WARNING) as records:
        for kind in ("truncated", "abort", "reset", "empty", "malformed"):
            exchange(served.port, get(served, f"/v1/fault/{kind}"))
        wire = exchange(served.port, request_bytes("GET", "/v1/resources/7", {"Connection": "close"}))
        with socket.create_connection(("127.0.0.1", served.port), timeout=5) as sock:
            sock.sendall(b"NOT HTTP\r\n\r\n")  # proves the capture works: uvicorn warns about this
            read_until_closed(sock, time.monotonic(), 5)
        time.sleep(0.1)
    assert wire.status == 200
    assert [r.getMessage() for r in records] == ["Invalid HTTP request received."]


def test_httpx_sees_each_fault_as_a_transport_error(stack: tuple[Served, StateRecorder]) -> None:
    """What an ordinary client library reports, so a gateway's mapping can be compared with it."""
    served, _ = stack
    expected: list[tuple[str, tuple[type[Exception], ...]]] = [
        ("truncated", (httpx.RemoteProtocolError,)),
        ("abort", (httpx.RemoteProtocolError,)),
        ("empty", (httpx.RemoteProtocolError,)),
        ("malformed", (httpx.RemoteProtocolError,)),
        ("reset", (httpx.ReadError, httpx.RemoteProtocolError)),
    ]
    with httpx.Client(base_url=served.url, timeout=5) as client:
        for kind, errors in expected:
            with pytest.raises(errors):
                client.get(f"/v1/fault/{kind}")
