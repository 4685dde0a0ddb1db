"""WebSocket sessions of the streaming group: ``/v1/ws/echo`` and ``/v1/ws/stream``.

- ``/v1/ws/echo``: every text or binary message comes back unchanged (text as text, binary as binary),
  ``delay_ms`` after it arrived. ``close_after=N`` closes the session with ``close_code`` (default 1000)
  once N messages were echoed. ``idle_ms`` makes the server send ``{"type":"ping","seq":n}`` text messages
  whenever the client has been silent that long (ASGI cannot send protocol Ping frames; uvicorn sends those
  itself every 20 s), which keeps an idle-timeout-happy proxy busy.
- ``/v1/ws/stream``: the server pushes ``count`` messages ``interval_ms`` apart, each
  ``{"seq", "sent_at", "word"}`` (``word`` is the seeded word of the streaming group, ``sent_at`` the Unix
  time in ms), then closes with ``close_code``.

A plain HTTP request to either path (no upgrade) is an ordinary ``/v1`` operation answering 426 with
``Upgrade: websocket``; the OpenAPI document describes the session on that GET operation (a 101 response).
The upgrade itself runs through :mod:`apitest.audit.ws_capture` (one audit row per session) and the same
auth chain as every ``/v1`` request (:class:`apitest.auth.ws.WebSocketAuth`). Bad parameters refuse the
handshake with close code 1008 and the reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable

from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket, WebSocketDisconnect

from apitest.endpoints.seeded import stream_word
from apitest.failures import note_failure
from apitest.http import ParamError, dumps, error_response, non_negative_bounded_in

Session = Callable[[WebSocket], Awaitable[None]]

DELAY_MAX_MS = 60000
IDLE_MAX_MS = 600000
CLOSE_AFTER_MAX = 100000
COUNT_DEFAULT, COUNT_MAX = 5, 10000
INTERVAL_DEFAULT_MS, INTERVAL_MAX_MS = 1000, 60000
RESERVED_CLOSE_CODES = (1004, 1005, 1006, 1015)  # never sent in a close frame (RFC 6455 §7.4.1)
POLICY_VIOLATION = 1008


def close_code(params: QueryParams) -> int:
    code = non_negative_bounded_in(params, "close_code", 1000, 4999)
    if not (1000 <= code <= 1014 or code >= 3000) or code in RESERVED_CLOSE_CODES:
        raise ParamError("close_code must be 1000-1003, 1007-1014 or 3000-4999")
    return code


async def refuse(ws: WebSocket, error: ParamError) -> None:
    note_failure(ws.scope, "bad_request", error.message)
    await ws.close(POLICY_VIOLATION, error.message[:120])


async def until_disconnect(ws: WebSocket) -> None:
    """Read (and ignore) client messages until the client closes."""
    while (await ws.receive())["type"] != "websocket.disconnect":
        pass


async def echo(ws: WebSocket) -> None:
    params = ws.query_params
    try:
        delay_ms = non_negative_bounded_in(params, "delay_ms", 0, DELAY_MAX_MS)
        idle_ms = non_negative_bounded_in(params, "idle_ms", 0, IDLE_MAX_MS)
        close_after = non_negative_bounded_in(params, "close_after", 0, CLOSE_AFTER_MAX)
        code = close_code(params)
    except ParamError as exc:
        await refuse(ws, exc)
        return
    await ws.accept()
    echoed = pings = 0
    with contextlib.suppress(WebSocketDisconnect):
        while not close_after or echoed < close_after:
            try:
                async with asyncio.timeout(idle_ms / 1000 if idle_ms else None):
                    message = await ws.receive()
            except TimeoutError:
                pings += 1
                await ws.send_text(dumps({"type": "ping", "seq": pings}))
                continue
            if message["type"] == "websocket.disconnect":
                return
            if delay_ms:
                await asyncio.sleep(delay_ms / 1000)
            if message.get("bytes") is not None:
                await ws.send_bytes(message["bytes"])
            else:
                await ws.send_text(message.get("text") or "")
            echoed += 1
        await ws.close(code)


async def stream(ws: WebSocket) -> None:
    params = ws.query_params
    try:
        count = non_negative_bounded_in(params, "count", COUNT_DEFAULT, COUNT_MAX)
        interval_ms = non_negative_bounded_in(params, "interval_ms", INTERVAL_DEFAULT_MS, INTERVAL_MAX_MS)
        code = close_code(params)
    except ParamError as exc:
        await refuse(ws, exc)
        return
    seed = params.get("seed", "")
    await ws.accept()
    client_left = asyncio.ensure_future(until_disconnect(ws))
    try:
        for seq in range(count):
            if seq and interval_ms:
                done, _ = await asyncio.wait({client_left}, timeout=interval_ms / 1000)
                if done:
                    return
            sent_at = int(time.time() * 1000)
            await ws.send_text(dumps({"seq": seq, "sent_at": sent_at, "word": stream_word(seed, seq)}))
        await ws.close(code)
    except WebSocketDisconnect:
        return
    finally:
        client_left.cancel()
        with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect, RuntimeError):
            await client_left


SESSIONS: dict[str, Session] = {"ws_echo": echo, "ws_stream": stream}


async def upgrade_required(request: Request) -> Response:
    """The HTTP operation behind a WebSocket path: a request without the upgrade gets 426."""
    return error_response("this endpoint speaks WebSocket: send an Upgrade: websocket request", 426, UPGRADE)


UPGRADE = {"Upgrade": "websocket", "Connection": "Upgrade"}
