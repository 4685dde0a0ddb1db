"""Wire-level test helpers: a raw-socket HTTP/1.1 client that reports the exact bytes and how a connection
ended, uvicorn on either protocol stack, and a recorder of what each request told the audit."""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import uvicorn
from starlette.types import Receive, Scope, Send

from apitest.outcome import outcome_of
from tests.support import free_port, make_app


@dataclass
class Wire:
    data: bytes = b""
    end: str = ""  # "eof" (FIN), "reset" (RST) or "timeout" (still open)
    elapsed: float = 0.0  # seconds from the request to the end
    arrivals: list[tuple[float, bytes]] = field(default_factory=list)  # (seconds since the request, bytes)

    @property
    def head(self) -> bytes:
        return self.data.split(b"\r\n\r\n", 1)[0]

    @property
    def body(self) -> bytes:
        return self.data.split(b"\r\n\r\n", 1)[1] if b"\r\n\r\n" in self.data else b""

    @property
    def status(self) -> int:
        return int(self.head.split(b" ", 2)[1])

    def header(self, name: str) -> str | None:
        for line in self.head.split(b"\r\n")[1:]:
            key, _, value = line.partition(b":")
            if key.strip().lower() == name.lower().encode():
                return value.strip().decode("latin-1")
        return None


def request_bytes(method: str, target: str, headers: dict[str, str] | None = None, body: bytes = b"") -> bytes:
    lines = [f"{method} {target} HTTP/1.1", "Host: 127.0.0.1"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def read_until_closed(sock: socket.socket, started: float, timeout: float) -> Wire:
    wire = Wire()
    sock.settimeout(timeout)
    try:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                wire.end = "eof"
                break
            wire.arrivals.append((time.monotonic() - started, chunk))
            wire.data += chunk
    except ConnectionResetError:
        wire.end = "reset"
    except TimeoutError:
        wire.end = "timeout"
    wire.elapsed = time.monotonic() - started
    return wire


def exchange(port: int, raw: bytes, timeout: float = 5.0) -> Wire:
    """Send ``raw`` on a fresh connection and read until the server closes it (or ``timeout`` of silence)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        started = time.monotonic()
        sock.sendall(raw)
        return read_until_closed(sock, started, timeout)


class StateRecorder:
    """Outermost ASGI wrapper keeping each request's ``scope["state"]``: what the audit row is built from
    (``error_category``, ``error_message``). Passes ``receive`` through untouched."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.states: list[dict[str, Any]] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await self.app(scope, receive, send)
        finally:
            if scope["type"] == "http":
                self.states.append({**scope.get("state", {}), **outcome_of(scope).as_state()})

    def state_of(self, request_id: str, timeout: float = 5.0) -> dict[str, Any]:
        """The state of the request sent with ``X-Request-Id: request_id``; waits for it to finish (the
        client may see the connection end before the app returns)."""
        deadline = time.monotonic() + timeout
        while True:
            for state in self.states:
                if state.get("request_id") == request_id:
                    return state
            if time.monotonic() > deadline:
                raise TimeoutError(f"request {request_id} did not finish")
            time.sleep(0.005)


@contextlib.asynccontextmanager
async def recorded_client(
    overrides: dict[str, Any] | None = None,
) -> AsyncIterator[tuple[httpx.AsyncClient, StateRecorder]]:
    """An in-process client of a lab-only app behind a :class:`StateRecorder`, lifespan running."""
    app = make_app(overrides, groups=["lab"])
    recorder = StateRecorder(app)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=recorder, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client, recorder


@dataclass
class Served:
    port: int
    server: uvicorn.Server

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@contextlib.contextmanager
def serve(app: Any, http: str = "h11", loop: str = "asyncio") -> Iterator[Served]:
    """Run ``app`` under uvicorn on 127.0.0.1 with the given protocol and event loop (production uses
    ``httptools`` + ``uvloop``) in a background thread."""
    port = free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, http=http, loop=loop, lifespan="on", log_config=None, access_log=False
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    try:
        yield Served(port, server)
    finally:
        server.should_exit = True
        thread.join(timeout=15)


@contextlib.contextmanager
def captured_logs(*names: str, level: int = logging.INFO) -> Iterator[list[logging.LogRecord]]:
    """Records of the named loggers (and their children), caught by a handler on each logger itself, so
    it works whether or not they propagate to the root (``logs.configure()`` turns propagation off)."""
    records: list[logging.LogRecord] = []
    seen: set[int] = set()

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if id(record) not in seen:
                seen.add(id(record))
                records.append(record)

    handler = Collect(level)
    loggers = [logging.getLogger(name) for name in names]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.addHandler(handler)
        if logger.getEffectiveLevel() > level:
            logger.setLevel(level)
    try:
        yield records
    finally:
        for logger, saved in zip(loggers, levels, strict=True):
            logger.removeHandler(handler)
            logger.setLevel(saved)
