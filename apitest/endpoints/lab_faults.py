"""``/v1/fault/{kind}``: break the connection in a chosen, repeatable way.

Every kind first waits ``delay_ms`` (0 to 60000), then:

- ``truncated``: status 200, ``Content-Length: <length>`` (default 1024), only the first ``sent`` bytes
  (default half) of the body, then the connection is closed (FIN).
- ``abort``: status 200 with ``Transfer-Encoding: chunked``; ``chunks`` complete chunks (default 3, each
  ``chunk <i>\\n``) ``interval_ms`` apart, then the connection is closed (FIN) without the final
  zero-length chunk. An HTTP/1.0 client gets no chunked framing (its body ends when the connection does),
  so a FIN would end the body cleanly: for it the connection is reset instead (after a short pause, so the
  chunks already sent are read), which is how a cut close-delimited body shows.
- ``reset``: no response bytes; the connection is reset (``SO_LINGER`` 0, then close: a TCP RST).
- ``empty``: no response bytes; the connection is closed (FIN).
- ``malformed``: the bytes of :data:`MALFORMED` (not an HTTP response), then FIN.

The body of ``truncated`` is :data:`PATTERN` repeated. ``reset``, ``empty`` and ``malformed`` need the
connection itself (see :mod:`apitest.middleware.connection`); under a server that does not expose it they
answer 501 rather than something else. ``truncated`` and ``abort`` use only ASGI messages there: the
app returns before the body is complete and the server closes the connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from apitest.endpoints.helpers import non_negative_bounded, positive_bounded, sleep_unless_disconnected
from apitest.failures import note_failure
from apitest.http import ParamError, error_response
from apitest.middleware.connection import Transport, transport_of

KINDS = ("truncated", "abort", "reset", "empty", "malformed")
HTTP10_ABORT_PAUSE_S = 0.05
NEEDS_TRANSPORT = ("reset", "empty", "malformed")
DELAY_MAX_MS = 60000
LENGTH_DEFAULT, LENGTH_MAX = 1024, 1048576
CHUNKS_DEFAULT, CHUNKS_MAX = 3, 1000
INTERVAL_MAX_MS = 10000
PATTERN = b"abcdefghijklmnopqrstuvwxyz0123456789\n"
MALFORMED = b"THIS IS NOT HTTP\r\n\r\n"
DISCONNECT_WAIT_S = 5.0
TEXT = b"text/plain; charset=utf-8"


@dataclass(frozen=True)
class Fault:
    kind: str
    delay_ms: int = 0
    length: int = 0  # truncated: Content-Length promised
    sent: int = 0  # truncated: body bytes actually sent
    chunks: int = 0  # abort: complete chunks before the cut
    interval_ms: int = 0  # abort: pause between chunks

    def describe(self) -> str:
        if self.kind == "truncated":
            return f"truncated: sent {self.sent} of {self.length} promised body bytes, then closed"
        if self.kind == "abort":
            return f"abort: sent {self.chunks} chunks, then closed without the final chunk"
        if self.kind == "reset":
            return "reset: connection reset (TCP RST) before any response bytes"
        if self.kind == "empty":
            return "empty: connection closed before any response bytes"
        return "malformed: sent bytes that are not an HTTP response, then closed"


def parse_fault(request: Request) -> Fault:
    kind = request.path_params["kind"]
    if kind not in KINDS:
        raise ParamError(f"kind must be one of {', '.join(KINDS)}")
    delay = non_negative_bounded(request, "delay_ms", 0, DELAY_MAX_MS)
    if kind == "truncated":
        length = positive_bounded(request, "length", LENGTH_DEFAULT, LENGTH_MAX)
        sent = non_negative_bounded(request, "sent", length // 2, None)
        if sent >= length:
            raise ParamError(f"sent {sent} must be less than length {length}")
        return Fault(kind, delay, length=length, sent=sent)
    if kind == "abort":
        chunks = non_negative_bounded(request, "chunks", CHUNKS_DEFAULT, CHUNKS_MAX)
        interval = non_negative_bounded(request, "interval_ms", 0, INTERVAL_MAX_MS)
        return Fault(kind, delay, chunks=chunks, interval_ms=interval)
    return Fault(kind, delay)


def truncated_body(length: int) -> bytes:
    return (PATTERN * (length // len(PATTERN) + 1))[:length]


async def wait_for_disconnect(receive: Receive) -> None:
    """Return once the server reports the connection gone (bounded, so a bug cannot hang the task)."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(DISCONNECT_WAIT_S):
            while (await receive())["type"] != "http.disconnect":
                pass


def reset(transport: Transport) -> None:
    sock = transport.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()


class FaultResponse(Response):
    """Performs the fault instead of sending a response."""

    def __init__(self, fault: Fault) -> None:
        super().__init__(status_code=200)
        self.fault = fault

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        fault = self.fault
        transport = transport_of(scope)
        if transport is None and fault.kind in NEEDS_TRANSPORT:
            message = f"fault {fault.kind} needs the client connection, which this server does not expose"
            note_failure(scope, "fault_injected", message)
            await error_response(message, 501)(scope, receive, send)
            return
        if not await sleep_unless_disconnected(Request(scope, receive), fault.delay_ms / 1000):
            note_failure(scope, "client_disconnected", f"client left during delay_ms={fault.delay_ms}")
            return
        note_failure(scope, "fault_injected", fault.describe())
        if fault.kind == "truncated":
            start = [(b"content-type", TEXT), (b"content-length", str(fault.length).encode())]
            await send({"type": "http.response.start", "status": 200, "headers": start})
            body = truncated_body(fault.length)[: fault.sent]
            await send({"type": "http.response.body", "body": body, "more_body": True})
        elif fault.kind == "abort":
            await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", TEXT)]})
            for i in range(fault.chunks):
                if i and fault.interval_ms:
                    await asyncio.sleep(fault.interval_ms / 1000)
                await send({"type": "http.response.body", "body": f"chunk {i}\n".encode(), "more_body": True})
        if transport is None:
            return  # the server closes a connection whose response the app left incomplete
        if fault.kind == "abort" and scope.get("http_version") == "1.0":
            await asyncio.sleep(HTTP10_ABORT_PAUSE_S)  # let the peer read the chunks before the reset
            reset(transport)  # a FIN would end a close-delimited body cleanly
        elif fault.kind == "reset":
            reset(transport)
        else:
            if fault.kind == "malformed":
                transport.write(MALFORMED)
            transport.close()
        await wait_for_disconnect(receive)


async def fault(request: Request) -> Response:
    return FaultResponse(parse_fault(request))
