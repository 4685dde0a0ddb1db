"""uvicorn's httptools protocol with the two request-head guards Go's ``net/http`` server has and uvicorn lacks.

- ``server.read_header_timeout`` (Go's ``ReadHeaderTimeout``): a connection that has not delivered a complete
  request head that long after it opened, or after the first byte of a request arrived, is closed. uvicorn
  only times out idle keep-alive connections, so a slow-loris client (or one that connects and says nothing)
  otherwise holds a connection forever.
- :data:`MAX_HEADER_BYTES` (Go's ``DefaultMaxHeaderBytes``, 1 MiB): a request head growing past it is answered
  431 and the connection closed. httptools buffers a header until its end, so without a cap one endless header
  line grows the worker's memory without bound (and would then be copied into the audit payload).

- ``server.read_body_timeout`` and ``server.min_body_rate`` (nginx's ``client_body_timeout``, plus a floor rate):
  once a request head is complete, its body must keep arriving. No body bytes for ``read_body_timeout``, or an
  average rate under ``min_body_rate`` bytes/s once ``min_body_rate_grace`` has passed, and the request is
  answered 408 ``{"error":"request body timeout"}`` (or, when the application already started its response,
  the connection is just closed). The application sees the client disconnect; the audit row says why; each
  case is counted in ``apitest_http_slow_body_timeouts_total{reason="idle"|"rate"}``. Time during which the
  server itself stopped reading (the application is not consuming the body yet, or ``Expect: 100-continue``
  awaits the application) does not count against the client.

- A response that closes the connection while the request body is still arriving (a 413 for a body the
  application refused to read) closes the way a refused head does: shut our side, drain for a moment, then
  close (:class:`LingeringTransport`), so the peer reads the response instead of a reset.

It also keeps what uvicorn's scope loses: the request-target exactly as received and the header names as sent
(uvicorn lowercases them), handed to the app as ``scope["extensions"]["apitest.raw"]`` (an
:class:`apitest.wirehead.RawHead`, with the request-body bytes received and the response cycle, whose
``disconnected`` tells the audit whether the client stayed for the whole response).

The header deadline is uvicorn's ``timeout_keep_alive``, which ``apitest.server`` sets from
``server.read_header_timeout``; it is armed only while a request head is incomplete after a read, so a request
whose head arrives in one read costs no timer.
"""

from __future__ import annotations

import asyncio
import weakref
from asyncio import TimerHandle
from dataclasses import dataclass, field
from typing import Any

from uvicorn.protocols.http.httptools_impl import (
    HEADER_RE,
    HEADER_VALUE_RE,
    STATUS_LINE,
    HttpToolsProtocol,
    RequestResponseCycle,
)

from apitest.http10 import close_delimited
from apitest.wirehead import RAW_KEY, RawHead

MAX_HEADER_BYTES = 1 << 20
LINGER_SECONDS = 0.5  # Go's closeWriteAndWait waits this long before closing a refused connection
TOO_LARGE_BODY = b'{"error":"request header fields too large"}\n'
TOO_LARGE = (
    b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
    b"content-type: application/json\r\n"
    b"content-length: " + str(len(TOO_LARGE_BODY)).encode() + b"\r\n"
    b"connection: close\r\n\r\n" + TOO_LARGE_BODY
)


TIMEOUT_BODY = b'{"error":"request body timeout"}\n'
BODY_TIMEOUT = (
    b"HTTP/1.1 408 Request Timeout\r\n"
    b"content-type: application/json\r\n"
    b"content-length: " + str(len(TIMEOUT_BODY)).encode() + b"\r\n"
    b"connection: close\r\n\r\n" + TIMEOUT_BODY
)
SLOW_BODY_REASONS = ("idle", "rate")
BODY_TIMEOUT_KEY = "body_timeout"  # scope["state"] key: why the guard ended the body (the audit row's reason)
BODY_CHECK_SECONDS = 1.0  # how often a body still arriving is checked


@dataclass
class GuardStats:
    """Counts of this process's connections, copied into ``/metrics`` by :class:`apitest.metrics.Metrics`."""

    slow_bodies: dict[str, int] = field(default_factory=lambda: dict.fromkeys(SLOW_BODY_REASONS, 0))


GUARD_STATS = GuardStats()


def configure_body_guard(read_body_timeout: float, min_body_rate: int, min_body_rate_grace: float) -> None:
    """Set the body deadlines of :class:`GuardedHttpToolsProtocol` for this process. A class attribute, not a
    subclass per configuration, because uvicorn pickles its config (protocol class included) for its workers;
    each worker calls this again after loading the settings."""
    GuardedHttpToolsProtocol.read_body_timeout = float(read_body_timeout)
    GuardedHttpToolsProtocol.min_body_rate = int(min_body_rate)
    GuardedHttpToolsProtocol.min_body_rate_grace = float(min_body_rate_grace)


class LingeringTransport:
    """The response cycle's view of the connection: everything is the real transport's, except that ``close``
    lingers while the request body is still arriving (:meth:`GuardedHttpToolsProtocol.close_lingering`), and
    that a response head can be held (:meth:`hold`) to go out with the cycle's next write."""

    def __init__(self, protocol: GuardedHttpToolsProtocol) -> None:
        self._protocol = protocol
        self._transport = protocol.transport
        self._held: bytes | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)

    def hold(self, data: bytes) -> None:
        """Write ``data`` with the next write, or when this event-loop turn ends if none comes, or before a
        close: a head and the body that follows it in the same turn go out in one write."""
        self._held = data
        self._protocol.loop.call_soon(self.release)

    def write(self, data: bytes) -> None:
        held = self._held
        if held is not None:
            self._held = None
            data = held + data
        self._transport.write(data)

    def release(self) -> None:
        """Write what is held, unless the connection is closing already (the client left)."""
        held = self._held
        if held is not None:
            self._held = None
            if not self._transport.is_closing():
                self._transport.write(held)

    def close(self) -> None:
        self.release()
        self._protocol.close_lingering()

    def abort(self) -> None:
        self.release()
        self._transport.abort()


VALIDATED_TAIL = "apitest.validated_tail"
"""Key of an ``http.response.start`` message: how many of its last headers were checked when they were built
(the edge's constant sandbox and CORS headers and its request id), so :class:`GuardedCycle` need not check them
again. Other servers ignore the key; the headers are all in ``headers`` as usual."""


def valid_header(name: bytes, value: bytes) -> bool:
    """What uvicorn requires of a response header: a token name and no control characters in the value."""
    return name == name.lower() and not HEADER_RE.search(name) and not HEADER_VALUE_RE.search(value)


class GuardedCycle(RequestResponseCycle):
    """uvicorn's response cycle, except that the head of a response whose start message carries
    :data:`VALIDATED_TAIL` is written without checking those last headers and the server's own default headers
    (``date``) once more: two regular-expression searches per header were a tenth of an un-audited request's
    cost (docs/performance.md). Everything else, and any message without the key, is uvicorn's own ``send``;
    this branch keeps its rules: the framing headers set the body's framing, ``connection: close`` ends the
    keep-alive, a head without a length is chunked except for HEAD, 204 and 304.

    Such a head is also held by the connection (:meth:`LingeringTransport.hold`) until the cycle's next write
    or the end of the event-loop turn: a Starlette ``Response`` sends its body in the same turn, so head and
    body go out in one write, one segment and one wake-up of the client instead of two. A body that comes in
    a later turn finds the head written already; a close writes it first. The bytes are uvicorn's either way."""

    async def send(self, message: Any) -> None:
        tail = message.get(VALIDATED_TAIL) if message["type"] == "http.response.start" else None
        if not tail or self.response_started or self.disconnected or self.access_log or self.flow.write_paused:
            await super().send(message)
            return
        self.response_started = True
        self.waiting_for_100_continue = False
        status_code = message["status"]
        headers = message.get("headers", [])
        checked = max(0, len(headers) - tail)
        content = [STATUS_LINE[status_code]]
        for name, value in self.default_headers:
            content.extend([name, b": ", value, b"\r\n"])
        has_connection_close = False
        for index, (name, value) in enumerate(headers):
            if index < checked:
                if HEADER_RE.search(name):
                    raise RuntimeError("Invalid HTTP header name.")
                if HEADER_VALUE_RE.search(value):
                    raise RuntimeError("Invalid HTTP header value.")
                name = name.lower()
            if name == b"content-length" and self.chunked_encoding is None:
                self.expected_content_length = int(value.decode())
                self.chunked_encoding = False
            elif name == b"transfer-encoding" and value.lower() == b"chunked":
                self.expected_content_length = 0
                self.chunked_encoding = True
            elif name == b"connection":
                if b"close" in [token.lower().strip() for token in value.split(b",")]:
                    self.keep_alive = False
                    has_connection_close = True
            content.extend([name, b": ", value, b"\r\n"])
        if not self.keep_alive and not has_connection_close:
            content.append(b"connection: close\r\n")
        if self.chunked_encoding is None and self.scope["method"] != "HEAD" and status_code not in (204, 304):
            self.chunked_encoding = True
            content.append(b"transfer-encoding: chunked\r\n")
        content.append(b"\r\n")
        head = b"".join(content)
        hold = getattr(self.transport, "hold", None)
        if hold is not None:
            hold(head)
        else:
            self.transport.write(head)


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    max_header_bytes = MAX_HEADER_BYTES
    read_body_timeout = 30.0  # seconds without request-body bytes; 0 turns it off
    min_body_rate = 512  # bytes/s, averaged from the end of the head; 0 turns it off
    min_body_rate_grace = 10.0  # seconds before the floor rate applies

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.header_timeout = float(self.timeout_keep_alive)
        self._in_head = True  # a request head is expected or partly read
        self._head_bytes = 0  # bytes read while the head was incomplete: bounds what httptools buffers
        self._head_size = 0  # request line and header bytes of the current head, as parsed
        self._head_timer: TimerHandle | None = None
        self._discarding = False  # answered 431 or 408: reading and dropping input until the lingering close
        self._in_body = False  # a request head is complete and its body is not
        self._body_started = 0.0  # loop time the body window started (end of head, or the server resumed reading)
        self._body_last = 0.0  # loop time of the latest body bytes
        self._body_bytes = 0  # body bytes since _body_started
        self._body_timer: TimerHandle | None = None
        self._names: list[bytes] = []  # header names of the current head, as sent
        self._raw: RawHead | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_head_timer()
        self._cancel_body_timer()
        self._in_body = False
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._discarding:
            return
        if self._in_head:
            self._head_bytes += len(data)
        super().data_received(data)
        if self._in_body and self._body_timer is None and not self._discarding and not self.transport.is_closing():
            self._arm_body_timer()
        if not self._in_head or self._discarding or self.transport.is_closing():
            return
        if self._head_bytes > self.max_header_bytes:
            self._refuse_head()
        elif self._head_timer is None:
            self._arm_head_timer()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_head = True
        self._head_size = 0
        self._names = []
        self._raw = None

    def on_url(self, url: bytes) -> None:
        self._head_size += len(url)
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._head_size += len(name) + len(value) + 4
        self._names.append(name)
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._head_bytes = 0
        self._cancel_head_timer()
        if self._head_size > self.max_header_bytes:
            self._refuse_head()  # the head ended within the read that took it over the cap
            return
        super().on_headers_complete()
        if self.parser.should_upgrade():  # a WebSocket (or other) upgrade: the transport changes hands
            return
        if self.cycle is None or self.cycle.scope is not self.scope:
            return
        self.cycle.__class__ = GuardedCycle  # before its task first runs: the head of a response, written cheaper
        self._raw = RawHead(self.url, self._names, cycle_ref=weakref.ref(self.cycle))
        extensions: dict[str, Any] = self.scope.setdefault("extensions", {})
        extensions[RAW_KEY] = self._raw
        self.cycle.transport = LingeringTransport(self)  # type: ignore[assignment]  # a close while the body arrives lingers
        if self.scope.get("http_version") == "1.0":
            close_delimited(self.cycle)  # no chunked framing for an HTTP/1.0 client
        self._in_body = True
        self._body_started = self._body_last = self.loop.time()
        self._body_bytes = 0

    def on_body(self, body: bytes) -> None:
        if not self._discarding:
            self._body_bytes += len(body)
            self._body_last = self.loop.time()
            if self._raw is not None:
                self._raw.received += len(body)
            super().on_body(body)

    def on_message_complete(self) -> None:
        self._in_body = False
        self._cancel_body_timer()
        if not self._discarding:
            super().on_message_complete()

    # Request-body deadline ------------------------------------------------------------------------

    def _arm_body_timer(self) -> None:
        if self.read_body_timeout > 0 or self.min_body_rate > 0:
            interval = min(BODY_CHECK_SECONDS, self.read_body_timeout or BODY_CHECK_SECONDS)
            self._body_timer = self.loop.call_later(interval, self._check_body)

    def _cancel_body_timer(self) -> None:
        if self._body_timer is not None:
            self._body_timer.cancel()
            self._body_timer = None

    def _server_paused(self) -> bool:
        """The server, not the client, holds the body back: reading is paused until the application consumes
        what it has, or ``Expect: 100-continue`` waits for the application to ask for the body."""
        cycle = self.cycle
        if self.flow is not None and self.flow.read_paused:
            return True
        return cycle is not None and bool(getattr(cycle, "waiting_for_100_continue", False))

    def _check_body(self) -> None:
        self._body_timer = None
        if not self._in_body or self._discarding or self.transport.is_closing():
            return
        if self.transport.get_protocol() is not self:  # upgraded: another protocol owns the connection now
            self._in_body = False
            return
        now = self.loop.time()
        if self._server_paused():
            self._body_started = self._body_last = now
            self._body_bytes = 0
        elif self.read_body_timeout > 0 and now - self._body_last >= self.read_body_timeout:
            self._body_timed_out("idle", f"no request-body bytes for {self.read_body_timeout:g}s")
            return
        elif self.min_body_rate > 0 and now - self._body_started >= max(self.min_body_rate_grace, 0.001):
            rate = self._body_bytes / (now - self._body_started)
            if rate < self.min_body_rate:
                self._body_timed_out("rate", f"request body at {rate:.1f} bytes/s, under {self.min_body_rate}")
                return
        self._arm_body_timer()

    def _body_timed_out(self, reason: str, message: str) -> None:
        """408 when the application has not started a response (else only the close), then the same lingering
        close as a refused head. The application's receive() sees the client disconnect."""
        GUARD_STATS.slow_bodies[reason] = GUARD_STATS.slow_bodies.get(reason, 0) + 1
        self._in_body = False
        self._discarding = True
        cycle = self.cycle
        started = cycle is not None and cycle.response_started
        if cycle is not None:
            state = cycle.scope.get("state")
            if isinstance(state, dict):
                state[BODY_TIMEOUT_KEY] = f"request body timeout: {message} (answered 408)"
            if not cycle.response_complete:
                cycle.disconnected = True  # the application's sends become no-ops; receive() says http.disconnect
            cycle.message_event.set()
        if started:
            self.transport.close()
            return
        self.transport.write(BODY_TIMEOUT)
        if self.transport.can_write_eof():
            self.transport.write_eof()
            self.loop.call_later(LINGER_SECONDS, self.transport.close)
        else:
            self.transport.close()

    def close_lingering(self) -> None:
        """Close after a response; while the request body is still arriving (a 413 for a body the application
        refused to read), shut our side and drop input for a moment first, as a refused head does: closing with
        unread input makes the kernel reset the connection, and a gateway still sending the body then sees the
        reset instead of the 413 and answers 502."""
        transport = self.transport
        if not self._in_body or transport.is_closing() or not transport.can_write_eof():
            transport.close()
            return
        self._in_body = False
        self._cancel_body_timer()
        self._discarding = True
        transport.resume_reading()  # flow control may have paused reading while the application held the body
        transport.write_eof()
        self.loop.call_later(LINGER_SECONDS, transport.close)

    def _refuse_head(self) -> None:
        """Answer 431, then close the way Go does: shut our side, keep reading (and dropping) what the client is
        still sending for a moment, then close. Closing at once with unread input makes the kernel send a reset,
        which can destroy the 431 before the client reads it."""
        self._cancel_head_timer()
        self._discarding = True
        self.transport.write(TOO_LARGE)
        if self.transport.can_write_eof():
            self.transport.write_eof()
            self.loop.call_later(LINGER_SECONDS, self.transport.close)
        else:
            self.transport.close()

    def _arm_head_timer(self) -> None:
        if self.header_timeout > 0:
            self._head_timer = self.loop.call_later(self.header_timeout, self._head_timed_out)

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self._in_head and not self.transport.is_closing():
            self.transport.close()
