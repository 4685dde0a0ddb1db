"""The wire clock of one request: event id header, bytes in and out, first byte, chunks, client_complete."""

from __future__ import annotations

import time
from types import SimpleNamespace
from typing import Any

from starlette.types import Message

from apitest.audit.timing import MAX_CHUNKS, WireClock
from apitest.wirehead import RAW_KEY, RawHead


def scope(method: str = "GET", headers: list[tuple[bytes, bytes]] | None = None, cycle: Any = None) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "http", "method": method, "headers": headers or []}
    if cycle is not None:
        out["extensions"] = {RAW_KEY: RawHead(b"/", [], received=7, cycle_ref=lambda: cycle)}
    return out


async def run(clock: WireClock, messages: list[Message], cycle: Any = None, leave_after: int = -1) -> list[Message]:
    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    wrapped = clock.wrap_send(send)
    for i, message in enumerate(messages):
        if i == leave_after and cycle is not None:
            cycle.disconnected = True
        await wrapped(message)
    return sent


START = {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]}


async def test_the_head_names_the_row_and_is_timed() -> None:
    clock = WireClock(scope(), "0b7e1c3a-0000-4000-8000-000000000000", time.perf_counter())
    sent = await run(clock, [START, {"type": "http.response.body", "body": b"hi"}])
    assert (b"apitest-event-id", b"0b7e1c3a-0000-4000-8000-000000000000") in sent[0]["headers"]
    assert START["headers"] == [(b"content-type", b"text/plain")]  # the handler's message is not changed
    assert clock.ttfb_ms is not None and clock.ttfb_ms >= 0
    assert (clock.written, clock.chunk_offsets, clock.client_complete(True, False)) == (2, None, True)


async def test_a_stream_has_offsets_and_only_the_first_thousand_are_kept() -> None:
    clock = WireClock(scope(), "id", time.perf_counter())
    body = [{"type": "http.response.body", "body": b"x", "more_body": True}] * (MAX_CHUNKS + 5)
    await run(clock, [START, *body, {"type": "http.response.body", "body": b""}])
    offsets = clock.chunk_offsets
    assert offsets is not None and len(offsets) == MAX_CHUNKS and clock.chunks == MAX_CHUNKS + 5
    assert offsets == sorted(offsets)


async def test_head_bodies_are_not_counted() -> None:
    clock = WireClock(scope("HEAD"), "id", time.perf_counter())
    await run(clock, [START, {"type": "http.response.body", "body": b"dropped by the server"}])
    assert clock.written == 0


async def test_a_client_that_left_did_not_get_the_rest() -> None:
    cycle = SimpleNamespace(disconnected=False)
    clock = WireClock(scope(cycle=cycle), "id", time.perf_counter())
    body = {"type": "http.response.body", "body": b"abc", "more_body": True}
    await run(clock, [START, body, body, {"type": "http.response.body", "body": b"end"}], cycle, leave_after=2)
    assert clock.written == 3  # what was written before the client left
    assert clock.client_complete(True, False) is False


async def test_bytes_in_is_what_the_client_sent() -> None:
    async def body(more: bool) -> Message:
        return {"type": "http.request", "body": b"12345", "more_body": more}

    read_all = WireClock(scope("POST", [(b"content-length", b"5")]), "id", 0.0)
    await read_all.wrap_receive(lambda: body(False))()
    assert read_all.bytes_in() == 5
    stopped = WireClock(scope("POST", [(b"content-length", b"1991682")]), "id", 0.0)
    await stopped.wrap_receive(lambda: body(True))()
    assert stopped.bytes_in() == 1991682  # the handler stopped early: the declared length
    chunked = WireClock(scope("POST", cycle=SimpleNamespace(disconnected=False)), "id", 0.0)
    assert chunked.bytes_in() == 7  # no Content-Length, unread: the bytes the protocol received
    assert WireClock(scope("POST", [(b"content-length", b"-1")]), "id", 0.0).bytes_in() == 0
