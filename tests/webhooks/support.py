"""A scripted webhook receiver on 127.0.0.1 (uvicorn in a thread) that records what reached it."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from tests.support import live_server


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes


@dataclass
class Script:
    """Answers in order (the last one repeats): a status, or (status, headers, body)."""

    answers: list[tuple[int, dict[str, str], bytes]] = field(default_factory=lambda: [(204, {}, b"")])
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def next_answer(self) -> tuple[int, dict[str, str], bytes]:
        with self.lock:
            index = min(len(self.received) - 1, len(self.answers) - 1)
            return self.answers[index]


def receiver_app(script: Script) -> Starlette:
    async def hook(request: Request) -> Response:
        body = await request.body()
        with script.lock:
            script.received.append(Received(dict(request.headers), body))
        status, headers, content = script.next_answer()
        if 300 <= status < 400:
            return RedirectResponse("/elsewhere", status_code=status)
        return Response(content, status_code=status, headers=headers)

    async def elsewhere(request: Request) -> Response:
        with script.lock:
            script.received.append(Received({"redirected": "yes"}, b""))
        return Response(status_code=200)

    return Starlette(
        routes=[Route("/hook", hook, methods=["POST"]), Route("/elsewhere", elsewhere, methods=["GET", "POST"])]
    )


@contextlib.contextmanager
def receiver(*answers: int | tuple[int, dict[str, str], bytes]) -> Iterator[tuple[str, Script]]:
    """``(url of /hook, script)``; each answer is a status or (status, headers, body)."""
    script = Script([a if isinstance(a, tuple) else (a, {}, b"") for a in answers] or [(204, {}, b"")])
    with live_server(receiver_app(script)) as server:
        yield f"{server.url}/hook", script


class FakeClock:
    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2026, 12, 2, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)
