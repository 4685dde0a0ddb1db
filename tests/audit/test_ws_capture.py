"""One audit row per WebSocket session, in process: counters, who closed, and the outcome of each ending."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.types import Message, Receive, Scope, Send

from apitest.audit.records import EventRecord
from apitest.audit.ws_capture import WebSocketAuditMiddleware
from apitest.outcome import outcome_of
from tests.support import make_settings


class Writer:
    def __init__(self) -> None:
        self.records: list[EventRecord] = []

    def offer(self, record: EventRecord) -> None:
        self.records.append(record)

    def discard(self, reason: str) -> None:
        raise AssertionError(reason)


def middleware(app: Any, **audit: Any) -> tuple[WebSocketAuditMiddleware, Writer]:
    settings = make_settings({"audit": audit} if audit else None)
    writer = Writer()
    return WebSocketAuditMiddleware(app, settings=settings, writer=writer), writer  # type: ignore[arg-type]


async def session(app: Any, incoming: list[Message], **audit: Any) -> EventRecord | None:
    wrapped, writer = middleware(app, **audit)
    queue = list(incoming)

    async def receive() -> Message:
        return queue.pop(0) if queue else {"type": "websocket.disconnect", "code": 1006}

    async def send(message: Message) -> None:
        pass

    scope: dict[str, Any] = {"type": "websocket", "path": "/v1/ws/echo", "headers": [], "query_string": b""}
    try:
        await wrapped(scope, receive, send)
    except RuntimeError:
        pass
    return writer.records[0] if writer.records else None


async def echo_until_disconnect(scope: Scope, receive: Receive, send: Send) -> None:
    await receive()  # connect
    await send({"type": "websocket.accept"})
    while (message := await receive())["type"] == "websocket.receive":
        await send({"type": "websocket.send", "text": message.get("text"), "bytes": message.get("bytes")})


CONNECT = {"type": "websocket.connect"}


async def test_counts_messages_and_bytes_each_way() -> None:
    record = await session(
        echo_until_disconnect,
        [
            CONNECT,
            {"type": "websocket.receive", "text": "hé"},
            {"type": "websocket.receive", "bytes": b"\x00" * 5},
            {"type": "websocket.disconnect", "code": 1000},
        ],
    )
    assert record is not None
    assert (record.status, record.success, record.bytes_in, record.bytes_out) == (101, True, 8, 8)
    assert record.details == {
        "websocket": {
            "accepted": True,
            "messages_in": 2,
            "messages_out": 2,
            "bytes_in": 8,
            "bytes_out": 8,
            "close_code": 1000,
            "closed_by": "client",
            "duration_ms": record.duration_ms,
        }
    }


async def test_a_lost_connection_is_client_disconnected() -> None:
    record = await session(echo_until_disconnect, [CONNECT])
    assert record is not None
    assert (record.success, record.error_category) == (False, "client_disconnected")
    assert record.details["websocket"]["close_code"] == 1006  # type: ignore[index]


async def test_an_app_error_is_internal_error() -> None:
    async def broken(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "websocket.accept"})
        raise RuntimeError("boom")

    record = await session(broken, [CONNECT])
    assert record is not None
    assert (record.status, record.error_category, record.error_message) == (101, "internal_error", "RuntimeError: boom")


@pytest.mark.parametrize(("include", "rows"), [(True, 1), (False, 0)])
async def test_refused_upgrades_follow_include_rejected(include: bool, rows: int) -> None:
    async def refuse(scope: Scope, receive: Receive, send: Send) -> None:
        outcome_of(scope).fail("missing_credential", "no credential")
        await send({"type": "websocket.http.response.start", "status": 401, "headers": []})
        await send({"type": "websocket.http.response.body", "body": b"{}"})

    record = await session(refuse, [CONNECT], include_rejected=include)
    assert (record is not None) == bool(rows)
    if record is not None:
        assert (record.status, record.error_category) == (401, "missing_credential")
