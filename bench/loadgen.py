"""A small HTTP/1.1 load generator on asyncio (uvloop) with httptools' C response parser.

Used where wrk is missing, and always where exact accounting matters: the zero-loss run (every response
counted by status, in-flight requests finished at the end instead of cut off) and the concurrency burst
(N clients, one request each, all at once). Loopback only.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httptools

HOST = "127.0.0.1"


def build_request(
    method: str,
    path: str,
    port: int,
    headers: dict[str, str] | None = None,
    body: bytes = b"",
    close: bool = False,
    user_agent: str = "apitest-bench",
) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {HOST}:{port}", f"User-Agent: {user_agent}"]
    for name, value in (headers or {}).items():
        lines.append(f"{name}: {value}")
    if body or method in ("POST", "PUT", "PATCH"):
        lines.append(f"Content-Length: {len(body)}")
    if close:
        lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return 0.0
    index = min(len(sorted_values) - 1, max(0, round(q / 100 * (len(sorted_values) - 1))))
    return sorted_values[index]


@dataclass
class LoadResult:
    statuses: Counter[int] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)  # seconds, one per response
    finished_at: list[float] = field(default_factory=list)  # time.perf_counter() of each response
    elapsed: float = 0.0  # seconds from the first request to the last response

    @property
    def responses(self) -> int:
        return sum(self.statuses.values())

    @property
    def ok(self) -> int:
        return sum(n for status, n in self.statuses.items() if 200 <= status < 300)

    @property
    def rps(self) -> float:
        return self.responses / self.elapsed if self.elapsed else 0.0

    def latency_ms(self) -> dict[str, float]:
        values = sorted(self.latencies)
        return {
            "p50": round(percentile(values, 50) * 1000, 3),
            "p90": round(percentile(values, 90) * 1000, 3),
            "p99": round(percentile(values, 99) * 1000, 3),
            "max": round((values[-1] if values else 0.0) * 1000, 3),
        }

    def summary(self) -> dict[str, Any]:
        return {
            "responses": self.responses,
            "ok": self.ok,
            "rps": round(self.rps, 1),
            "elapsed_s": round(self.elapsed, 3),
            "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
            "errors": dict(self.errors),
            "latency_ms": self.latency_ms(),
        }


class _Client(asyncio.Protocol):
    """One keep-alive connection; ``request()`` sends and resolves with the status when the response ends."""

    def __init__(self) -> None:
        self.parser = httptools.HttpResponseParser(self)
        self.transport: Any = None  # uvloop's TCPTransport does not subclass asyncio.Transport
        self.waiter: asyncio.Future[int] | None = None
        self.keep_alive = True
        self.lost = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(ConnectionError(f"bad response: {exc}"))

    def on_message_complete(self) -> None:
        self.keep_alive = self.parser.should_keep_alive()
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(self.parser.get_status_code())

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.lost.done():
            self.lost.set_result(None)
        self._fail(ConnectionResetError("connection closed"))

    def _fail(self, exc: Exception) -> None:
        self.keep_alive = False
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(exc)

    async def request(self, payload: bytes) -> int:
        assert self.transport is not None
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(payload)
        return await self.waiter

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


async def _connect(port: int) -> _Client:
    loop = asyncio.get_running_loop()
    _, client = await loop.create_connection(_Client, HOST, port)
    return client


def _error_name(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "timeout"
    if isinstance(exc, ConnectionRefusedError):
        return "connect_refused"
    if isinstance(exc, ConnectionError):
        return "connection_closed"
    return type(exc).__name__


async def closed_loop(
    port: int,
    payloads: list[bytes],
    *,
    connections: int,
    duration: float,
    request_timeout: float = 30.0,
    drain: float = 30.0,
    stop: Callable[[], bool] | None = None,
) -> LoadResult:
    """``connections`` clients send requests back to back (cycling through ``payloads``) for ``duration``
    seconds, or until ``stop()`` is true; requests in flight then are finished (up to ``drain`` s), never cut off."""
    result = LoadResult()
    started = time.perf_counter()
    deadline = started + duration
    last_response = started

    def going() -> bool:
        return time.perf_counter() < deadline and not (stop is not None and stop())

    async def worker(offset: int) -> None:
        nonlocal last_response
        client: _Client | None = None
        i = offset
        try:
            while going():
                try:
                    if client is None or not client.keep_alive:
                        if client is not None:
                            client.close()
                        client = await asyncio.wait_for(_connect(port), request_timeout)
                    t0 = time.perf_counter()
                    status = await asyncio.wait_for(client.request(payloads[i % len(payloads)]), request_timeout)
                    now = time.perf_counter()
                    result.latencies.append(now - t0)
                    result.finished_at.append(now)
                    result.statuses[status] += 1
                    last_response = max(last_response, now)
                except (OSError, TimeoutError, ConnectionError) as exc:
                    result.errors[_error_name(exc)] += 1
                    if client is not None:
                        client.close()
                    client = None
                    await asyncio.sleep(0.01)
                i += 1
        finally:
            if client is not None:
                client.close()

    tasks = [asyncio.ensure_future(worker(n)) for n in range(connections)]
    done, pending = await asyncio.wait(tasks, timeout=duration + request_timeout + drain)
    for task in pending:
        task.cancel()
        result.errors["unfinished"] += 1
    for task in done:
        if task.exception() is not None:
            result.errors[type(task.exception()).__name__] += 1
    result.elapsed = last_response - started
    return result


async def burst(
    port: int, payload: bytes, *, clients: int, request_timeout: float, connect_spread: float = 0.0
) -> LoadResult:
    """``clients`` connections opened together, one request each; wall time is first send to last answer."""
    result = LoadResult()
    started = time.perf_counter()
    last = started

    async def one(n: int) -> None:
        nonlocal last
        if connect_spread:
            await asyncio.sleep(connect_spread * n / clients)
        client: _Client | None = None
        t0 = time.perf_counter()
        try:
            client = await asyncio.wait_for(_connect(port), request_timeout)
            status = await asyncio.wait_for(client.request(payload), request_timeout)
            now = time.perf_counter()
            result.statuses[status] += 1
            result.latencies.append(now - t0)
            result.finished_at.append(now)
            last = max(last, now)
        except (OSError, TimeoutError, ConnectionError) as exc:
            result.errors[_error_name(exc)] += 1
        finally:
            if client is not None:
                client.close()

    await asyncio.gather(*(one(n) for n in range(clients)))
    result.elapsed = last - started
    return result


def run(coro: Any) -> Any:
    """Run a load coroutine on uvloop (when installed) in a fresh loop."""
    with contextlib.suppress(ImportError):
        import uvloop

        return uvloop.run(coro)
    return asyncio.run(coro)
