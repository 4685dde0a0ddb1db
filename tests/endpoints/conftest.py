"""Shared fixtures of the endpoint tests: raw ASGI message capture, and a live uvicorn server whose
app is wrapped in a :class:`Recorder` that notes what each request's handler sent and when it returned."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tests.support import LiveServer, live_server, make_app


@pytest.fixture(scope="module")
def app() -> Starlette:
    """All groups, anonymous access; built once per module (building the OpenAPI document takes a while)."""
    return make_app()


@pytest.fixture
async def client(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    """Overrides the suite's ``client`` with one over the module's shared app; handlers keep no state."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            c.app = app  # type: ignore[attr-defined]
            yield c


async def asgi_messages(
    app: ASGIApp, path: str, method: str = "GET", query: str = "", body: bytes = b""
) -> list[Message]:
    """Run one request straight through ``app`` and return every message it sent."""
    sent: list[Message] = []
    request_sent = False
    finished = asyncio.Event()

    async def receive() -> Message:
        nonlocal request_sent
        if not request_sent:
            request_sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await finished.wait()  # the client stays connected until the response is over
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)
        if message["type"] == "http.response.body" and not message.get("more_body", False):
            finished.set()

    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": query.encode(),
        "headers": [(b"host", b"testserver")],
        "client": ("127.0.0.1", 1234),
        "server": ("testserver", 80),
    }
    await app(scope, receive, send)
    return sent


def bodies(messages: list[Message]) -> list[Message]:
    return [m for m in messages if m["type"] == "http.response.body"]


@dataclass
class Call:
    path: str
    query: str
    started_at: float
    status: int | None = None
    body_messages: int = 0
    ended_at: float | None = None
    done: threading.Event = field(default_factory=threading.Event)


class Recorder:
    """ASGI wrapper: one :class:`Call` per HTTP request, completed when the app returns."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.calls: list[Call] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        call = Call(scope["path"], scope["query_string"].decode(), time.monotonic())
        self.calls.append(call)

        async def recording_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                call.status = message["status"]
            elif message["type"] == "http.response.body":
                call.body_messages += 1
            await send(message)

        try:
            await self.app(scope, receive, recording_send)
        finally:
            call.ended_at = time.monotonic()
            call.done.set()

    def last(self, path: str) -> Call:
        return [c for c in self.calls if c.path == path][-1]


@dataclass
class Live:
    server: LiveServer
    recorder: Recorder

    @property
    def url(self) -> str:
        return self.server.url


@contextlib.contextmanager
def recorded_live_server(app: Starlette) -> Iterator[Live]:
    recorder = Recorder(app)
    with live_server(recorder) as server:  # type: ignore[arg-type]
        yield Live(server, recorder)


@pytest.fixture(scope="module")
def live() -> Iterator[Live]:
    """The full app (all groups, anonymous) on a real uvicorn server on loopback, shared by a module."""
    with recorded_live_server(make_app()) as running:
        yield running
