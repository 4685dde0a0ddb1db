"""The transport hand-off relies on uvicorn internals; these tests fail if an upgrade changes them."""

from __future__ import annotations

import pytest
from starlette.types import Receive, Scope, Send

from apitest.middleware.connection import TRANSPORT_KEY, server_transport, transport_of
from apitest.middleware.edge import Edge
from tests.wire import exchange, request_bytes, serve


class Probe:
    """Answers with the type name of the transport the middleware found (or ``none``)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        transport = transport_of(scope)
        body = type(transport).__name__.encode() if transport is not None else b"none"
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"%d" % len(body))]})
        await send({"type": "http.response.body", "body": body})


@pytest.mark.parametrize(
    ("http", "loop", "transport"),
    [
        ("h11", "asyncio", b"_SelectorSocketTransport"),
        ("httptools", "asyncio", b"_SelectorSocketTransport"),
        ("h11", "uvloop", b"TCPTransport"),
        ("httptools", "uvloop", b"TCPTransport"),
    ],
)
def test_uvicorn_hands_over_its_transport(http: str, loop: str, transport: bytes) -> None:
    with serve(Edge(Probe()), http=http, loop=loop) as served:
        wire = exchange(served.port, request_bytes("GET", "/", {"Connection": "close"}))
    assert wire.body == transport


async def test_other_servers_hand_over_nothing() -> None:
    async def receive() -> dict[str, object]:
        return {"type": "http.request", "body": b""}

    assert server_transport(receive) is None
    assert transport_of({TRANSPORT_KEY: object()}) is None
    assert transport_of({}) is None
